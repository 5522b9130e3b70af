"""One table of tasks and one of models. Specs name code as ``"module:object"`` strings,
so reading the catalog imports no framework."""

from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from perfpilot.errors import UsageError


class Dataset(Protocol):
    """What the engine needs of a dataset: sizes, identity and preprocessed samples."""

    name: str
    total_count: int
    performance_count: int

    def sha256(self) -> str: ...

    def samples(self, indices: np.ndarray) -> np.ndarray: ...

    def labels(self) -> np.ndarray: ...


@dataclass(frozen=True)
class TaskSpec:
    """A task: its input and output signature, dataset, metric and target."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    input_dtype: str
    output_shape: tuple[int, ...]
    dataset: str  # "module:callable" returning a Dataset
    metric: str
    accuracy_target: float  # percent
    server_latency_ms: int  # the Server latency bound LoadGen enforces
    needs_dataset_path: bool = False  # True when the user supplies the data (--dataset-path)
    # Models with several named inputs (BERT): samples stack them on axis 1, in this order.
    input_names: tuple[str, ...] = ()
    runnable: bool = True  # False: a catalog entry whose dataset reader is not written yet
    # The LoadGen scenarios MLPerf defines for the task (3D-UNet: Offline, SingleStream).
    scenarios: tuple[str, ...] = ("Offline", "Server", "SingleStream", "MultiStream")
    # Keyword options for the dataset callable; set by :func:`model_task` from the model's
    # ``dataset_options`` (ImageNet: layout NHWC, MobileNet preprocessing).
    dataset_options: tuple[tuple[str, str], ...] = ()

    def load_dataset(self, path: Path | None = None, size: int | None = None) -> Dataset:
        """Import and build the task's dataset (from ``path`` for user-supplied data, its
        first ``size`` samples when given)."""
        obj: Any = _resolve(self.dataset)
        if self.dataset_options:
            obj = functools.partial(obj, **dict(self.dataset_options))
        if self.needs_dataset_path:
            if path is None:
                raise UsageError(
                    f"task {self.name!r} needs its dataset folder",
                    "Pass --dataset-path DIR (for ImageNet: the validation images and "
                    "val_map.txt; 'perfpilot dataset synthetic-imagenet DIR' makes a stand-in. "
                    "For SQuAD: dev-v1.1.json and vocab.txt; 'perfpilot dataset "
                    "synthetic-squad DIR'. For LibriSpeech: dev-clean-wav.json and "
                    "dev-clean-wav/; 'perfpilot dataset synthetic-librispeech DIR'. For "
                    "Criteo: the day_23_* multi-hot files; 'perfpilot dataset "
                    "synthetic-criteo DIR').",
                )
            return obj(path, size)  # type: ignore[no-any-return]
        if path is not None:
            raise UsageError(
                f"task {self.name!r} uses its built-in dataset; --dataset-path does not apply"
            )
        return obj(size=size)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ModelSpec:
    """A model: the task it solves, where its file comes from, its LoadGen name."""

    name: str
    task: str
    description: str
    format: str
    loadgen_name: str  # model name used for keys in mlperf.conf / user.conf
    provider: str  # "module:callable" returning the model file's Path
    # How the first output becomes a class index: "argmax" over scores, or
    # "index-1" / "index" for a model that outputs the class (1001-class models: -1).
    postprocess: str = "argmax"
    standin: bool = False  # random weights: speed only, accuracy not judged
    # Official artifacts: mirrors tried in order, the MD5 MLCommons publishes, and the
    # name the file gets in the artifact store.
    urls: tuple[str, ...] = ()
    md5: str | None = None
    artifact: str | None = None
    # Where a model differs from its task: its own input names (same order as the task's)
    # and its own accuracy target (bert-99 / bert-99.9 share the squad task).
    input_names: tuple[str, ...] = ()
    accuracy_target: float | None = None
    runnable: bool = True  # False: facts only (artifact, checksum, target); cannot run yet
    open_only: bool = False  # not a closed-division model (e.g. MobileNet since v0.7)
    # Graph tensors to fetch, for files that do not name their outputs (TensorFlow frozen
    # graphs, whose tensors to feed are ``input_names``).
    output_names: tuple[str, ...] = ()
    # The samples this model's file wants, as keyword options of its task's dataset:
    # ("layout", "NHWC") for channels-last graphs, ("preprocess", "mobilenet"). See
    # :func:`model_task`.
    dataset_options: tuple[tuple[str, str], ...] = ()
    # Where the model's per-sample output differs from its task's (the TorchVision ResNet50:
    # 1000 classes, not the TF/ONNX model's 1001); applied by :func:`model_task`.
    output_shape: tuple[int, ...] = ()

    def ensure_file(self) -> Path:
        """Build or fetch the model file (cached) and return its path."""
        if self.urls:
            from perfpilot.catalog.official import fetch_model

            return fetch_model(self)
        if not self.provider:  # e.g. DLRM-v2: the official weights cannot be fetched
            raise UsageError(
                f"model {self.name!r} has no download perfpilot can fetch",
                "Pass your model file with --model-path FILE.",
            )
        obj: Any = _resolve(self.provider)
        return obj()  # type: ignore[no-any-return]


def _resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


TASKS: dict[str, TaskSpec] = {
    "digits": TaskSpec(
        name="digits",
        description="8x8 handwritten digits shipped with scikit-learn (360 held-out images)",
        input_shape=(1, 8, 8),
        input_dtype="float32",
        output_shape=(10,),
        dataset="perfpilot.catalog.builtin:DigitsDataset",
        metric="top-1",
        accuracy_target=97.0,
        server_latency_ms=10,
    ),
    "imagenet": TaskSpec(
        name="imagenet",
        description="ImageNet 2012 validation (user folder: images + val_map.txt)",
        input_shape=(3, 224, 224),
        input_dtype="float32",
        output_shape=(1001,),
        dataset="perfpilot.catalog.imagenet:ImagenetDataset",
        metric="top-1",
        accuracy_target=round(76.46 * 0.99, 4),  # the checker's ("acc", 76.46 * 0.99)
        server_latency_ms=15,
        needs_dataset_path=True,
    ),
    "squad": TaskSpec(
        name="squad",
        description="SQuAD v1.1 dev (user folder: dev-v1.1.json + vocab.txt), 384-token features",
        input_shape=(3, 384),
        input_dtype="int64",
        output_shape=(384, 2),
        dataset="perfpilot.catalog.squad:SquadDataset",
        metric="F1",
        accuracy_target=round(90.874 * 0.99, 5),  # the checker's ("F1", 90.874 * 0.99)
        server_latency_ms=130,
        needs_dataset_path=True,
        input_names=("input_ids", "input_mask", "segment_ids"),
    ),
}

MODELS: dict[str, ModelSpec] = {
    "digits-cnn": ModelSpec(
        name="digits-cnn",
        task="digits",
        description="built-in CNN trained by perfpilot (works offline)",
        format="onnx",
        loadgen_name="digits-cnn",
        provider="perfpilot.catalog.builtin:ensure_digits_cnn",
    ),
    "resnet50": ModelSpec(
        name="resnet50",
        task="imagenet",
        description="MLPerf ResNet50 v1.5, official ONNX fp32 (opset 11), 76.456% top-1",
        format="onnx",
        loadgen_name="resnet50",
        provider="",
        postprocess="index-1",
        urls=(
            "https://zenodo.org/record/4735647/files/resnet50_v1.onnx",
            "https://armi.in/files/resnet50_v1_op11/resnet50_v1.onnx",
        ),
        md5="f6a4da60cd5f084d97efc2c1ddb10beb",
        artifact="resnet50-v1.5-onnx-fp32-opset11",
    ),
    "resnet50-standin": ModelSpec(
        name="resnet50-standin",
        task="imagenet",
        description="ResNet50 v1.5 architecture and ONNX signature, random weights (offline)",
        format="onnx",
        loadgen_name="resnet50",
        provider="perfpilot.catalog.builtin:ensure_resnet50_standin",
        postprocess="index-1",
        standin=True,
    ),
    **{
        name: ModelSpec(
            name=name,
            task="squad",
            description=f"MLPerf BERT-large SQuAD, official ONNX {kind} ({note})",
            format="onnx",
            loadgen_name="bert",
            provider="",
            postprocess="squad-logits",
            urls=urls,
            md5=md5,
            artifact=artifact,
            input_names=inputs,
            accuracy_target=target,
        )
        for name, kind, note, urls, md5, artifact, inputs, target in (
            (
                "bert-99",
                "fp32",
                "opset 11, 90.874% F1; target 99%",
                (
                    "https://zenodo.org/record/3733910/files/model.onnx",
                    "https://armi.in/files/model.onnx",
                ),
                "819b25b19cd8e59080c10892689750ca",
                "bert-large-squad-onnx-fp32",
                (),
                None,
            ),
            (
                "bert-99.9",
                "fp32",
                "opset 11, 90.874% F1; target 99.9%",
                (
                    "https://zenodo.org/record/3733910/files/model.onnx",
                    "https://armi.in/files/model.onnx",
                ),
                "819b25b19cd8e59080c10892689750ca",
                "bert-large-squad-onnx-fp32",
                (),
                round(90.874 * 0.999, 6),
            ),
            (
                "bert-99-int8",
                "int8",
                "fake-quant, 90.067% F1; target 99% of fp32",
                (
                    "https://zenodo.org/record/3750364/files/bert_large_v1_1_fake_quant.onnx",
                    "https://armi.in/files/bert_large_v1_1_fake_quant.onnx",
                    "https://mlperf-public.s3.us-west-2.amazonaws.com/"
                    "bert_large_v1_1_fake_quant.onnx",
                ),
                "45f88ffb2915362242703c85c38ec2d4",
                "bert-large-squad-onnx-int8",
                ("input_ids", "attention_mask", "token_type_ids"),
                None,
            ),
        )
    },
    "bert-99-pytorch": ModelSpec(
        name="bert-99-pytorch",
        task="squad",
        description="MLPerf BERT-large SQuAD, official PyTorch fp32 state dict (HF "
        "BertForQuestionAnswering layout, --backend pytorch), 90.874% F1",
        format="pytorch",
        loadgen_name="bert",
        provider="",
        postprocess="squad-logits",
        urls=(
            "https://zenodo.org/record/3733896/files/model.pytorch",
            "https://armi.in/files/fp32/model.pytorch",
        ),
        md5="00fbcbfaebfa20d87ac9885120a6e9b4",
        artifact="bert-large-squad-pytorch-fp32",
    ),
    "bert-99-tensorflow": ModelSpec(
        name="bert-99-tensorflow",
        task="squad",
        description="MLPerf BERT-large SQuAD, official TensorFlow frozen graph fp32 "
        "(--backend tensorflow; int32 inputs, batch 1, output logits [N, 384, 2])",
        format="tensorflow",
        loadgen_name="bert",
        provider="",
        postprocess="squad-logits",
        urls=("https://zenodo.org/record/3939747/files/model.pb",),
        md5="dd72de12e8226f25f0128a1a864b97ad",
        artifact="bert-large-squad-tf-fp32",
        # language/bert/tf_SUT.py feeds these and fetches logits:0
        input_names=("input_ids:0", "input_mask:0", "segment_ids:0"),
        output_names=("logits:0",),
    ),
    "bert-standin": ModelSpec(
        name="bert-standin",
        task="squad",
        description="BERT-large architecture and ONNX signature, random weights (offline)",
        format="onnx",
        loadgen_name="bert",
        provider="perfpilot.catalog.bert:ensure_bert_standin",
        postprocess="squad-logits",
        standin=True,
    ),
    "bert-standin-tiny": ModelSpec(
        name="bert-standin-tiny",
        task="squad",
        description="small BERT stand-in (2 layers, hidden 128; NOT BERT-large): tests",
        format="onnx",
        loadgen_name="bert",
        provider="perfpilot.catalog.bert:ensure_bert_standin_tiny",
        postprocess="squad-logits",
        standin=True,
    ),
}


def not_runnable(path: Path | None = None, size: int | None = None) -> Dataset:
    """The dataset of a task perfpilot lists but cannot run yet."""
    raise UsageError(
        "this task's dataset reader is not written yet: perfpilot lists it (artifacts, "
        "checksums, targets) but cannot run it",
        "See 'perfpilot models list' for the runnable models.",
    )


def get_model(name: str) -> ModelSpec:
    """The catalog entry for ``name``, or a usage error listing the known models."""
    try:
        return MODELS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(MODELS), n=3, cutoff=0.5)
        raise UsageError(
            f"unknown model {name!r}",
            (f"Did you mean {' or '.join(close)}? " if close else "")
            + "'perfpilot models list' shows the catalog.",
        ) from None


def get_task(name: str) -> TaskSpec:
    """The task spec for ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}", f"Choose one of: {', '.join(TASKS)}.") from None


