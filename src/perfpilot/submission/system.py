"""The MLPerf system description (``systems/<system>.json``): detected from this machine,
completed or overridden from a YAML file, and checked against the round's field list."""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from perfpilot.errors import UsageError
from perfpilot.submission import rounds
from perfpilot.userfiles import load_json, load_yaml

SCHEMA_NOTE = "perfpilot system describe"
#: Fields that stay the submitter's to fill: perfpilot never guesses them.
USER_FIELDS = (
    "division",
    "submitter",
    "status",
    "system_name",
    "cooling",
    "host_networking",
    "host_networking_topology",
    "host_processor_interconnect",
)


@dataclass
class SystemDescription:
    """A system JSON under construction: values, which were detected, and where the rest
    came from (``--from`` YAML)."""

    fields: dict[str, Any]
    detected: set[str] = field(default_factory=set)
    overridden: set[str] = field(default_factory=set)

    def missing(self) -> list[str]:
        """Required fields that are absent or empty (the round's non-empty list)."""
        return missing_fields(self.fields)

    def to_json(self) -> str:
        return json.dumps(self.fields, indent=4) + "\n"


def required_fields() -> list[str]:
    """Every field the system JSON must have (the official checker's list)."""
    return list(rounds.common()["system_fields"])


def missing_fields(data: dict[str, Any]) -> list[str]:
    """Fields that are absent, or empty where the checker wants a value."""
    common = rounds.common()
    non_empty = set(common["system_fields_non_empty"])
    out = []
    for name in common["system_fields"]:
        if name not in data:
            out.append(name)
        elif name in non_empty and str(data[name]).strip() == "":
            out.append(name)
    return out


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _lscpu() -> dict[str, str]:
    text = _run(["lscpu"]) or ""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            out[key.strip()] = value.strip()
    return out


