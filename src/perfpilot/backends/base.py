"""The backend interface. It never names a framework."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfpilot.config.run import Precision
from perfpilot.errors import UsageError


class BackendConfig(BaseModel):
    """Settings every backend understands. A backend with options of its own (``perfpilot
    run --backend-option KEY=VALUE``) subclasses this and names it in ``config_class``."""

    # Numbers become text for text fields: "--backend-option name=0" arrives as 0; no
    # option of any backend takes nan or inf ("timeout_s=inf" is not "no timeout").
    model_config = ConfigDict(
        frozen=True, extra="forbid", coerce_numbers_to_str=True, allow_inf_nan=False
    )

    device: str = "cpu"
    threads: int | None = Field(default=None, ge=1)  # the runtime's own (intra-op) threads
    output_shape: tuple[int, ...] = ()  # per-sample output shape the task expects
    precision: Precision = "fp32"  # one of the backend's ``precisions``
    # "module" of the task's loader for this backend's framework (TaskSpec.loaders): the
    # backend builds the task's networks through it, and never imports a task.
    loader: str = ""


def resolve_loader(module: str, name: str) -> Callable[..., object]:
    """Function ``name`` of a task's loader module (imported on first use)."""
    import importlib

    fn: Callable[..., object] = getattr(importlib.import_module(module), name)
    return fn


#: Fields set by perfpilot's own options (--device, --backend-threads, ...), never by
#: --backend-option.
_COMMON = frozenset(BackendConfig.model_fields)


@dataclass(frozen=True)
class CalibrationData:
    """Samples of the run's dataset for backends that quantize (``--precision int8``)."""

    dataset_sha256: str  # identifies the data, e.g. for a cache key
    total_count: int
    samples: Callable[[np.ndarray], np.ndarray]  # indices -> preprocessed batch


