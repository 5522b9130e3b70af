"""Live figures of a test for the progress line: samples done and samples/s so far in
every run (out of how many where known: an accuracy test's dataset), and a token run's
tokens/s, time to first token and time per output token.

The harness counts a classic run's samples per completed batch, in a counter of the
thread that completes it (no lock, nothing per sample), and a token run's in a
:class:`TokenMeter` (a few dict and deque operations per sample); a
:class:`ProgressWriter` thread in the child reads the counters, folds a token run's
timings into histograms and rewrites ``progress.json`` once a second; the parent reads it
with :func:`read_progress`. These are the harness's own clocks: LoadGen's logged figures
remain the result.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence, Sized
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.artifacts import atomic_write_text

_now = time.perf_counter_ns


@dataclass(frozen=True)
class LiveStats:
    """A test's figures so far, as ``progress.json`` carries them: samples done (of
    ``total`` where known), and a token run's tokens (None in other runs)."""

    elapsed_s: float
    samples: int
    tokens: int | None = None
    tokens_per_s: float | None = None
    ttft_p99_ms: float | None = None
    tpot_p99_ms: float | None = None
    samples_per_s: float | None = None
    total: int | None = None

    def remaining_s(self) -> float | None:
        """Time left at the pace so far, where the total is known and samples are done."""
        if not self.total or not self.samples or not self.samples_per_s:
            return None
        return max(self.total - self.samples, 0) / self.samples_per_s


def accuracy_samples(
    total: int, set_size: int, override: int = 0, samples_per_query: int = 1
) -> int:
    """How many samples LoadGen's accuracy mode issues: every sample once (the first
    ``override`` where set), loaded in sets of ``set_size``; MultiStream pads each set to
    whole queries of ``samples_per_query`` (LoadGen's GenerateLoadableSets)."""
    count = min(override, total) if override > 0 else total
    size, spq = max(set_size, 1), max(samples_per_query, 1)
    full, rest = divmod(count, size)
    return full * -(-size // spq) * spq + -(-rest // spq) * spq


class LogHistogram:
    """Quantiles of positive nanosecond values within 1%, in constant memory: counts in
    buckets that grow by 1% from 1 us to about 20 min."""

    GROWTH = 1.01
    LOW_NS = 1_000.0
    BINS = 2_100

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, dtype=np.int64)

    def add(self, values: Sequence[float]) -> None:
        if not values:
            return
        ratio = np.maximum(np.asarray(values, dtype=np.float64), self.LOW_NS) / self.LOW_NS
        idx = np.minimum(np.log(ratio) / math.log(self.GROWTH), self.BINS - 1).astype(np.int64)
        self.counts += np.bincount(idx, minlength=self.BINS)

    def quantile(self, q: float) -> float | None:
        """The value (ns, its bucket's upper bound) at or below which a fraction ``q``
        of the values lie; None before any value."""
        cumulative = np.cumsum(self.counts)
        total = int(cumulative[-1])
        if not total:
            return None
        i = int(np.searchsorted(cumulative, math.ceil(q * total)))
        return float(self.LOW_NS * self.GROWTH ** (i + 1))


