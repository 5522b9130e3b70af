"""The tensorflow backend's config: the common settings plus a frozen graph's tensors."""

from __future__ import annotations

from pydantic import field_validator

from perfpilot.backends.base import BackendConfig


class TensorFlowConfig(BackendConfig):
    """A frozen graph does not say which tensors to feed and fetch: the catalog entry
    names them (``ModelSpec.input_names`` / ``output_names``), or ``--backend-option
    input_names=a:0,b:0`` for your own graph. Empty: the graph's placeholders and its one
    dangling output."""

    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()

    @field_validator("input_names", "output_names", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """A command-line value is one string of comma-separated names."""
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value
