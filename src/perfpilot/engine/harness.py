"""The LoadGen adapters: a QSL over a dataset and the SUT's scenario strategies.

Only the child process imports this module (it imports LoadGen).

Strategies:
- Offline: the one big query is cut into batches of ``batch_size`` and put on a queue
  that ``threads`` workers drain.
- Server: every sample goes on the queue; a worker takes the first waiting sample, then
  whatever else is waiting up to ``batch_size`` (waiting at most ``max_wait_ms`` for more).
- SingleStream / MultiStream: LoadGen issues one query at a time and waits for it, so the
  query is run at once, as one batch, on LoadGen's issuing thread: no hand-off latency.
- A generative runtime that ``submits`` (an HTTP client) gets every query at once on
  LoadGen's issuing thread, in every scenario, and completes each sample as it ends.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import mlperf_loadgen as lg
import numpy as np

from perfpilot.engine.live import TokenMeter
from perfpilot.tasks.adapter import Runtime
from perfpilot.tasks.spec import Dataset


class QuerySampleLibrary:
    """Loads preprocessed samples into memory on LoadGen's request, frees them on unload."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._rows = np.full(dataset.total_count, -1, dtype=np.int64)
        self._store: np.ndarray | None = None
        self.handle = lg.ConstructQSL(
            dataset.total_count, dataset.performance_count, self.load, self.unload
        )

    def load(self, indices: Sequence[int]) -> None:
        idx = np.asarray(indices, dtype=np.int64)
        self._store = np.ascontiguousarray(self.dataset.samples(idx))
        self._rows[:] = -1
        self._rows[idx] = np.arange(len(idx))

    def unload(self, indices: Sequence[int]) -> None:
        self._store = None
        self._rows[:] = -1

    def batch(self, indices: np.ndarray) -> np.ndarray:
        """The loaded samples for these QSL indices, gathered into one array."""
        assert self._store is not None, "LoadGen issued a sample that is not loaded"
        out: np.ndarray = self._store[self._rows[indices]]
        return out

    def destroy(self) -> None:
        lg.DestroyQSL(self.handle)


