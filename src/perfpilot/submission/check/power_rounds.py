"""What the power checker of each round accepts: the PTDaemon release, the checksums of
the power client/server sources (mlcommons/power-dev), the analyzers, and how the PTD
session is laid out. Facts read from ``tools/submission/power/`` of mlcommons/inference at
each round's tag (v4.1, v5.0, v5.1; v6.0 and v6.1 use the v5.1 checker unchanged)."""

from __future__ import annotations

from dataclasses import dataclass

# PTD model names (the first field of the reply to Identify) and their device numbers.
ANALYZERS: dict[str, int] = {
    "YokogawaWT210": 8,
    "YokogawaWT500": 35,
    "YokogawaWT500_multichannel": 48,
    "YokogawaWT310": 49,
    "YokogawaWT310E": 49,
    "YokogawaWT330": 52,
    "YokogawaWT330E": 52,
    "YokogawaWT330_multichannel": 77,
    "YokogawaWT210_DC": 508,
    "YokogawaWT310_DC": 549,
    "YokogawaWT330_DC": 586,
}
MULTICHANNEL_DEVICE = 77  # must measure on two channels

# Clocks of the PTD client and server may differ by this much at each phase change.
PHASE_TOLERANCE_S = 0.8
# The ranging run may last at most this much longer (relative) than the testing run
# before the check warns, and the testing run's mean power may be at most this much
# (in percent) below the ranging run's.
DURATION_SLACK = 0.5
POWER_DROP_PCT = 5.0

_EMPTY = "da39a3ee5e6b4b0d3255bfef95601890afd80709"  # sha1 of an empty __init__.py
_SOURCES_COMMON = {
    "__init__.py": _EMPTY,
    "client.py": "33ca4f26368777ac06e01f9567b714a4b8063886",
    "lib/__init__.py": _EMPTY,
    "lib/client.py": "ac2aa093c8e8bbc9569b9e2a3471bc64e58a2258",
    "lib/common.py": "611d8b29633d331eb19c9455ea3b5fa3284ed6df",
    "lib/external/__init__.py": _EMPTY,
    "lib/external/ntplib.py": "4da8f970656505a40483206ef2b5d3dd5e81711d",
    "lib/source_hashes.py": "60a2e02193209e8d392803326208d5466342da18",
    "lib/time_sync.py": "80894ef2389e540781ff78de94db16aa4203a14e",
    "server.py": "c3f90f2f7eeb4db30727556d0c815ebc89b3d28b",
    "tests/unit/__init__.py": _EMPTY,
    "tests/unit/test_server.py": "948c1995d4008bc2aa6c4046a34ffa3858d6d671",
    "tests/unit/test_source_hashes.py": "00468a2907583c593e6574a1f6b404e4651c221a",
}
_SOURCES_V4 = {
    **_SOURCES_COMMON,
    "lib/server.py": "99303c836c683aa9017ec565104e636161d02acb",
    "lib/summary.py": "aa92f0a3f975eecd44d3c0cd0236342ccc9f941d",
}
_SOURCES_V5 = {
    **_SOURCES_COMMON,
    "lib/server.py": "9bc9a3b6b9b716520658ac175913bcbbdb354336",
    "lib/summary.py": "602a9fedfa503e5544d27ab3b0067f235047efc3",
}


@dataclass(frozen=True)
class PowerRound:
    """The power rules that change from round to round."""

    ptd_versions: tuple[str, ...]  # PTDaemon releases (the version= field of Identify)
    sources: tuple[dict[str, str], ...]  # accepted checksums of the power-dev sources
    # which "SR,A" commands (1-based) may restore the initial amps range after testing:
    # the fourth too from v5.1 on (the power director sometimes sends one more)
    amps_restore: tuple[int, ...]
    analyzer_list: bool  # server.json's ptd_config: a list of analyzers (v5.1 on), else one


_V41 = PowerRound(("1.10.0",), (_SOURCES_V4,), (3,), analyzer_list=False)
_V50 = PowerRound(("1.11.1",), (_SOURCES_V5,), (3,), analyzer_list=False)
_V51 = PowerRound(("1.11.1",), (_SOURCES_V5,), (3, 4), analyzer_list=True)
POWER_ROUNDS = {"v4.1": _V41, "v5.0": _V50, "v5.1": _V51, "v6.0": _V51, "v6.1": _V51}


def power_round(name: str) -> PowerRound:
    """The power rules of round ``name`` (the newest checker's for a round not listed)."""
    return POWER_ROUNDS.get(name, _V51)
