"""The LoadGen adapters: a QSL over a dataset and the SUT's scenario strategies.

Only the child process imports this module (it imports LoadGen).

Strategies:
- Offline: the one big query is cut into batches of ``batch_size`` and put on a queue
  that ``threads`` workers drain.
- Server: every sample goes on the queue; a worker takes the first waiting sample, then
  whatever else is waiting up to ``batch_size`` (waiting at most ``max_wait_ms`` for more).
- SingleStream / MultiStream: LoadGen issues one query at a time and waits for it, so the
  query is run at once, as one batch, on LoadGen's issuing thread: no hand-off latency.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import mlperf_loadgen as lg
import numpy as np

from perfpilot.backends.base import Backend
from perfpilot.catalog.registry import Dataset
from perfpilot.engine.criteo_inputs import dlrm_responses
from perfpilot.engine.speech import transcript_responses
from perfpilot.engine.volumes import segmentation_responses
from perfpilot.engine.wrapper import Wrapper


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


def argmax_labels(outputs: np.ndarray) -> np.ndarray:
    """Classification post-processing: class index per sample, int32 (4 bytes each)."""
    return np.ascontiguousarray(outputs.reshape(len(outputs), -1).argmax(axis=1).astype(np.int32))


def postprocessor(kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """The post-processing a model spec names: ``argmax`` over scores, or ``index`` /
    ``index-1`` for models that output the class (the reference's offset -1 for the
    1001-class TF/ONNX ResNet50)."""
    if kind == "argmax":
        return argmax_labels
    if kind == "squad-logits":
        return squad_logits
    if kind in RAGGED:  # responses are built by the RAGGED function instead
        return squad_logits
    if kind in ("index", "index-1"):
        offset = -1 if kind == "index-1" else 0

        def index(outputs: np.ndarray) -> np.ndarray:
            flat = outputs.reshape(len(outputs), -1)
            # Scores instead of an index (the null backend answers zeros of the task's
            # output shape): take their argmax, in the same class space.
            classes = flat[:, 0] if flat.shape[1] == 1 else flat.argmax(axis=1)
            return np.ascontiguousarray(classes.astype(np.int32) + offset)

        return index
    raise ValueError(f"unknown post-processing {kind!r}")


def squad_logits(outputs: np.ndarray) -> np.ndarray:
    """BERT post-processing: start/end logits per sample as float32 [seq, 2], the
    reference SUT's ``np.stack([start, end], axis=-1)``."""
    return np.ascontiguousarray(outputs, dtype=np.float32)


class NamedInputs(Wrapper):
    """Feeds a model with several named inputs from samples that stack them on axis 1
    (SQuAD: [n, 3, 384] int64 -> input_ids, input_mask, segment_ids), and stacks the
    model's outputs on a new last axis ([n, 384, 2] for BERT's start/end logits).

    Only multi-input tasks get this wrapper; single-input models keep the direct path.
    """

    def __init__(self, inner: Backend, names: Sequence[str]) -> None:
        super().__init__(inner)
        self.names = tuple(names)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(batch[:, i]) for i, name in enumerate(self.names)}
        outputs = self.inner.predict_named(feeds)
        return np.stack(outputs, axis=-1)


class Detections(Wrapper):
    """Runs a detection model one image at a time, as the official RetinaNet ONNX needs
    (batch 1; outputs ``boxes`` [K, 4], ``labels`` [K], ``scores`` [K] without a batch
    axis). ``predict`` returns one ``(boxes, labels, scores)`` per image, which
    :func:`retinanet_responses` turns into the ragged per-sample responses."""

    def __init__(self, inner: Backend, input_name: str | None = None) -> None:
        super().__init__(inner)
        self.input_name = input_name

    def load(self, model_path: Any) -> None:
        if self.input_name is None and model_path is not None:
            import onnx  # the export names no input: read the graph's first real input

            graph = onnx.load(str(model_path), load_external_data=False).graph
            weights = {t.name for t in graph.initializer}
            self.input_name = next(i.name for i in graph.input if i.name not in weights)
        self.inner.load(model_path)

    def predict(self, batch: np.ndarray) -> Any:
        assert self.input_name is not None, "load() names the input"
        found = []
        for i in range(len(batch)):
            outputs = self.inner.predict_named({self.input_name: batch[i : i + 1]})
            found.append(_detection_outputs(outputs))
        return found


def _detection_outputs(outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """(boxes, labels, scores) from a detector's outputs, whatever their order: boxes are
    the [K, 4] array, scores the float vector, labels the other one (the export writes
    boxes, scores, labels; the reference profile lists boxes, labels, scores)."""
    arrays = [np.asarray(o) for o in outputs]
    if len(arrays) != 3:
        raise ValueError(f"a detector must return boxes, labels and scores, got {len(arrays)}")
    arrays = [a[0] if a.ndim > 1 and a.shape[0] == 1 and a.ndim != 2 else a for a in arrays]
    boxes = next((a for a in arrays if a.ndim == 2 and a.shape[-1] == 4), None)
    rest = [a for a in arrays if a is not boxes]
    if boxes is None or len(rest) != 2:
        raise ValueError("a detector's outputs must include boxes of shape [K, 4]")
    floats = [a for a in rest if np.issubdtype(a.dtype, np.floating)]
    scores = floats[-1] if len(floats) == 1 else rest[1]
    labels = rest[0] if scores is rest[1] else rest[1]
    return boxes, labels, scores


def retinanet_responses(
    outputs: Sequence[tuple[np.ndarray, ...]], idx: np.ndarray
) -> list[np.ndarray]:
    """Per-image responses: float32 groups of seven (image_idx, ymin, xmin, ymax, xmax,
    score, label), as the reference's ``PostProcessOpenImagesRetinanet``."""
    from perfpilot.catalog.openimages import postprocess_retinanet

    return [
        postprocess_retinanet(int(i), boxes, labels, scores)
        for i, (boxes, labels, scores) in zip(idx, outputs, strict=True)
    ]


#: Post-processing whose responses differ in size from sample to sample.
RAGGED: dict[str, Callable[[Any, np.ndarray], list[np.ndarray]]] = {
    "retinanet": retinanet_responses,
    "dlrm": dlrm_responses,  # float32 (prediction, label) per row, 100-700 rows a sample
    "kits19": segmentation_responses,  # uint8 label volumes, one size per case
    "rnnt": transcript_responses,  # int64 label indices, as many as each utterance decoded
}


class SystemUnderTest:
    """A SUT over a backend with one of the four scenario strategies."""

    def __init__(
        self,
        scenario: str,
        backend: Backend,
        qsl: QuerySampleLibrary,
        batch_size: int,
        threads: int,
        max_wait_ms: float,
        on_error: Callable[[BaseException], None],
        postprocess: Callable[[np.ndarray], np.ndarray] = argmax_labels,
        ragged: Callable[[Any, np.ndarray], list[np.ndarray]] | None = None,
    ) -> None:
        self.scenario = scenario
        self.ragged = ragged
        self.backend = backend
        self.qsl = qsl
        self.batch_size = batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.on_error = on_error
        self.postprocess = postprocess
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        if scenario in ("Offline", "Server"):
            target = self._offline_worker if scenario == "Offline" else self._server_worker
            for i in range(threads):
                worker = threading.Thread(target=target, name=f"perfpilot-worker-{i}", daemon=True)
                worker.start()
                self._workers.append(worker)
            issue = self._issue_offline if scenario == "Offline" else self._issue_server
        else:
            issue = self._run
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
