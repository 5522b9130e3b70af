"""The tvm backend's config: the common settings plus opt-in MetaSchedule tuning."""

from __future__ import annotations

from pydantic import Field, model_validator

from perfpilot.backends.base import BackendConfig


class TvmConfig(BackendConfig):
    """``--backend-option tune_trials=N [tune_batch=B]`` tunes the CPU module (see
    ``tune.py``); without ``tune_trials`` the default schedule runs, any batch size."""

    #: Candidate kernels MetaSchedule measures in all, shared by the model's kernels.
    tune_trials: int | None = Field(default=None, ge=1, le=1_000_000)
    #: The one batch size a tuned module is built for; other batches run in chunks of it.
    tune_batch: int = Field(default=1, ge=1, le=65_536)

    @model_validator(mode="after")
    def _tunes_cpu_only(self) -> TvmConfig:
        if self.tune_trials is not None and self.device != "cpu":
            raise ValueError(
                f"tune_trials tunes CPU modules only (device {self.device!r}); "
                "drop it or use --device cpu"
            )
        return self