class SystemUnderTest:
    """A SUT over a backend with one of the four scenario strategies. ``postprocess``
    makes a batch's fixed-size responses (one row per sample); ``ragged``, where given,
    makes responses of their own sizes instead (the task adapter decides). ``meter``
    counts a token run for the progress line."""

    def __init__(
        self,
        scenario: str,
        backend: Runtime,
        qsl: QuerySampleLibrary,
        batch_size: int,
        threads: int,
        max_wait_ms: float,
        on_error: Callable[[BaseException], None],
        postprocess: Callable[[Any], np.ndarray],
        ragged: Callable[[Any, np.ndarray], list[np.ndarray]] | None = None,
        tokens: bool = False,
        meter: TokenMeter | None = None,
    ) -> None:
        self.scenario = scenario
        self.ragged = ragged
        # Token path: the runtime generates; LoadGen wants first tokens except in Offline.
        self.tokens = tokens
        self.first_tokens = tokens and scenario != "Offline"
        self.backend = backend
        self.qsl = qsl
        self.batch_size = batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.on_error = on_error
        self.postprocess = postprocess
        self.meter = meter
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        issue: Callable[[list[Any]], None]
        if tokens and backend.submits:  # the runtime keeps its own requests in flight
            issue = self._submit
        elif scenario in ("Offline", "Server"):
            target = self._offline_worker if scenario == "Offline" else self._server_worker
            for i in range(threads):
                worker = threading.Thread(target=target, name=f"perfpilot-worker-{i}", daemon=True)
                worker.start()
                self._workers.append(worker)
            issue = self._issue_offline if scenario == "Offline" else self._issue_server
        else:
            issue = self._run
        if meter is not None and meter.latencies:  # notes issue times, for TTFT
            issue = meter.wrap_issue(issue)
        self.handle = lg.ConstructSUT(issue, self._flush)

    # -- LoadGen callbacks ---------------------------------------------------------------

    def _issue_offline(self, samples: list[Any]) -> None:
        step = self.batch_size
        for start in range(0, len(samples), step):
            self._queue.put(samples[start : start + step])

    def _issue_server(self, samples: list[Any]) -> None:
        for sample in samples:
            self._queue.put(sample)

    def _flush(self) -> None:
        pass

    # -- workers -------------------------------------------------------------------------

    def _offline_worker(self) -> None:
        get = self._queue.get
        while (chunk := get()) is not None:
            self._run(chunk)

    def _server_worker(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        limit, wait = self.batch_size, self.max_wait_s
        while (first := get()) is not None:
            items = [first]
            deadline = time.monotonic() + wait if wait > 0 else 0.0
            while len(items) < limit:
                try:
                    item = get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic() if wait > 0 else 0.0
                    if remaining <= 0:
                        break
                    try:
                        item = get(timeout=remaining)
                    except queue.Empty:
                        break
                if item is None:  # shutdown: finish this batch, then stop
                    self._queue.put(None)
                    break
                items.append(item)
            self._run(items)

    def _run(self, samples: list[Any]) -> None:
        """Predict one batch and complete its samples (all on the calling thread)."""
        if self.tokens:
            self._generate(samples)
            return
        n = len(samples)
        try:
            idx = np.fromiter((s.index for s in samples), dtype=np.int64, count=n)
            if self.ragged is not None:
                self._complete_ragged(
                    samples, self.ragged(self.backend.predict(self.qsl.batch(idx)), idx)
                )
                return
            labels = self.postprocess(self.backend.predict(self.qsl.batch(idx)))
        except BaseException as err:  # noqa: BLE001 - any backend failure ends the run
            self.on_error(err)
            return
        size = labels.itemsize * (labels.size // n)
        base = labels.ctypes.data
        responses = [
            lg.QuerySampleResponse(s.id, base + i * size, size) for i, s in enumerate(samples)
        ]
        lg.QuerySamplesComplete(responses)  # `labels` stays alive until this returns

    def _generate(self, samples: list[Any]) -> None:
        """Generate one batch: each sample's first token goes to LoadGen as soon as the
        runtime reports it (TTFT), then every sample ends with its token count (TPOT)."""
        ids = [s.id for s in samples]
        firsts: list[np.ndarray] = []  # alive until LoadGen has copied them
        meter = self.meter
        # the samples timed for TTFT and TPOT (where the meter times any)
        watched = meter.watch(ids) if meter is not None and meter.timing else None

        def first_token(i: int, token: np.ndarray) -> None:
            firsts.append(token)
            lg.FirstTokenComplete([lg.QuerySampleResponse(ids[i], token.ctypes.data, token.nbytes)])
            if watched and meter is not None and ids[i] in watched:
                meter.first_token(ids[i])

        try:
            idx = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(samples))
            outputs = self.backend.generate(
                self.qsl.batch(idx), first_token if self.first_tokens else None
            )
            # A ragged adapter logs its own answer (Whisper: the transcript's label
            # indices); LoadGen still counts the generated tokens.
            data = outputs if self.ragged is None else self.ragged(outputs, idx)
        except BaseException as err:  # noqa: BLE001 - any backend failure ends the run
            self.on_error(err)
            return
        responses = [
            lg.QuerySampleResponse(i, d.ctypes.data, d.nbytes, len(a))
            for i, d, a in zip(ids, data, outputs, strict=True)
        ]
        lg.QuerySamplesComplete(responses)  # `data` stays alive until this returns
        if meter is not None:
            meter.finished.append(outputs)
            if watched:
                meter.completed(ids, outputs, watched)

    def _submit(self, samples: list[Any]) -> None:
        """Hand a query to a submitting runtime and return: its callbacks (on the
        runtime's thread, holding no lock of ours) tell LoadGen of each first token and
        each answer as they come."""
        ids = [s.id for s in samples]
        meter = self.meter
        timed = meter.timing if meter is not None else {}  # ids whose issue time is noted

        def first_token(i: int, token: np.ndarray) -> None:
            lg.FirstTokenComplete([lg.QuerySampleResponse(ids[i], token.ctypes.data, token.nbytes)])
            if meter is not None and ids[i] in timed:
                meter.first_token(ids[i])

        def finished(i: int, tokens: np.ndarray, n_tokens: int) -> None:
            response = lg.QuerySampleResponse(ids[i], tokens.ctypes.data, tokens.nbytes, n_tokens)
            lg.QuerySamplesComplete([response])  # LoadGen copies `tokens` before returning
            if meter is not None:
                meter.finished.append((tokens,))
                meter.completed((ids[i],), (tokens,), {ids[i]: 0})

        try:
            idx = np.fromiter((s.index for s in samples), dtype=np.int64, count=len(samples))
            self.backend.submit(
                self.qsl.batch(idx),
                first_token if self.first_tokens else None,
                finished,
                self.on_error,
            )
        except BaseException as err:  # noqa: BLE001 - any backend failure ends the run
            self.on_error(err)

    @staticmethod
    def _complete_ragged(samples: list[Any], arrays: list[np.ndarray]) -> None:
        """Complete samples whose responses have their own sizes (detections)."""
        responses = [
            lg.QuerySampleResponse(s.id, a.ctypes.data, a.nbytes)
            for s, a in zip(samples, arrays, strict=True)
        ]
        lg.QuerySamplesComplete(responses)  # `arrays` stays alive until this returns

    def destroy(self) -> None:
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()
        lg.DestroySUT(self.handle)
