"""A default CPU schedule for the TIR that Relax legalises ONNX operators into.

Relax's CPU pipeline leaves every kernel as plain loop nests: one thread, no vectors,
about 5 s per ResNet50 image here. Every kernel that MetaSchedule has not tuned (tuning
is opt-in, see tune.py) gets this schedule instead (about 15x faster):

- NHWC convolutions and other 4-D reductions whose channel axis divides by 32: the
  output is tiled 7 wide x 32 or 64 channels, accumulated in registers (a local cache
  written back after the reduction), the channel tile vectorised, the outer tiles run
  in parallel on TVM's thread pool;
- other reductions (dense layers, pooling, softmax sums): reduction loops moved inside
  the last spatial loop, which is vectorised, and the other spatial loops in parallel;
- element-wise kernels: outer loops in parallel, innermost vectorised.

A kernel the rules do not fit keeps its plain loops (correct, only slower).
"""

from __future__ import annotations

from typing import Any

#: Bumped whenever the schedule changes, so cached modules built with another are rebuilt.
SCHEDULE_VERSION = "perfpilot-cpu-schedule/1"

_VECTOR = 16  # fp32 lanes of one AVX-512 register; LLVM splits it on narrower CPUs
_TILE_W = 7  # ResNet widths 112, 56, 28, 14 and 7 all divide by 7
_SPATIAL = 0  # IterVar.DataPar
_REDUCE = 2  # IterVar.CommReduce


def _const(extent: Any) -> int | None:
    from tvm.ir.prim.expr import IntImm

    return int(extent.value) if isinstance(extent, IntImm) else None


def _tile_reduction_4d(sch: Any, block: Any, spatial: list[Any], reduce: list[Any]) -> bool:
    """Register-tiled schedule for an NHWC convolution-like block; False if it does not fit."""
    n, h, w, o = spatial
    width, channels = _const(sch.get(w).extent), _const(sch.get(o).extent)
    if width is None or channels is None or width % _TILE_W or channels % 32:
        return False
    tile_o = 64 if channels % 64 == 0 else 32
    wo, wi = sch.split(w, [None, _TILE_W])
    oo, oi = sch.split(o, [None, tile_o])
    sch.reorder(n, h, wo, oo, *reduce, wi, oi)
    outer = sch.fuse(n, h, wo, oo)
    sch.parallel(outer)
    local = sch.cache_write(block, 0, "local")
    sch.reverse_compute_at(local, outer)
    sch.unroll(wi)
    sch.vectorize(oi)
    init = sch.decompose_reduction(block, reduce[0])
    sch.vectorize(sch.get_loops(init)[-1])
    sch.vectorize(sch.get_loops(local)[-1])
    return True


def _schedule_block(sch: Any, block: Any) -> None:
    loops = sch.get_loops(block)
    kinds = [int(iv.iter_type) for iv in sch.get(block).iter_vars]
    if not loops or len(loops) != len(kinds) or any(k not in (_SPATIAL, _REDUCE) for k in kinds):
        return
    spatial = [loop for loop, k in zip(loops, kinds, strict=True) if k == _SPATIAL]
    reduce = [loop for loop, k in zip(loops, kinds, strict=True) if k == _REDUCE]
    if not spatial:
        return
    if reduce and len(spatial) == 4 and _tile_reduction_4d(sch, block, spatial, reduce):
        return
    inner, outer = spatial[-1], spatial[:-1]
    if reduce:
        sch.reorder(*outer, *reduce, inner)
    if outer:
        sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])
    extent = _const(sch.get(inner).extent)
    if extent is not None and extent >= _VECTOR:
        sch.vectorize(sch.split(inner, [None, _VECTOR])[1])


def schedule_primfunc(func: Any) -> Any:
    """``func`` with every block of its root scheduled by the rules above."""
    from tvm.s_tir import Schedule
    from tvm.s_tir.schedule import ScheduleError

    sch = Schedule(func)
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        # Each block is tried on a copy: a rule that fails half-way leaves no trace.
        trial = sch.copy()
        try:
            _schedule_block(trial, block)
        except ScheduleError:
            continue
        sch = trial
    return sch.mod["main"]


_SCHEDULED_ATTRS = ("tirx.is_scheduled", "tir.is_scheduled")  # set by MetaSchedule / by us


def default_schedule_pass() -> Any:
    """A module pass that schedules every PrimFunc not scheduled before (MetaSchedule's
    tuned kernels carry TVM 0.27's ``tirx.is_scheduled`` attribute and are left alone)."""
    import tvm
    from tvm.tirx import PrimFunc

    @tvm.transform.module_pass(opt_level=0, name="PerfpilotDefaultCpuSchedule")  # type: ignore[untyped-decorator]
    def _pass(mod: Any, _ctx: Any) -> Any:
        for gvar, func in list(mod.functions.items()):
            if not isinstance(func, PrimFunc):
                continue
            attrs = func.attrs
            if attrs is not None and any(attrs.get(k, False) for k in _SCHEDULED_ATTRS):
                continue
            mod[gvar] = schedule_primfunc(func).with_attr("tir.is_scheduled", True)
        return mod

    return _pass