def model_task(model: ModelSpec) -> TaskSpec:
    """``model``'s task as its file sees it: the dataset built with the model's
    ``dataset_options``, and for ``("layout", "NHWC")`` the per-sample input shape
    channels-last ((3, 224, 224) -> (224, 224, 3)), so that model checks and samples agree.
    The transpose happens once, when the dataset's samples are preprocessed and cached."""
    task = get_task(model.task)
    if model.output_shape:
        task = dataclasses.replace(task, output_shape=model.output_shape)
    if not model.dataset_options:
        return task
    shape = task.input_shape
    if dict(model.dataset_options).get("layout") == "NHWC" and len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])
    return dataclasses.replace(task, input_shape=shape, dataset_options=model.dataset_options)


# The rest of the classic suite. RetinaNet runs (official ONNX, or the user's model through
# --model-path) on the OpenImages MLPerf folder, 3D-UNet on the reference's preprocessed
# KiTS19 folder, RNN-T (pytorch) on the reference's LibriSpeech wav folder, DLRM-v2 on
# the reference's multi-hot Criteo day-23 files (the user's model through --model-path, or
# the stand-in). Entries with ``runnable=False`` are facts only (artifacts, checksums).
TASKS.update(
    {
        "openimages": TaskSpec(
            name="openimages",
            description="OpenImages v6 MLPerf subset, 800x800 (user folder: annotations/ "
            "openimages-mlperf.json + validation/data/)",
            input_shape=(3, 800, 800),
            input_dtype="float32",
            output_shape=(-1, 4),  # boxes [N, 4], labels [N], scores [N] for one image
            dataset="perfpilot.catalog.openimages:OpenImagesDataset",
            metric="mAP",
            accuracy_target=round(37.55 * 0.99, 4),  # the checker's ("mAP", 37.55 * 0.99)
            server_latency_ms=100,
            needs_dataset_path=True,
        ),
        "kits19": TaskSpec(
            name="kits19",
            description="KiTS19 kidney tumour segmentation, 43 cases (user folder: the "
            "reference preprocess.py output, preprocessed_files.pkl + case_XXXXX.pkl)",
            input_shape=(1, 128, 128, 128),
            input_dtype="float32",
            output_shape=(3, 128, 128, 128),
            dataset="perfpilot.catalog.kits19:Kits19Dataset",
            metric="DICE",
            accuracy_target=round(0.86170 * 0.99 * 100, 4),  # ("DICE", 0.86170 * 0.99)
            server_latency_ms=0,  # no Server scenario for 3d-unet
            needs_dataset_path=True,
            scenarios=("Offline", "SingleStream"),
        ),
        "criteo": TaskSpec(
            name="criteo",
            description="Criteo 1TB click logs, multi-hot day 23 (user folder: the MLPerf "
            "preprocessed day_23_dense/sparse_multi_hot/labels files); samples of 100-700 rows",
            input_shape=(13,),  # per row: dense float32 [13] + sparse int64 [214] (criteo.py)
            input_dtype="float32",
            output_shape=(1,),
            dataset="perfpilot.catalog.criteo:CriteoDataset",
            metric="AUC",
            accuracy_target=round(80.31 * 0.99, 4),  # ("AUC", 80.31 * 0.99)
            server_latency_ms=60,
            needs_dataset_path=True,
            input_names=("dense_features", "sparse_features"),  # see catalog/dlrm_graph.py
        ),
        "librispeech": TaskSpec(
            name="librispeech",
            description="LibriSpeech dev-clean, clips up to 15 s (RNN-T, retired; user "
            "folder: dev-clean-wav.json + dev-clean-wav/ as convert_librispeech.py writes)",
            input_shape=(-1,),  # one waveform, 16 kHz float32, of its own length
            input_dtype="float32",
            output_shape=(-1,),  # label indices, int64, as many as decoded
            dataset="perfpilot.catalog.librispeech:LibriSpeechDataset",
            metric="100-WER",  # accuracy_eval.py's "accuracy=" (100 - WER), what the checker reads
            accuracy_target=round((100 - 7.452) * 0.99, 4),  # ("WER", (100 - 7.452) * 0.99)
            server_latency_ms=1000,
            needs_dataset_path=True,
            scenarios=("Offline", "Server", "SingleStream"),  # the reference's run.py
        ),
    }
)