class TokenMeter:
    """Counts a token run as the harness completes it. With ``latencies`` (Server and the
    stream scenarios, where first tokens are reported) it also times samples from their
    issue to their first token (TTFT) and on to their end, per output token after the
    first (TPOT, as LoadGen defines it): every ``every``-th query only, so that a fast
    backend's harness does not slow down (timing every sample cost the null backend's
    Server about a tenth more CPU per sample; every 8th, about 2%). Dict and deque
    operations are safe under the GIL from any thread; the harness's part per batch is
    an append and a check."""

    def __init__(self, latencies: bool, every: int = 1) -> None:
        self.latencies = latencies
        self.every = max(1, every)
        self.samples = 0
        self.tokens = 0
        # Drained by the writer: each completed batch's outputs (counted there, off the
        # harness's threads), and the timed samples' TTFT and TPOT.
        self.finished: deque[Sequence[Sized]] = deque()
        self.ttft_ns: deque[int] = deque()
        self.tpot_ns: deque[float] = deque()
        self.timing: dict[int, int] = {}  # timed sample id -> issue time, until 1st token
        self._first: dict[int, int] = {}  # timed sample id -> first-token time

    def wrap_issue(self, issue: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
        """LoadGen's issue callback, noting the issue time of every ``every``-th query's
        samples before handing over."""
        issued, every, calls = self.timing, self.every, itertools.count()

        def timed(samples: list[Any]) -> None:
            if next(calls) % every == 0:
                t = _now()
                for s in samples:
                    issued[s.id] = t
            issue(samples)

        return timed

    def watch(self, ids: Sequence[int]) -> dict[int, int] | None:
        """Of a batch's sample ids, the timed ones (id -> position); None if none is."""
        hit = self.timing.keys() & ids if self.timing else None
        return {sid: i for i, sid in enumerate(ids) if sid in hit} if hit else None

    def first_token(self, sample_id: int) -> None:
        """A timed sample's first token exists."""
        t = _now()
        began = self.timing.pop(sample_id, None)
        if began is not None:
            self._first[sample_id] = t
            self.ttft_ns.append(t - began)

    def completed(
        self, ids: Sequence[int], outputs: Sequence[Sized], watched: dict[int, int]
    ) -> None:
        """Timed samples of a batch are done: ``outputs`` are its samples' tokens, in the
        order of ``ids``; ``watched`` is what :meth:`watch` said of it. (Every batch's
        outputs go to :attr:`finished`, whether timed or not.)"""
        t = _now()
        for sample_id, i in watched.items():
            began = self._first.pop(sample_id, None)
            if began is None:  # no first token was reported: forget its issue time
                self.timing.pop(sample_id, None)
            elif len(outputs[i]) > 1:
                self.tpot_ns.append((t - began) / (len(outputs[i]) - 1))

    def count(self) -> None:
        """Fold the finished batches into ``samples`` and ``tokens`` (one thread only)."""
        for outputs in _drain(self.finished):
            self.samples += len(outputs)
            self.tokens += sum(map(len, outputs))


def _drain(queue: deque[Any]) -> list[Any]:
    popleft = queue.popleft
    return [popleft() for _ in range(len(queue))]


#: The child's phase once LoadGen's test is over (logs written, the backend closing).
FINISHING = "finishing"


class Phases:
    """The child's phases (loading, warm-up, calibrating, test), each with its start
    (seconds since the epoch: the parent's clock reads them), rewritten whole into
    ``progress.json`` at each change: a few small writes a run, none per sample."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.began = time.monotonic()
        self.phases: list[tuple[str, float]] = []
        self.extra: dict[str, Any] = {}

    def enter(self, name: str, **extra: Any) -> None:
        self.phases.append((name, round(time.time(), 3)))
        self.extra.update(extra)
        self.write()

    def data(self) -> dict[str, Any]:
        return {
            **self.extra,
            "phase": self.phases[-1][0] if self.phases else None,
            "phases": [list(p) for p in self.phases],
        }

    def write(self, **more: Any) -> None:
        atomic_write_text(self.path, json.dumps({**self.data(), **more}))


class ProgressWriter:
    """Rewrites ``progress.json`` (the expected duration and the live figures) once a
    second while a LoadGen test runs, and once more at its end. A token run's figures
    come from its ``meter``; other runs' samples done from ``samples`` (a cheap read of
    the harness's counters, called on this thread)."""

    def __init__(
        self,
        path: Path,
        expected_s: float | None,
        meter: TokenMeter | None = None,
        period_s: float = 1.0,
        phases: Phases | None = None,
        samples: Callable[[], int] | None = None,
        total: int | None = None,
    ) -> None:
        self.path, self.expected_s, self.meter, self.period_s = path, expected_s, meter, period_s
        self.phases, self.samples, self.total = phases, samples, total
        self.ttft, self.tpot = LogHistogram(), LogHistogram()
        self._began = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="perfpilot-progress", daemon=True)

    def __enter__(self) -> ProgressWriter:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.write()

    def _loop(self) -> None:
        while not self._done.wait(self.period_s):
            self.write()

    def stats(self) -> LiveStats:
        meter = self.meter
        elapsed = max(time.monotonic() - self._began, 1e-9)
        if meter is None:
            done = self.samples() if self.samples is not None else 0
            return LiveStats(
                elapsed_s=round(elapsed, 3),
                samples=done,
                samples_per_s=round(done / elapsed, 1),
                total=self.total,
            )
        meter.count()
        self.ttft.add(_drain(meter.ttft_ns))
        self.tpot.add(_drain(meter.tpot_ns))
        ttft, tpot = self.ttft.quantile(0.99), self.tpot.quantile(0.99)
        return LiveStats(
            elapsed_s=round(elapsed, 3),
            samples=meter.samples,
            tokens=meter.tokens,
            tokens_per_s=round(meter.tokens / elapsed, 1),
            ttft_p99_ms=None if ttft is None else round(ttft / 1e6, 3),
            tpot_p99_ms=None if tpot is None else round(tpot / 1e6, 3),
            samples_per_s=round(meter.samples / elapsed, 3),
            total=self.total,
        )

    def write(self) -> None:
        data = {"expected_s": self.expected_s, "live": asdict(self.stats())}
        if self.phases is not None:  # kept there: the next phase's file keeps them too
            self.phases.extra.update(data)
            self.phases.write()
            return
        atomic_write_text(self.path, json.dumps(data))


def read_progress(path: Path) -> tuple[float | None, LiveStats | None]:
    """The expected duration and the live figures in a progress file, where there yet."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    expected = data.get("expected_s")
    expected = float(expected) if isinstance(expected, (int, float)) else None
    live = data.get("live")
    try:
        stats = LiveStats(**live) if isinstance(live, dict) else None
    except TypeError:  # a file from another perfpilot version
        stats = None
    return expected, stats


@dataclass(frozen=True)
class ChildPhase:
    """Where the child is: its phase, when it started and how long it should take where
    the child can say (calibration), and once the test starts, when it did (times in
    seconds since the epoch)."""

    name: str
    started_at: float
    test_started_at: float | None
    expected_s: float | None = None


def read_phase(path: Path) -> ChildPhase | None:
    """The child's current phase in a progress file, where there yet."""
    try:
        data = json.loads(path.read_text())
        name, started = data["phases"][-1]
        tests = [at for phase, at in data["phases"] if str(phase).endswith(" test")]
        expected = data.get("phase_expected_s")
        return ChildPhase(
            str(name),
            float(started),
            float(tests[0]) if tests else None,
            float(expected) if isinstance(expected, (int, float)) and expected > 0 else None,
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
