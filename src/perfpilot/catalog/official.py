"""Official model files: fetched into the artifact store from MLCommons' published
mirrors, checked against the published MD5."""

from __future__ import annotations

from pathlib import Path

from perfpilot.artifacts.download import fetch_from_mirrors
from perfpilot.catalog.registry import ModelSpec


def fetch_model(spec: ModelSpec) -> Path:
    """The stored file of ``spec``'s official artifact, trying each mirror in turn."""
    return fetch_from_mirrors(spec.artifact or spec.name, spec.urls, md5=spec.md5, label=spec.name)