class Backend(ABC):
    """Load a model file, then answer batches. Implementations must be thread-safe in
    ``predict`` (the engine calls it from several worker threads)."""

    name: str = "?"
    #: The backend's config: ``BackendConfig`` plus the options only this backend reads.
    config_class: ClassVar[type[BackendConfig]] = BackendConfig
    #: False for backends that never read a model file (null): none is built for them.
    needs_model: bool = True
    #: File suffixes this backend reads; ".onnx" files are checked against the task first.
    model_suffixes: tuple[str, ...] = (".onnx",)
    #: Catalog model formats (``ModelSpec.format``) whose files this backend reads.
    model_formats: tuple[str, ...] = ("onnx",)
    #: Precisions this backend can run a model in (``--precision``); fp32 is the default.
    precisions: tuple[str, ...] = ("fp32",)
    #: Precisions that need samples of the dataset (``use_calibration``) before ``load``.
    calibrated_precisions: tuple[str, ...] = ()
    #: True for generative backends whose ``submit`` returns at once and reports each
    #: sample as it ends (an HTTP client): the engine then completes samples one by one.
    submits: bool = False

    def __init__(self, config: BackendConfig | None = None) -> None:
        self.config = self.make_config(config)
        self.calibration: CalibrationData | None = None

    @classmethod
    def option_names(cls) -> list[str]:
        """The keys ``--backend-option`` takes for this backend: its config's own fields."""
        return [name for name in cls.config_class.model_fields if name not in _COMMON]

    @classmethod
    def make_config(
        cls,
        settings: BackendConfig | None = None,
        options: Mapping[str, object] | None = None,
        defaults: Mapping[str, object] | None = None,
    ) -> BackendConfig:
        """This backend's config from the common ``settings``, the user's ``options``
        (``--backend-option``) and ``defaults`` the engine knows for some backends' fields
        (a catalog model's tensor names): each backend takes the defaults its config
        declares, and options win over them. A bad key or value is a one-line UsageError."""
        if isinstance(settings, cls.config_class) and not options and not defaults:
            return settings
        for key in options or {}:
            if key in _COMMON:
                raise UsageError(
                    f"{key!r} is not a backend option: perfpilot's own options set it",
                    cls._options_hint(),
                )
        fields = cls.config_class.model_fields
        data: dict[str, Any] = {k: v for k, v in (defaults or {}).items() if k in fields}
        if settings is not None:
            data.update(settings.model_dump(exclude_unset=True))
        data.update(options or {})
        try:
            return cls.config_class.model_validate(data)
        except ValidationError as err:
            raise cls._option_error(err) from err

    @classmethod
    def _options_hint(cls) -> str:
        names = cls.option_names()
        if not names:
            return f"Backend {cls.name!r} takes no --backend-option."
        return f"Backend {cls.name!r} takes: {', '.join(names)}."

    @classmethod
    def _option_error(cls, err: ValidationError) -> UsageError:
        first = err.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else None
        if first["type"] == "extra_forbidden":
            return UsageError(
                f"unknown backend option {key!r} for backend {cls.name!r}", cls._options_hint()
            )
        reason = str(first["msg"]).removeprefix("Value error, ")
        if key is None:  # a rule across fields
            return UsageError(f"backend {cls.name!r}: {reason}", cls._options_hint())
        return UsageError(
            f"invalid value {first.get('input')!r} for backend option {key}: "
            f"{reason[:1].lower()}{reason[1:]}",
            cls._options_hint(),
        )

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """Version of the runtime behind this backend."""

    @classmethod
    def check_device(cls, device: str) -> None:
        """Raise a UsageError if ``device`` cannot be used here (checked before any run)."""
        return None

    @classmethod
    def check_model(
        cls,
        path: Path,
        input_shape: tuple[int, ...],
        input_dtype: str,
        output_shape: tuple[int, ...],
        loader: str = "",
    ) -> None:
        """Raise a ModelFileError if the file at ``path`` cannot serve the task (per-sample
        ``input_shape``, ``input_dtype`` and ``output_shape``; ``loader``: the task's loader
        for this backend, see ``BackendConfig.loader``), before any test. The default
        checks nothing: the file is judged when it loads (ONNX files are checked against
        the task by the engine whatever the backend)."""
        return None

    @classmethod
    def preflight(
        cls, config: BackendConfig, model_path: Path | None, probe: np.ndarray | None
    ) -> None:
        """Raise a UsageError if this backend cannot serve the run as configured (a server
        that does not answer, another model served), once in the parent before any test.
        ``probe``: the dataset's most demanding sample where the task names one (a
        generative task's longest prompt), as a batch of one."""
        return None

    @classmethod
    def check_precision(cls, precision: str) -> None:
        """Raise a UsageError if ``precision`` cannot be used here (checked before any run).
        Backends that depend on the hardware for a precision extend this."""
        if precision not in cls.precisions:
            raise UsageError(
                f"backend {cls.name!r} does not support --precision {precision}",
                f"It supports: {', '.join(cls.precisions)}.",
            )

    def use_calibration(self, data: CalibrationData) -> None:
        """Give the backend samples to calibrate on; called before ``load`` when the
        precision is one of ``calibrated_precisions``."""
        self.calibration = data

    @abstractmethod
    def load(self, model_path: Path | None) -> None:
        """Prepare the model for inference."""

    def warmup(self, batch: np.ndarray, rounds: int = 3) -> None:
        """Run a few batches so that first-call costs stay out of measurements."""
        for _ in range(rounds):
            self.predict(batch)

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Outputs for a batch (first axis is the batch)."""

    def predict_named(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output, in the model's order, for a model with several named inputs
        (BERT: ``input_ids``, ``input_mask``, ``segment_ids``). Backends that can feed
        such models override this."""
        raise UsageError(
            f"backend {self.name!r} cannot run models with several named inputs "
            f"({', '.join(feeds)})",
            "Use --backend onnxruntime for this model.",
        )

    def generate(
        self,
        prompts: np.ndarray,
        first_token: Callable[[int, np.ndarray], None] | None = None,
    ) -> list[np.ndarray]:
        """Generated token ids (int32, at least 2 each) for a batch of prompts (a 1-D
        object array of int32 token-id arrays); ``first_token(i, token)`` is called as soon
        as prompt i's first token exists. Generative backends override this."""
        from perfpilot.errors import UsageError

        raise UsageError(
            f"backend {self.name!r} does not generate tokens",
            "Run generative models with a generative backend (see 'perfpilot backends list').",
        )

    @classmethod
    def check_prompts(cls, model_path: Path, longest: int, config: BackendConfig) -> None:
        """Raise a UsageError if the model at ``model_path`` cannot take the dataset's
        longest prompt (``longest`` tokens) with the answer ``config`` allows, before any
        test. The default checks nothing (a server knows its own context)."""
        return None

    def submit(
        self,
        prompts: np.ndarray,
        first_token: Callable[[int, np.ndarray], None] | None,
        finished: Callable[[int, np.ndarray, int], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        """Start generating for a batch of prompts and return at once (backends with
        ``submits``): ``first_token(i, token)`` as prompt i's first token arrives,
        ``finished(i, token_ids, n_tokens)`` as its answer ends, and ``failed(error)``
        once, instead, when samples fail. Callbacks come from the backend's own thread."""
        raise NotImplementedError(f"backend {self.name!r} does not submit asynchronously")

    def close(self) -> None:
        """Release the runtime's resources (most backends need nothing)."""
        return None
