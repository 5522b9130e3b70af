"""Where and with what a run ran: versions, OS, CPU, memory."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from functools import lru_cache
from typing import Any

from perfpilot import __version__


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@lru_cache(maxsize=1)
def system_info() -> dict[str, Any]:
    """Facts about this machine and the Python that runs perfpilot."""
    return {
        "hostname": platform.node(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": _memory_bytes(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
    }


def software_versions(backend_version: str | None = None) -> dict[str, str | None]:
    """Versions of perfpilot, LoadGen and the libraries a run depends on."""
    return {
        "perfpilot": __version__,
        "mlcommons-loadgen": package_version("mlcommons-loadgen"),
        "numpy": package_version("numpy"),
        "onnx": package_version("onnx"),
        "onnxruntime": package_version("onnxruntime"),
        "scikit-learn": package_version("scikit-learn"),
        "backend": backend_version,
    }