MODELS.update(
    {
        "retinanet": ModelSpec(
            name="retinanet",
            task="openimages",
            description="MLPerf RetinaNet 800x800 (ResNeXt50-FPN), official ONNX fp32, batch 1, "
            "0.3757 mAP",
            format="onnx",
            loadgen_name="retinanet",
            provider="",
            postprocess="retinanet",
            urls=(
                "https://zenodo.org/record/6617879/files/resnext50_32x4d_fpn.onnx",
                "https://armi.in/files/resnext50_32x4d_fpn.onnx",
                "https://storage.googleapis.com/resnet50_assets/resnext50_32x4d_fpn.onnx",
            ),
            md5="4544f4e56e0a4684215831cc937ea45c",
            artifact="retinanet-onnx-fp32",
        ),
        "retinanet-pytorch": ModelSpec(
            name="retinanet-pytorch",
            task="openimages",
            description="MLPerf RetinaNet 800x800 (ResNeXt50-FPN), official PyTorch fp32 "
            "(--backend pytorch, batch 1; the pickled model's tensors, read without its "
            "code, or a state dict), 0.3755 mAP",
            format="pytorch",
            loadgen_name="retinanet",
            provider="",
            postprocess="retinanet",
            urls=(
                "https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth",
                "https://armi.in/files/resnext50_32x4d_fpn.pth",
            ),
            md5="a55f6bec3464f605ce8d686da8ac1533",
            artifact="retinanet-pytorch-fp32",
            input_names=("image",),  # the reference profile's input; batch 1 (Detections)
        ),
        "resnet50-pytorch": ModelSpec(
            name="resnet50-pytorch",
            task="imagenet",
            description="MLPerf ResNet50 v1.5, official PyTorch fp32 TorchVision state dict "
            "(--backend pytorch; 1000 classes, torchvision preprocessing), 76.014%",
            format="pytorch",
            loadgen_name="resnet50",
            provider="",
            postprocess="argmax",
            urls=("https://zenodo.org/record/4588417/files/resnet50-19c8e357.pth",),
            md5="9e9c86b324d80e65229fab49b8d9a8e8",
            artifact="resnet50-v1.5-pytorch-fp32",
            # The reference's "imagenet_pytorch" dataset: pre_process_imagenet_pytorch (PIL
            # resize 256, crop 224, / 255, ImageNet mean/std, NCHW), PostProcessArgMax(0).
            dataset_options=(("preprocess", "pytorch"),),
            output_shape=(1000,),
        ),
        "resnet50-tf": ModelSpec(
            name="resnet50-tf",
            task="imagenet",
            description="MLPerf ResNet50 v1.5, official TensorFlow frozen graph fp32 NHWC, "
            "76.456% (--backend tensorflow; samples cached channels-last)",
            format="tensorflow",
            loadgen_name="resnet50",
            provider="",
            postprocess="index-1",
            urls=(
                "https://zenodo.org/record/2535873/files/resnet50_v1.pb",
                "https://armi.in/files/resnet50_v1.pb",
            ),
            md5="7b94a2da05dd30f6c0af23a46bc08886",
            artifact="resnet50-v1.5-tf-fp32",
            # The reference's "resnet50-tf" profile
            input_names=("input_tensor:0",),
            output_names=("ArgMax:0",),
            dataset_options=(("layout", "NHWC"),),
        ),
        "mobilenet": ModelSpec(
            name="mobilenet",
            task="imagenet",
            description="MobileNet v1 1.0/224, ONNX fp32 opset 11, 71.676% (open division "
            "only: retired from closed since v0.7; no published checksum)",
            format="onnx",
            loadgen_name="mobilenet",
            provider="",
            # The reference's PostProcessArgMax(offset=-1): argmax of 1001 scores, minus 1
            postprocess="index-1",
            urls=("https://zenodo.org/record/4735651/files/mobilenet_v1_1.0_224.onnx",),
            artifact="mobilenet-v1-onnx-fp32-opset11",
            accuracy_target=round(71.676 * 0.98, 4),  # the v0.5 checker's 98% rule
            open_only=True,
            # pre_process_mobilenet; the ONNX input is NCHW (tf2onnx --inputs-as-nchw input:0)
            dataset_options=(("preprocess", "mobilenet"),),
        ),
        **{
            f"3d-unet-{level}": ModelSpec(
                name=f"3d-unet-{level}",
                task="kits19",
                description=f"MLPerf 3D-UNet KiTS19, official ONNX fp32 dynamic batch, mean "
                f"DICE 0.86170; target {level}%",
                format="onnx",
                loadgen_name="3d-unet",
                provider="",
                postprocess="kits19",  # sliding window over each case, uint8 labels
                urls=(
                    "https://zenodo.org/record/5597155/files/"
                    "3dunet_kits19_128x128x128_dynbatch.onnx?download=1",
                ),
                md5="82f0618fde78f9839e7c712274019b4a",
                artifact="3d-unet-kits19-onnx-fp32-dynbatch",
                accuracy_target=round(86.170 * factor, 4),
            )
            for level, factor in (("99", 0.99), ("99.9", 0.999))
        },
        "3d-unet-standin-tiny": ModelSpec(
            name="3d-unet-standin-tiny",
            task="kits19",
            description="tiny 3D-UNet stand-in (pool, 2 convs, upsample; NOT the MLPerf 3D-UNet): "
            "official ONNX signature, random weights: tests",
            format="onnx",
            loadgen_name="3d-unet",
            provider="perfpilot.catalog.unet3d:ensure_unet_standin_tiny",
            postprocess="kits19",
            standin=True,
        ),
        **{
            f"dlrm-v2-{level}": ModelSpec(
                name=f"dlrm-v2-{level}",
                task="criteo",
                description=f"MLPerf DLRM-v2 (DCNv2), official TorchRec sharded fp32 weights "
                f"(97 GB, MLCommons R2 downloader, no checksum published), AUC 80.31%; target "
                f"{level}%; runs your ONNX export given with --model-path",
                format="pytorch",
                loadgen_name="dlrm-v2",
                provider="",  # no download: --model-path is required
                postprocess="dlrm",
                accuracy_target=round(80.31 * factor, 4),
            )
            for level, factor in (("99", 0.99), ("99.9", 0.999))
        },
        "dlrm-v2-standin-tiny": ModelSpec(
            name="dlrm-v2-standin-tiny",
            task="criteo",
            description="small DLRM-DCNv2 stand-in (26 tables of <= 1000 rows, dim 16; NOT the "
            "MLPerf model): the criteo ONNX signature, random weights: tests",
            format="onnx",
            loadgen_name="dlrm-v2",
            provider="perfpilot.catalog.dlrm_graph:ensure_dlrm_standin_tiny",
            postprocess="dlrm",
            standin=True,
        ),
        "rnnt": ModelSpec(
            name="rnnt",
            task="librispeech",
            description="MLPerf RNN-T (retired), official PyTorch fp32 checkpoint, WER 7.452% "
            "(--backend pytorch; no checksum published)",
            format="pytorch",
            loadgen_name="rnnt",
            provider="",
            postprocess="rnnt",  # greedy transcripts, int64 label indices per utterance
            urls=(
                "https://zenodo.org/record/3662521/files/"
                "DistributedDataParallel_1576581068.9962234-epoch-100.pt?download=1",
            ),
            artifact="rnnt-pytorch-fp32",
        ),
        "rnnt-standin-tiny": ModelSpec(
            name="rnnt-standin-tiny",
            task="librispeech",
            description="tiny RNN-T stand-in (encoder 48, prediction 32, joint 32; NOT the "
            "MLPerf RNN-T): the official checkpoint layout, random weights: tests",
            format="pytorch",
            loadgen_name="rnnt",
            provider="perfpilot.catalog.librispeech:ensure_rnnt_standin_tiny",
            postprocess="rnnt",
            standin=True,
        ),
    }
)
