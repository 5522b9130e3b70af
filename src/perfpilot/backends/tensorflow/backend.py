"""TensorFlow backend: SavedModel directories, frozen graphs (``.pb`` GraphDefs such as
MLPerf's ``resnet50_v1.pb`` and BERT ``model.pb``, see :mod:`.frozen`), and the built-in
digits-cnn and ResNet50 v1.5 stand-in from their ONNX weights (rebuilt with TF ops, cached).

The SavedModel's serving signature runs in a graph-mode session, which takes its own
thread settings (intra- and inter-op from ``threads``; TensorFlow's process-wide
setting can be made only once) and whose ``run`` is thread-safe, so worker threads share
one session. TensorFlow
is imported only here, in the process that runs the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from perfpilot.backends.base import Backend
from perfpilot.backends.tensorflow.config import TensorFlowConfig
from perfpilot.backends.tensorflow.frozen import FrozenGraph, check_frozen_graph
from perfpilot.backends.tensorflow.runtime import (
    SERVING_TAG,
    ServingSignature,
    check_signature,
    import_tensorflow,
    pick_output,
    read_signature,
)
from perfpilot.errors import ModelFileError, UsageError

#: In ``model_suffixes``, "/" stands for a model that is a directory.
MODEL_DIRECTORY = "/"


def _reason(err: BaseException) -> str:
    """TensorFlow's error in one line: its type and the first lines that say something
    (it wraps the cause in "Graph execution error:" and node names in [[...]])."""
    lines = [line.strip() for line in str(err).splitlines()]
    useful = [
        line
        for line in lines
        if line and not line.startswith("[[") and line != "Graph execution error:"
    ]
    text = " ".join(useful[:2])[:200]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class TensorFlowBackend(Backend):
    name = "tensorflow"
    config_class = TensorFlowConfig
    config: TensorFlowConfig
    model_formats = ("onnx", "tensorflow")
    model_suffixes = (".onnx", ".pb", MODEL_DIRECTORY)

    _session: Any = None
    _run: Callable[[np.ndarray], np.ndarray] | None = None
    _frozen: FrozenGraph | None = None

    @classmethod
    def version(cls) -> str:
        return str(import_tensorflow().__version__)

    @classmethod
    def check_device(cls, device: str) -> None:
        if device != "cuda":
            return
        tf = import_tensorflow()
        if not tf.config.list_physical_devices("GPU"):
            raise UsageError(
                f"tensorflow {tf.__version__} here sees no GPU (tensorflow-cpu is installed, "
                "or no NVIDIA GPU is visible)",
                "Install 'tensorflow[and-cuda]' on a machine with an NVIDIA GPU, or use "
                "--device cpu.",
            )

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
        loader: str = "",
    ) -> None:
        """Refuse, before any test, a model this backend cannot run for the task: a
        SavedModel whose serving signature does not fit, a file that is no frozen graph or
        whose placeholders do not fit, or ONNX other than a built-in model."""
        if path.is_file() and path.suffix.lower() != ".onnx":
            check_frozen_graph(path, input_shape, input_dtype)
            return
        if path.is_dir():
            sig = read_signature(path)
            out = pick_output(sig.outputs, output_shape)
            check_signature(
                f"{path} (signature {sig.name!r})",
                [(i.key, i.dtype, i.shape) for i in sig.inputs],
                [(out.key, out.shape)],
                input_shape,
                input_dtype,
                output_shape,
            )
            return
        from perfpilot.backends.tensorflow.builtin import BUILTIN_NAMES, builtin_model

        if path.suffix.lower() == ".onnx" and builtin_model(path, loader) is None:
            raise ModelFileError(
                f"the tensorflow backend cannot run {path}: of ONNX files it runs only the "
                f"built-in {BUILTIN_NAMES}",
                "Give --model-path a SavedModel directory, or run ONNX models with "
                "--backend onnxruntime.",
            )

    def load(self, model_path: Path | None) -> None:
        if model_path is None:
            raise ModelFileError("the tensorflow backend needs a model")
        if model_path.is_dir():
            directory = model_path
        elif model_path.suffix.lower() == ".onnx" and model_path.is_file():
            from perfpilot.backends.tensorflow.builtin import ensure_saved_model

            directory = ensure_saved_model(model_path, loader=self.config.loader)
        elif model_path.is_file():  # a .pb, or the artifact store's hash-named copy of one
            self._open_frozen(model_path)
            return
        elif not model_path.exists():
            raise ModelFileError(f"model not found: {model_path}", "Check --model-path.")
        else:
            raise ModelFileError(
                f"the tensorflow backend cannot run {model_path}: give it a SavedModel "
                "directory (or a built-in model in ONNX)",
                "Export the model with tf.saved_model.save, or pick the backend that reads "
                f"{model_path.suffix or 'this'} files.",
            )
        signature = read_signature(directory)
        if len(signature.inputs) != 1:
            raise ModelFileError(
                f"{directory} has {len(signature.inputs)} inputs; perfpilot feeds exactly one",
                "Export the model with a single input tensor.",
            )
        self._open(directory, signature)

    def _session_config(self) -> Any:
        tf = import_tensorflow()
        if self.config.device == "cuda":
            self.check_device("cuda")
        threads = self.config.threads or 0  # 0: TensorFlow picks
        return tf.compat.v1.ConfigProto(
            # backend_threads sizes both pools. Worker threads sharing the session did
            # not queue behind a small inter-op pool here (2 workers: the same samples/s
            # at inter-op 1 and 2).
            intra_op_parallelism_threads=threads,
            inter_op_parallelism_threads=threads,
            allow_soft_placement=True,
            device_count={"GPU": 0} if self.config.device == "cpu" else {},
        )

    def _open_frozen(self, path: Path) -> None:
        frozen = FrozenGraph(
            path, self._session_config(), self.config.input_names, self.config.output_names
        )
        self._frozen, self._session = frozen, frozen.session

    def _open(self, directory: Path, signature: ServingSignature) -> None:
        tf = import_tensorflow()
        config = self._session_config()
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=config)
        logger = tf.get_logger()
        level = logger.level
        # The v1 loader is the one that loads into a session; its deprecation notice is
        # no news to the user. Errors still raise.
        logger.setLevel(logging.ERROR)
        try:
            with graph.as_default():
                tf.compat.v1.saved_model.loader.load(session, [SERVING_TAG], str(directory))
        except Exception as err:  # TF raises many types (NotFoundError, DataLossError, ...)
            session.close()
            raise ModelFileError(
                f"tensorflow cannot load the SavedModel {directory} ({_reason(err)})",
                "Export it again with tf.saved_model.save and copy the whole folder.",
            ) from err
        finally:
            logger.setLevel(level)
        output = pick_output(signature.outputs, self.config.output_shape)
        self._dtype = np.dtype(signature.inputs[0].dtype)
        self._session = session
        self._run = session.make_callable(output.tensor, [signature.inputs[0].tensor])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        frozen = self._frozen
        if frozen is not None:  # the first output named (ResNet50: ArgMax:0)
            if len(frozen.inputs) != 1:
                raise UsageError(
                    f"this frozen graph has {len(frozen.inputs)} inputs: feed it by name"
                )
            result = frozen.run([batch])[0]
            return result.copy() if np.may_share_memory(result, batch) else result
        run = self._run
        if run is None:
            raise UsageError("the tensorflow backend has no model: call load() first")
        result = np.asarray(run(np.ascontiguousarray(batch, dtype=self._dtype)))
        # The fetched array may wrap TensorFlow's buffer; an identity model would even
        # return the fed one. Outputs must never alias the caller's input.
        if np.may_share_memory(result, batch):
            result = result.copy()
        return result

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """A frozen graph's outputs, in ``output_names`` order, for inputs fed by tensor name
        (``input_ids`` or ``input_ids:0``; cast to the placeholders' dtypes). BERT's graph
        answers one ``logits`` [N, 384, 2]: the harness's stack on a new last axis keeps the
        bytes of each sample as they are (start, end interleaved per token)."""
        frozen = self._frozen
        if frozen is None:
            return super().predict_named(feeds)
        names = list(feeds)
        arrays = [feeds[names[i]] for i in frozen.feed_order(names)]
        return frozen.run(arrays)

    def close(self) -> None:
        session, self._session, self._run = self._session, None, None
        self._frozen = None
        if session is not None:
            session.close()
