"""``perfpilot dashboard build``: write the static site into a folder, all at once."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from perfpilot.dashboard import export
from perfpilot.dashboard.pages import ExtraPage, LogLink, extra_page_html, index_html, run_html
from perfpilot.errors import MissingExtraError, UsageError
from perfpilot.safepaths import plain_file, plain_folder, tree_files
from perfpilot.workspace import Workspace

MARKER = ".perfpilot-dashboard"
DEFAULT_DIR = "dashboard"
ASSETS = ("app.js", "style.css")
COPY_LIMIT = 5_000_000  # log files larger than this are linked in place, not copied
MAX_LOG_FILES = 200
_PAGE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote."""

    out: Path
    rows: int
    local: int
    published: int
    charts: int
    sweeps: int
    skipped: list[str] = field(default_factory=list)  # run files left out (links, ...)
    pages: list[str] = field(default_factory=list)  # added pages (fleets...), by title


def plotly_js() -> Path:
    """The Plotly bundle that ships inside the ``plotly`` Python package."""
    try:
        import plotly
    except ImportError as err:
        raise MissingExtraError(
            "the dashboard needs plotly, which is not installed",
            "Install it with: pip install 'perfpilot[dashboard]'",
        ) from err
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not bundle.is_file():
        raise MissingExtraError(
            f"the plotly package has no plotly.min.js at {bundle}",
            "Reinstall it: pip install --force-reinstall 'perfpilot[dashboard]'",
        )
    return bundle


