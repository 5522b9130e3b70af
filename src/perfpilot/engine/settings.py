"""LoadGen settings for one test, and the user.conf that carries them to LoadGen.

The built-in mlperf.conf stays in force: perfpilot only writes the keys it resolves
(expected QPS or latency; in ``test`` execution mode also the shorter duration and
counts) into ``user.conf``, which LoadGen reads on top of its own configuration.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from perfpilot import __version__

#: ``test`` execution mode: short runs that still give LoadGen enough queries for its
#: early-stopping estimates. ``valid`` mode uses mlperf.conf's official values.
from perfpilot.config.run import TEST_MIN_DURATION_MS as TEST_MIN_DURATION_MS

# LoadGen's early-stopping estimate needs enough queries for the percentile: about 44 at
# p90 (SingleStream) and 459 at p99 (MultiStream), so MultiStream keeps mlperf.conf's 662.
TEST_MIN_QUERY_COUNT = {
    "Offline": 1,
    "Server": 100,
    "Interactive": 100,
    "SingleStream": 100,
    "MultiStream": 662,
}
#: Token runs' Server and Interactive: the TPOT early-stopping estimate at p99 wants about
#: 459 queries even when every one is under the bound.
TEST_MIN_TOKEN_QUERY_COUNT = 460


def test_min_query_count(scenario: str, tokens: bool = False) -> int:
    """The ``test`` execution mode's query count for ``scenario`` (``tokens``: a run with
    token latencies on)."""
    if tokens and scenario in SERVER_LIKE:
        return TEST_MIN_TOKEN_QUERY_COUNT
    return TEST_MIN_QUERY_COUNT[scenario]


#: Scenarios LoadGen runs as its Server (Interactive: Server under tighter token bounds).
SERVER_LIKE = ("Server", "Interactive")


def loadgen_names(model: str, scenario: str) -> tuple[str, str]:
    """The model name and scenario LoadGen sees: Interactive is LoadGen's Server under
    mlperf.conf's ``<model>-interactive`` settings, as the reference harnesses run it."""
    if scenario == "Interactive":
        return f"{model}-interactive", "Server"
    return model, scenario


class LoadgenSettings(BaseModel):
    """The values perfpilot hands to LoadGen for one test. ``None`` leaves mlperf.conf's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: str
    mode: str
    target_qps: float | None = None  # Offline expected QPS, Server target QPS
    target_latency_ms: float | None = None  # SingleStream / MultiStream expected latency
    min_duration_ms: int | None = None
    min_query_count: int | None = None
    samples_per_query: int | None = None  # MultiStream

    def user_conf(self, model: str, header: str = "") -> str:
        """The user.conf text: ``model.Scenario.key = value`` lines."""
        prefix = ".".join(loadgen_names(model, self.scenario))
        lines = [f"# user.conf written by perfpilot {__version__}"]
        if header:
            lines.append(f"# {header}")
        if self.target_qps is not None:
            lines.append(f"{prefix}.target_qps = {_num(self.target_qps)}")
        if self.target_latency_ms is not None:
            lines.append(f"{prefix}.target_latency = {_num(self.target_latency_ms)}")
        if self.min_duration_ms is not None:
            lines.append(f"{prefix}.min_duration = {self.min_duration_ms}")
        if self.min_query_count is not None:
            lines.append(f"{prefix}.min_query_count = {self.min_query_count}")
        if self.samples_per_query is not None:
            lines.append(f"{prefix}.samples_per_query = {self.samples_per_query}")
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    """A number LoadGen's strtod reads back exactly enough, without exponent noise."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


#: LoadGen's minimum query count where neither user.conf nor mlperf.conf sets one
#: (mlperf.conf sets MultiStream's 662; TestSettings defaults to 100).
LOADGEN_MIN_QUERY_COUNT = {
    "SingleStream": 100,
    "MultiStream": 662,
    "Server": 100,
    "Interactive": 100,
}


def expected_duration_s(
    settings: LoadgenSettings, throughput: float | None = None, query_s: float | None = None
) -> float:
    """Rough wall time of a test, for the progress line (not a promise).

    A test lasts at least ``min_duration`` and at least ``min_query_count`` queries: for
    SingleStream and MultiStream that is the count times one query's latency
    (``query_s``, measured; else the expected latency the settings carry), for Server the
    count at the target QPS. A test-length MultiStream run of a slow model is bound by
    its 662 queries, not by its one second."""
    if settings.mode == "accuracy":
        return 0.0
    base = (settings.min_duration_ms or 600_000) / 1000
    scenario = settings.scenario
    if scenario == "Offline":
        if settings.target_qps and throughput:
            return max(base, 1.1 * base * settings.target_qps / throughput)
        return base
    count = settings.min_query_count or LOADGEN_MIN_QUERY_COUNT.get(scenario, 0)
    if scenario in SERVER_LIKE:
        per_query = 1.0 / settings.target_qps if settings.target_qps else None
    elif query_s:
        per_query = query_s
    elif settings.target_latency_ms:
        per_query = settings.target_latency_ms / 1000
    else:
        per_query = None
    return base if per_query is None else max(base, count * per_query)
