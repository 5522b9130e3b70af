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

Fixed-size answers take LoadGen's fast issue path (ids and indices as two lists, no
QuerySample object per sample) and are completed from a preallocated buffer whose
response objects are reused: per sample, the harness sets one id (see ``Responder``).

Samples done are counted for the progress line per completed batch, in the ``done`` of the
completing thread's own ``Responder``: one integer addition a batch, no lock (one writer
each; the progress writer only reads and sums them).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
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


_SET_ID = lg.QuerySampleResponse.id.fset  # type: ignore[attr-defined]


class Responder:
    """Completes batches of fixed-size answers for one thread. The answers are copied into
    a buffer owned here, and a pool of response objects points at its rows once and for
    all, so a batch costs one copy and one id per sample: building a response object per
    sample costs more than the rest of the harness. Reuse is safe because LoadGen copies
    whatever it logs before ``QuerySamplesComplete`` returns. ``done`` counts the samples
    its thread completed, fixed-size or ragged (the worker adds each batch), for the
    progress line."""

    def __init__(self, capacity: int = 1) -> None:
        self._capacity = max(capacity, 1)
        self._buffer = np.zeros((0, 0), dtype=np.uint8)
        self._pool: list[Any] = []
        self.done = 0

    def complete(self, ids: list[int], answers: np.ndarray) -> None:
        n = len(ids)
        rows = answers.reshape(n, -1)
        buffer = self._buffer
        if len(buffer) < n or buffer.shape[1] != rows.shape[1] or buffer.dtype != rows.dtype:
            buffer = self._allocate(max(n, self._capacity), rows)
        buffer[:n] = rows
        batch = self._pool if n == len(self._pool) else self._pool[:n]
        deque(map(_SET_ID, batch, ids), maxlen=0)
        lg.QuerySamplesComplete(batch)

    def _allocate(self, capacity: int, rows: np.ndarray) -> np.ndarray:
        self._buffer = np.zeros((capacity, rows.shape[1]), dtype=rows.dtype)
        size = self._buffer.itemsize * rows.shape[1]
        base = self._buffer.ctypes.data
        self._pool = [lg.QuerySampleResponse(0, base + i * size, size) for i in range(capacity)]
        return self._buffer


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
        self._responders: list[Responder] = []  # one per completing thread: samples done
        if tokens:
            self.handle = self._token_sut(backend, scenario, threads, meter)
            return
        # Fixed-size and ragged answers: LoadGen's fast issue path, ids and indices only.
        issue: Callable[[list[int], list[int]], None]
        if scenario in ("Offline", "Server"):
            self._start_workers(
                self._offline_worker if scenario == "Offline" else self._server_worker, threads
            )
            issue = self._issue_offline if scenario == "Offline" else self._issue_server
        else:
            responder = self._responder(batch_size)
            issue = lambda ids, indices: self._run(  # noqa: E731 - LoadGen's thread runs it
                ids, np.array(indices, dtype=np.int64), responder
            )
        self.handle = lg.ConstructFastSUT(issue, self._flush)

    def _responder(self, capacity: int) -> Responder:
        responder = Responder(capacity)
        self._responders.append(responder)  # before its thread completes anything
        return responder

    def samples_done(self) -> int:
        """Samples completed so far (fixed-size and ragged answers; a token run's are in
        its meter): a sum of the completing threads' counters, read from any thread."""
        return sum(r.done for r in list(self._responders))

    def _start_workers(self, target: Callable[[], None], threads: int) -> None:
        for i in range(threads):
            worker = threading.Thread(target=target, name=f"perfpilot-worker-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _token_sut(
        self, backend: Runtime, scenario: str, threads: int, meter: TokenMeter | None
    ) -> Any:
        issue: Callable[[list[Any]], None]
        if backend.submits:  # the runtime keeps its own requests in flight
            issue = self._submit
        elif scenario in ("Offline", "Server"):
            self._start_workers(
                self._token_offline_worker if scenario == "Offline" else self._server_worker,
                threads,
            )
            issue = self._issue_token_offline if scenario == "Offline" else self._issue_token_server
        else:
            issue = self._generate
        if meter is not None and meter.latencies:  # notes issue times, for TTFT
            issue = meter.wrap_issue(issue)
        return lg.ConstructSUT(issue, self._flush)

    # -- LoadGen callbacks ---------------------------------------------------------------

    def _issue_offline(self, ids: list[int], indices: list[int]) -> None:
        step = self.batch_size
        idx = np.array(indices, dtype=np.int64)
        for start in range(0, len(ids), step):
            self._queue.put((ids[start : start + step], idx[start : start + step]))

    def _issue_server(self, ids: list[int], indices: list[int]) -> None:
        put = self._queue.put
        for item in zip(ids, indices, strict=True):
            put(item)

    def _issue_token_offline(self, samples: list[Any]) -> None:
        step = self.batch_size
        for start in range(0, len(samples), step):
            self._queue.put(samples[start : start + step])

    def _issue_token_server(self, samples: list[Any]) -> None:
        for sample in samples:
            self._queue.put(sample)

    def _flush(self) -> None:
        pass

    # -- workers -------------------------------------------------------------------------

    def _offline_worker(self) -> None:
        get = self._queue.get
        responder = self._responder(self.batch_size)
        while (chunk := get()) is not None:
            self._run(chunk[0], chunk[1], responder)

    def _token_offline_worker(self) -> None:
        get = self._queue.get
        while (chunk := get()) is not None:
            self._generate(chunk)

    def _server_worker(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        limit, wait = self.batch_size, self.max_wait_s
        responder = self._responder(limit)
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
            if self.tokens:
                self._generate(items)
            else:
                ids, indices = zip(*items, strict=True)
                self._run(list(ids), np.array(indices, dtype=np.int64), responder)

    def _run(self, ids: list[int], idx: np.ndarray, responder: Responder) -> None:
        """Predict one batch and complete its samples (all on the calling thread)."""
        try:
            if self.ragged is not None:
                self._complete_ragged(
                    ids, self.ragged(self.backend.predict(self.qsl.batch(idx)), idx)
                )
            else:
                labels = self.postprocess(self.backend.predict(self.qsl.batch(idx)))
                responder.complete(ids, labels)
            responder.done += len(ids)  # one integer addition a batch, the only count
        except BaseException as err:  # noqa: BLE001 - any backend failure ends the run
            self.on_error(err)

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
    def _complete_ragged(ids: list[int], arrays: list[np.ndarray]) -> None:
        """Complete samples whose responses have their own sizes (detections)."""
        responses = [
            lg.QuerySampleResponse(i, a.ctypes.data, a.nbytes)
            for i, a in zip(ids, arrays, strict=True)
        ]
        lg.QuerySamplesComplete(responses)  # `arrays` stays alive until this returns

    def destroy(self) -> None:
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()
        lg.DestroySUT(self.handle)
