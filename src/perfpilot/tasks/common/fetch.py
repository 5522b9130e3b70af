"""Official model files: fetched into the artifact store from MLCommons' published
mirrors, checked against the published MD5."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from perfpilot.artifacts.download import fetch_from_mirrors


class Official(Protocol):
    """What a download needs of a catalog entry (a ModelSpec)."""

    @property
    def name(self) -> str: ...

    @property
    def urls(self) -> tuple[str, ...]: ...

    @property
    def md5(self) -> str | None: ...

    @property
    def artifact(self) -> str | None: ...


def fetch_model(spec: Official) -> Path:
    """The stored file of ``spec``'s official artifact, trying each mirror in turn."""
    return fetch_from_mirrors(spec.artifact or spec.name, spec.urls, md5=spec.md5, label=spec.name)
