"""What the tuner finds: each trial, the Server / Interactive answer, the whole result, and
how a Server-like run stands against its latency bounds (TTFT and TPOT for token runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfpilot.records import RunRecord
from perfpilot.tune.profiles import Profile


@dataclass
class Trial:
    """One tuner run: what was tried, the run record, and the verdict."""

    number: int
    scenario: str
    stage: str  # offline, probe, trial, confirm, above, stream
    target_qps: float | None
    record: RunRecord
    passed: bool
    note: str
    wall_s: float

    @property
    def run_id(self) -> str:
        return self.record.run_id


@dataclass
class ServerFinding:
    """A Server (or Interactive) answer: the highest VALID target QPS and the 10%-higher
    one that is not. Token benchmarks add TTFT and TPOT (p99 and bounds) and tokens/s."""

    valid_qps: float
    valid_run: str
    above_qps: float | None = None
    above_run: str | None = None
    above_valid: bool | None = None
    latency_bound_ms: float | None = None
    p99_ms: float | None = None
    execution: str = "test"
    scenario: str = "Server"
    ttft_p99_ms: float | None = None
    tpot_p99_ms: float | None = None
    ttft_bound_ms: float | None = None
    tpot_bound_ms: float | None = None
    tokens_per_s: float | None = None

    @property
    def complete(self) -> bool:
        return self.above_run is not None and self.above_valid is False


@dataclass
class TuneResult:
    tune_id: str
    profile: Profile
    trials: list[Trial] = field(default_factory=list)
    offline: dict[str, Any] | None = None
    servers: dict[str, ServerFinding] = field(default_factory=dict)  # Server, Interactive
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_s: float = 0.0
    elapsed_s: float = 0.0
    budget_hit: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def server(self) -> ServerFinding | None:
        return self.servers.get("Server")

    @property
    def interactive(self) -> ServerFinding | None:
        return self.servers.get("Interactive")

    def as_dict(self) -> dict[str, Any]:
        return {
            "tune_id": self.tune_id,
            "profile": self.profile.model_dump(mode="json"),
            "offline": self.offline,
            "server": None if self.server is None else self.server.__dict__,
            "interactive": None if self.interactive is None else self.interactive.__dict__,
            "streams": self.streams,
            "budget_s": self.budget_s,
            "elapsed_s": round(self.elapsed_s, 1),
            "budget_hit": self.budget_hit,
            "notes": self.notes,
            "trials": [
                {
                    "number": t.number,
                    "scenario": t.scenario,
                    "stage": t.stage,
                    "target_qps": t.target_qps,
                    "run_id": t.run_id,
                    "passed": t.passed,
                    "note": t.note,
                }
                for t in self.trials
            ],
        }


@dataclass(frozen=True)
class Load:
    """A Server-like run against its bounds: samples/s completed, the worst p99 as a share
    of its bound (token runs: the worse of TTFT and TPOT), and those figures as text."""

    rate: float
    ratio: float
    text: str


def ns_to_ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6


def token_bounds_ms(record: RunRecord) -> tuple[float, float] | None:
    """The TTFT and TPOT bounds (ms) LoadGen applied to a token run, from its detail log
    (mlperf.conf's per-model values: Server 2000/100 ms, Interactive 500/30 ms for
    Llama 3.1 8B); None for a run without token latencies."""
    from perfpilot.engine.logparse import read_detail

    path = Path(record.run_dir) / "mlperf_log_detail.txt"
    if not path.is_file():
        return None
    detail = read_detail(path)
    if detail.get("requested_use_token_latencies") is not True:
        return None
    ttft = detail.get("requested_server_ttft_latency")
    tpot = detail.get("requested_server_tpot_latency")
    if not ttft or not tpot:
        return None
    return float(ttft) / 1e6, float(tpot) / 1e6
