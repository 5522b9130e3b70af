"""Rows out of the database: CSV, JSON, and runs in an MLflow tracking store."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from perfpilot.errors import MissingExtraError, PerfpilotError, UsageError
from perfpilot.results.record_rows import ROW_KEYS

CSV_COLUMNS = ROW_KEYS  # config and provenance (JSON cells) come last
ARTIFACTS = (
    "run.json",
    "user.conf",
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "accuracy.txt",
    "child.log",
)
MLFLOW_INSTALL = "pip install 'perfpilot[mlflow]'"


def cell(value: Any) -> str:
    """A row value as text for CSV and tables."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if all(not isinstance(v, (dict, list)) for v in value.values()) and value:
            return ";".join(f"{k}={v}" for k, v in sorted(value.items()))
        return json.dumps(value, sort_keys=True, default=str) if value else ""
    return str(value)


def rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                json.dumps(row[k], sort_keys=True, default=str)
                if k in ("config", "provenance")
                else cell(row[k])
                for k in CSV_COLUMNS
            ]
        )
    return out.getvalue()


def rows_json(rows: Sequence[Any]) -> str:
    return json.dumps(list(rows), indent=2, sort_keys=False, default=str) + "\n"


# ---------------------------------------------------------------- MLflow


@dataclass(frozen=True)
class MlflowExport:
    tracking_uri: str
    experiment: str
    exported: list[str]
    skipped: list[str]  # already in the store (same perfpilot id)


def tracking_location(target: str) -> tuple[str, str | None]:
    """(tracking URI, artifact location) for ``--tracking-uri``: a URI as is; a ``.db`` or
    ``.sqlite`` file as an SQLite store; any other path as a folder holding ``mlflow.db``
    and ``artifacts/``."""
    if "://" in target:
        return target, None
    path = Path(target).expanduser().absolute()
    if path.suffix in (".db", ".sqlite"):
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}", (path.parent / f"{path.stem}-artifacts").as_uri()
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"--tracking-uri {target} is a file but not a .db/.sqlite file",
            "Give a folder, an SQLite file (.db) or a tracking server URI.",
        )
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}", (path / "artifacts").as_uri()


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow and alembic log INFO lines on stderr when they set up a store."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif value is not None:
        out[re.sub(r"[^\w\-. /]", "_", prefix)] = str(value)[:6000]


def _millis(iso: str | None) -> int | None:
    if not iso:
        return None
    for parse in (datetime.fromisoformat, lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            return int(parse(iso).timestamp() * 1000)
        except ValueError:
            continue
    return None


def to_mlflow(
    rows: Sequence[dict[str, Any]], tracking: str, experiment: str = "perfpilot"
) -> MlflowExport:
    """Log each row as an MLflow run: params from its config, metrics, and its logs and
    run.json as artifacts. A row already exported (tag ``perfpilot.id``) is skipped."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        raise MissingExtraError(
            "MLflow is not installed", f"Install it with: {MLFLOW_INSTALL}"
        ) from err
    uri, artifacts = tracking_location(tracking)
    exported: list[str] = []
    skipped: list[str] = []
    try:
        with _quiet():
            client = MlflowClient(uri)
            exp = client.get_experiment_by_name(experiment)
            exp_id = (
                exp.experiment_id
                if exp is not None
                else client.create_experiment(experiment, artifact_location=artifacts)
            )
            for row in rows:
                rid = str(row["id"]).replace("'", "")
                found = client.search_runs(
                    [exp_id], filter_string=f"tags.`perfpilot.id` = '{rid}'", max_results=1
                )
                if found:
                    skipped.append(row["id"])
                    continue
                _log_row(client, exp_id, row)
                exported.append(row["id"])
    except PerfpilotError:
        raise
    except Exception as err:  # MLflow raises many types (MlflowException, SQL errors)
        raise UsageError(
            f"MLflow export to {uri} failed ({type(err).__name__}: {err})",
            "Check --tracking-uri; runs exported before the failure stay exported.",
        ) from err
    return MlflowExport(uri, experiment, exported, skipped)


def _log_row(client: Any, exp_id: str, row: dict[str, Any]) -> None:
    from mlflow.entities import Metric, Param

    tags = {
        "mlflow.runName": row["run_id"] or row["id"],
        "perfpilot.id": row["id"],
        "perfpilot.source": row["source"],
    }
    if row["run_id"]:
        tags["perfpilot.run_id"] = row["run_id"]
    for key in ("model", "scenario", "mode", "backend", "device", "system", "status"):
        if row[key] is not None:
            tags[f"perfpilot.{key}"] = str(row[key])
    for key in ("submitter", "division", "round"):
        if row[key] is not None:
            tags[f"perfpilot.{key}"] = str(row[key])
    for key, value in (row["tags"] or {}).items():
        tags[f"perfpilot.tag.{key}"] = str(value)
    started = _millis(row["started"])
    run = client.create_run(exp_id, start_time=started, tags=tags)
    run_id = run.info.run_id
    params: dict[str, str] = {}
    _flat("", row["config"], params)
    when = started or 0
    metrics = {
        "value": row["value"],
        str(row["metric"] or "value"): row["value"],
        "accuracy": row["accuracy"],
        "p90_ms": row["p90_ms"],
        "p99_ms": row["p99_ms"],
        "ttft_p99_ms": row["ttft_p99_ms"],
        "tpot_p99_ms": row["tpot_p99_ms"],
        "valid": None if row["valid"] is None else float(row["valid"]),
    }
    client.log_batch(
        run_id,
        metrics=[
            Metric(k, float(v), when, 0)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ],
        params=[Param(k, v) for k, v in sorted(params.items())][:100],
        tags=[],
    )
    if len(params) > 100:  # log_batch takes at most 100 params at a time
        items = sorted(params.items())[100:]
        for start in range(0, len(items), 100):
            client.log_batch(run_id, params=[Param(k, v) for k, v in items[start : start + 100]])
    run_dir = Path(row["run_dir"]) if row["run_dir"] else None
    if run_dir is not None and run_dir.is_dir():
        for name in ARTIFACTS:
            if (run_dir / name).is_file():
                client.log_artifact(run_id, os.fspath(run_dir / name))
    client.set_terminated(run_id, status="FINISHED" if row["status"] == "ok" else "FAILED")
