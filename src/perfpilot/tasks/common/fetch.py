"""Official model files: fetched into the artifact store from MLCommons' published
mirrors, checked against the published MD5."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from perfpilot.artifacts import cache
from perfpilot.errors import DownloadError, UsageError


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
    name = spec.artifact or spec.name
    failures = []
    for url in spec.urls:
        try:
            return cache.fetch(name, url, md5=spec.md5)
        except DownloadError as err:  # this mirror is unreachable: try the next
            failures.append(err.one_line())
    raise UsageError(
        f"could not download {spec.name!r} from any of its {len(spec.urls)} mirrors "
        f"({'; '.join(failures)})",
        f"Download it elsewhere and add it with: perfpilot cache add FILE --as {name}"
        + (f" --md5 {spec.md5}" if spec.md5 else ""),
    )