def _cpuinfo() -> list[dict[str, str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    procs = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                entry[key.strip()] = value.strip()
        procs.append(entry)
    return procs


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.0f} GB" if n_bytes >= 10e9 else f"{n_bytes / 1e9:.1f} GB"


def _detect_cpu(found: dict[str, Any]) -> None:
    lscpu = _lscpu()
    procs = _cpuinfo()
    model = lscpu.get("Model name") or (procs[0].get("model name") if procs else None)
    if model:
        found["host_processor_model_name"] = model
    sockets = lscpu.get("Socket(s)")
    if not sockets and procs:
        sockets = str(len({p.get("physical id", "0") for p in procs}))
    if sockets and sockets.isdigit():
        found["host_processors_per_node"] = int(sockets)
    cores = lscpu.get("Core(s) per socket")
    if cores and cores.isdigit():
        found["host_processor_core_count"] = int(cores)
    elif procs and procs[0].get("cpu cores", "").isdigit():
        found["host_processor_core_count"] = int(procs[0]["cpu cores"])
    mhz = lscpu.get("CPU max MHz") or (procs[0].get("cpu MHz") if procs else None)
    if mhz:
        try:
            found["host_processor_frequency"] = f"{float(mhz):.0f} MHz"
        except ValueError:
            pass
    caches = [
        f"{name}: {lscpu[key]}"
        for name, key in (
            ("L1d", "L1d cache"),
            ("L1i", "L1i cache"),
            ("L2", "L2 cache"),
            ("L3", "L3 cache"),
        )
        if lscpu.get(key)
    ]
    if caches:
        found["host_processor_caches"] = ", ".join(caches)
    threads = lscpu.get("Thread(s) per core")
    if threads and threads.isdigit():
        found["hw_notes"] = f"{threads} thread(s) per core; {os.cpu_count()} logical CPUs"


def _detect_memory(found: dict[str, Any]) -> None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                found["host_memory_capacity"] = _gb(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    # dmidecode needs root; where it answers, "N x SIZE TYPE SPEED" per populated slot.
    text = _run(["dmidecode", "-t", "memory"]) or ""
    dimms: dict[str, int] = {}
    for block in text.split("\n\n"):
        if "Memory Device" not in block:
            continue
        size = re.search(r"^\s*Size:\s*(\d+ [GM]B)", block, re.M)
        kind = re.search(r"^\s*Type:\s*(\S+)", block, re.M)
        speed = re.search(r"^\s*Speed:\s*(\d+ \S+)", block, re.M)
        if size:
            desc = " ".join(x.group(1) for x in (size, kind, speed) if x)
            dimms[desc] = dimms.get(desc, 0) + 1
    if dimms:
        found["host_memory_configuration"] = ", ".join(f"{n}x {d}" for d, n in dimms.items())


def _detect_storage(found: dict[str, Any]) -> None:
    block = Path("/sys/block")
    total = 0
    kinds = set()
    if block.is_dir():
        for dev in sorted(block.iterdir()):
            if dev.name.startswith(("loop", "ram", "zram", "dm-", "sr", "md")):
                continue
            try:
                sectors = int((dev / "size").read_text())
                rotational = (dev / "queue" / "rotational").read_text().strip() == "1"
            except (OSError, ValueError):
                continue
            if sectors == 0:
                continue
            total += sectors * 512
            kinds.add("NVMe SSD" if dev.name.startswith("nvme") else "HDD" if rotational else "SSD")
    if total:
        found["host_storage_capacity"] = _gb(total)
    if kinds:
        found["host_storage_type"] = ", ".join(sorted(kinds))


def _detect_network(found: dict[str, Any]) -> None:
    net = Path("/sys/class/net")
    if not net.is_dir():
        return
    cards = [d for d in net.iterdir() if d.name != "lo" and (d / "device").exists()]
    found["host_network_card_count"] = str(len(cards))


def _detect_os(found: dict[str, Any]) -> None:
    name = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    found["operating_system"] = f"{name or platform.system()} (kernel {platform.release()})"


def _detect_accelerators(found: dict[str, Any]) -> None:
    text = _run(
        [
            "nvidia-smi",
            "--query-gpu=name,memory.total,clocks.max.sm",
            "--format=csv,noheader,nounits",
        ]
    )
    rows = [r.split(",") for r in (text or "").strip().splitlines() if r.strip()]
    if not rows:
        # A CPU-only system: the official convention is 0 accelerators and N/A fields.
        found.update(
            {
                "accelerators_per_node": "0",  # a string: the checker reads 0 as empty
                "accelerator_model_name": "N/A",
                "accelerator_memory_capacity": "N/A",
                "accelerator_memory_configuration": "N/A",
                "accelerator_frequency": "N/A",
                "accelerator_host_interconnect": "N/A",
                "accelerator_interconnect": "N/A",
                "accelerator_interconnect_topology": "N/A",
                "accelerator_on-chip_memories": "N/A",
            }
        )
        return
    name, mem, clock = (c.strip() for c in rows[0][:3])
    found.update(
        {
            "accelerators_per_node": len(rows),
            "accelerator_model_name": name,
            "accelerator_memory_capacity": f"{float(mem) / 1024:.0f} GB",
            "accelerator_frequency": f"{clock} MHz",
            "accelerator_host_interconnect": "PCIe",
        }
    )


def _software(backend: str | None) -> tuple[str | None, str]:
    from perfpilot.provenance import package_version

    dists = {
        "onnxruntime": "onnxruntime",
        "openvino": "openvino",
        "pytorch": "torch",
        "tvm": "apache-tvm",
        "tflite": "ai-edge-litert",
        "tensorflow": "tensorflow-cpu",
    }
    framework = None
    if backend:
        dist = dists.get(backend, backend)
        version = package_version(dist) or package_version(dist.removesuffix("-cpu"))
        framework = f"{backend} {version}" if version else None
    from perfpilot import __version__

    stack = [f"perfpilot {__version__}", f"Python {platform.python_version()}"]
    for dist in ("mlcommons-loadgen", "numpy"):
        version = package_version(dist)
        if version:
            stack.append(f"{dist} {version}")
    return framework, ", ".join(stack)


def detect(backend: str | None = "onnxruntime") -> dict[str, Any]:
    """What this machine tells about itself, as system JSON fields (never raises)."""
    found: dict[str, Any] = {"number_of_nodes": 1}
    for step in (_detect_cpu, _detect_memory, _detect_storage, _detect_network, _detect_os):
        try:
            step(found)
        except Exception:  # noqa: BLE001 - detection is best effort; the field stays missing
            continue
    try:
        _detect_accelerators(found)
    except (ValueError, IndexError):
        pass
    framework, stack = _software(backend)
    if framework:
        found["framework"] = framework
    found["other_software_stack"] = stack
    found["sw_notes"] = "Run with perfpilot on the official MLPerf LoadGen"
    return found


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else repr(value)


def _scalar(value: Any) -> Any:
    """Text or a number, as the official system JSONs write a field."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"must be text or a number, not {_kind(value)} (quote it in YAML)")
    return value


def _whole(minimum: int, text_ok: bool = False) -> Any:
    """A count written as a number or as its digits ("2"); empty: not filled in yet;
    ``text_ok``: words such as "N/A" are allowed too."""

    def check(value: Any) -> Any:
        value = _scalar(value)
        text = str(value).strip()
        if text == "":
            return value
        if isinstance(value, float) or not re.fullmatch(r"[+-]?\d+", text):
            if text_ok and isinstance(value, str) and not re.fullmatch(r"[+-]?[\d.]+", text):
                return value
            raise ValueError(f"must be a whole number, not {value!r}")
        if int(text) < minimum:
            raise ValueError(f"must be {minimum} or more, not {value!r}")
        return value

    return BeforeValidator(check)


def _one_of(choices: list[str]) -> Any:
    def check(value: Any) -> Any:
        if str(_scalar(value)).strip() and str(value).lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    return BeforeValidator(check)


#: Fields whose value has a type beyond "text or a number".
_TYPED: dict[str, Any] = {
    "number_of_nodes": _whole(1),
    "host_processors_per_node": _whole(1),
    "accelerators_per_node": _whole(0),
    "host_processor_core_count": _whole(1, text_ok=True),
}


@functools.cache
def system_model() -> type[BaseModel]:
    """The typed model of a system JSON: the official field names (rules.json), each
    text or a number, counts whole and in range, status/type/division from their lists;
    no other field."""
    common = rounds.common()
    typed = {
        **_TYPED,
        "status": _one_of(list(common["statuses"])),
        "system_type": _one_of(list(common["system_types"])),
        "division": _one_of(list(common["divisions"])),
    }
    fields: dict[str, Any] = {
        name: (Annotated[Any, typed.get(name, BeforeValidator(_scalar))], "")
        for name in common["system_fields"]
    }
    config = ConfigDict(extra="forbid", frozen=True)
    model: type[BaseModel] = create_model("SystemFields", __config__=config, **fields)
    return model


def check_fields(data: dict[str, Any], source: str, others: bool = False) -> dict[str, Any]:
    """``data`` if every field is one the checker knows (``others``: or any other name),
    of its type; else a UsageError naming the first bad field."""
    known = system_model().model_fields
    try:
        system_model().model_validate(
            {k: v for k, v in data.items() if others is False or k in known}
        )
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            unknown = sorted(str(e["loc"][0]) for e in err.errors() if e["loc"])
            raise UsageError(
                f"{source}: unknown system field(s) {', '.join(unknown)}",
                "Use the official field names (see 'perfpilot system describe --json').",
            ) from err
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{source}: system field {name!r} {reason}", "Fix the file.") from err
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML (or JSON) mapping of system fields, checked with :func:`system_model`."""
    data = load_yaml(path, "system YAML", hint="Write 'field: value' lines.")
    fields = {str(k): ("" if v is None else v) for k, v in data.items()}
    return check_fields(fields, str(path))


def describe(
    overrides: dict[str, Any] | None = None,
    backend: str | None = "onnxruntime",
    **given: Any,
) -> SystemDescription:
    """Detected fields, then ``given`` keyword values (non-None), then ``overrides``
    (a user's YAML): the later wins. Every required field is present (empty if unknown)."""
    found = detect(backend)
    fields: dict[str, Any] = {name: "" for name in required_fields()}
    fields["status"] = ""
    fields.update(found)
    desc = SystemDescription(fields=fields, detected=set(found))
    for source in ({k: v for k, v in given.items() if v is not None}, overrides or {}):
        for key, value in source.items():
            fields[key] = value
            desc.overridden.add(key)
    return desc


def load_system_json(path: Path) -> dict[str, Any]:
    """A system JSON file, checked with :func:`system_model`; UsageError otherwise."""
    data = load_json(
        path, "system JSON", hint="Write one with 'perfpilot system describe --out FILE'."
    )
    return check_fields(data, str(path), others=True)  # a submitter's notes may be there


def require_complete(data: dict[str, Any], source: str, division: str) -> list[str]:
    """Missing required fields; a UsageError listing them for a closed submission."""
    missing = missing_fields(data)
    if missing and division != "open":
        raise UsageError(
            f"system description {source} lacks required field(s): {', '.join(missing)}",
            "Fill them in a YAML file and run 'perfpilot system describe --from FILE --out "
            f"{source}'.",
        )
    return missing