def check_out_dir(out: Path) -> None:
    """Refuse to replace a folder that is not a dashboard perfpilot built."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a folder", "Pass a folder to --out.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(
            f"{out} is not empty and holds no perfpilot dashboard",
            "Pass a new or empty folder to --out; perfpilot replaces only its own dashboards.",
        )


def _log_links(
    run_dir: Path, stem: str, site: Path, final_out: Path
) -> tuple[list[LogLink], str, list[str]]:
    """Copy a run's (smaller) files into the site; link larger ones where they lie. Also
    what was left out (links, special files), as lines."""
    found = tree_files(run_dir)  # never through a link: nothing from outside is published
    files = found.files
    note = ""
    if len(files) > MAX_LOG_FILES:
        note = f"{len(files) - MAX_LOG_FILES} more file(s) in {run_dir} are not listed."
        files = files[:MAX_LOG_FILES]
    links = []
    for path in files:
        rel = path.relative_to(run_dir).as_posix()
        size = path.stat().st_size
        if size <= COPY_LIMIT:
            target = site / "logs" / stem / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            href = f"../logs/{stem}/{rel}"
            copied = True
        else:
            href = Path(os.path.relpath(path, final_out / "runs")).as_posix()
            copied = False
        links.append(LogLink(rel, _quote(href), size, copied))
    if not note:
        note = f"Copied from {run_dir}; files over {COPY_LIMIT:,} bytes are linked in place."
    if found.skipped:
        left = "; ".join(s.line(run_dir) for s in found.skipped[:5])
        more = f" and {len(found.skipped) - 5} more" if len(found.skipped) > 5 else ""
        note += f" Not published: {left}{more}."
    return links, note, [s.line() for s in found.skipped]


def _quote(href: str) -> str:
    from urllib.parse import quote

    return quote(href, safe="/._-~")


def _read_record(run_dir: Path) -> dict[str, Any] | None:
    if not plain_file(run_dir / "run.json"):
        return None
    try:
        data = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def build_site(
    rows: list[dict[str, Any]],
    sweeps: list[str],
    out: Path,
    pareto: export.ParetoFn,
    title: str = "perfpilot results",
    extra_pages: Sequence[ExtraPage] = (),
) -> BuildReport:
    """Write the dashboard for ``rows`` into ``out``, replacing an earlier build at once.

    The site is made in a temporary folder beside ``out`` and swapped in only when
    complete: an interrupted build leaves the previous dashboard as it was.
    ``extra_pages`` (a fleet report, say) are written under ``pages/`` and linked from
    the index.
    """
    out = out.absolute()
    check_out_dir(out)
    for page in extra_pages:
        if not _PAGE_NAME.fullmatch(page.name):
            raise ValueError(f"page name {page.name!r}: use letters, digits, '-' and '_'")
    bundle = plotly_js()
    out.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time per folder (a lock on the folder that holds it, leaving no lock
    # file behind); under the lock, what a killed build left is removed.
    fd = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _remove_leftovers(out)
        return _build_locked(rows, sweeps, out, pareto, title, bundle, extra_pages)
    finally:
        os.close(fd)  # releases the lock


def _remove_leftovers(out: Path) -> None:
    """The temporary folders of an earlier build that was killed before it cleaned up."""
    for pattern in (f".{out.name}.building-*", f".{out.name}.old-*"):
        for stale in out.parent.glob(pattern):
            if plain_folder(stale):
                shutil.rmtree(stale, ignore_errors=True)


def _build_locked(
    rows: list[dict[str, Any]],
    sweeps: list[str],
    out: Path,
    pareto: export.ParetoFn,
    title: str,
    bundle: Path,
    extra_pages: Sequence[ExtraPage],
) -> BuildReport:
    skipped: list[str] = []
    site = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        pages = export.page_names(rows)
        generated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        data = export.site_data(rows, sweeps, pareto, pages, generated)
        shutil.copyfile(bundle, site / "plotly.min.js")
        assets = resources.files("perfpilot.dashboard") / "assets"
        for name in ASSETS:
            _write(site / name, (assets / name).read_text(encoding="utf-8"))
        _write(site / "data.json", json.dumps(data, indent=1, sort_keys=True, default=str))
        _write(site / "index.html", index_html(export.script_json(data), title, extra_pages))
        for page in extra_pages:
            _write(site / "pages" / f"{page.name}.html", extra_page_html(page, title))
        for row, entry in zip(rows, data["rows"], strict=True):
            stem = pages[entry["key"]]
            run_dir = Path(str(row["run_dir"])) if row.get("run_dir") else None
            record = None
            links: list[LogLink] = []
            note = "This row has no run folder."
            if run_dir is not None and run_dir.is_dir():
                record = _read_record(run_dir) if entry["source"] != "published" else None
                links, note, left_out = _log_links(run_dir, stem, site, out)
                skipped.extend(left_out)
            elif run_dir is not None:
                note = f"The run folder {run_dir} is gone."
            full = {**row, **entry}
            _write(site / "runs" / f"{stem}.html", run_html(full, record, links, note, stem))
            detail = {"row": entry, "config": row.get("config"), "record": record}
            detail["provenance"] = row.get("provenance")
            _write(
                site / "runs" / f"{stem}.json",
                json.dumps(detail, indent=1, sort_keys=True, default=str),
            )
        _write(site / MARKER, f"schema_version {export.SCHEMA_VERSION}\n")
        _swap(site, out)
    except BaseException:
        shutil.rmtree(site, ignore_errors=True)
        raise
    return BuildReport(
        out=out,
        rows=len(rows),
        local=data["counts"]["local"],
        published=data["counts"]["published"],
        charts=len(data["charts"]),
        sweeps=len(data["sweeps"]),
        skipped=skipped,
        pages=[page.title for page in extra_pages],
    )


def _swap(site: Path, out: Path) -> None:
    """Put the finished ``site`` in the place of ``out`` (two renames)."""
    os.chmod(site, 0o755)  # mkdtemp makes it private
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}-{time.time_ns()}"
        os.replace(out, old)
    try:
        os.replace(site, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)


def run_pages(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Local run id -> the stem of its run page (as :func:`build_site` names them)."""
    names = export.page_names(rows)
    return {
        str(row["run_id"]): names[export.row_key(row)]
        for row in rows
        if row.get("run_id") and row.get("source", "local") == "local"
    }


def build_dashboard(
    workspace: Workspace,
    out: Path | None = None,
    db: str | os.PathLike[str] | None = None,
    home: str | None = None,
    extra_pages: Sequence[ExtraPage] = (),
    fleet_threshold: float = 10.0,
) -> BuildReport:
    """Build the dashboard of a workspace (default folder: ``<workspace>/dashboard``);
    ``db``: show that database only; ``home``: the user's database (a file or URL) in
    place of the workspace's file; ``extra_pages`` are added and linked from the index
    (see :class:`ExtraPage`). Without ``db``, each fleet of the workspace gets a page
    (``fleet report``'s figures; ``fleet_threshold``: its outliers' percent)."""
    from perfpilot.dashboard.fleet_page import fleet_pages
    from perfpilot.dashboard.rows import load_rows
    from perfpilot.tune.pareto import pareto_front

    records = workspace.records() if db is None else []  # read once: rows and fleets
    rows, sweeps = load_rows(workspace, db, home, records)
    pages = list(extra_pages)
    # fleets come from the run records, as 'fleet report' reads them
    if any(record.tags.get("fleet") for record in records):
        pages += fleet_pages(records, fleet_threshold, run_pages(rows))
    target = out if out is not None else workspace.root / DEFAULT_DIR
    return build_site(rows, sweeps, target, pareto_front, extra_pages=pages)
