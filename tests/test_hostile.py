"""Bad input, as a hostile user types it, through the real ``perfpilot`` command: every
command refuses it before anything runs, with one line on stderr (no traceback), exit
code 2, and nothing written to the workspace or beside the files it was given."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FIXTURE, needs_fixture, run_cli

BINARY = b"name: x\n\xff\xfe\x00\x81 binary\n"
DEEP_JSON = "[" * 200_000 + "]" * 200_000


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


def _files(**named: str | bytes) -> Callable[[Path], None]:
    """A setup writing each ``name=data`` (``__`` in a name stands for ``/``)."""

    def setup(root: Path) -> None:
        for name, data in named.items():
            _write(root / name.replace("__", "/"), data)

    return setup


def _profile(body: str) -> Callable[[Path], None]:
    head = "name: p\nmodel: digits-cnn\nbackend: onnxruntime\ndevice: cpu\n"
    return _files(**{"p.yaml": head + body})


def _sweep(body: str) -> Callable[[Path], None]:
    return _files(**{"s.yaml": body})


def _tree(scenario_files: dict[str, str | bytes], system: str | bytes = "{}") -> Callable:
    """A submission tree ``t/closed/Acme`` with one resnet50 Offline result folder."""

    def setup(root: Path) -> None:
        sub = root / "t" / "closed" / "Acme"
        _write(sub / "systems" / "sys.json", system)
        scen = sub / "results" / "sys" / "resnet50" / "Offline"
        scen.mkdir(parents=True)
        for name, data in scenario_files.items():
            _write(scen / name, data)

    return setup


def _campaign(data: str | bytes) -> Callable[[Path], None]:
    return _files(**{"ws__campaigns__c.json": data, "sys.json": "{}"})


SYSTEM_HEAD = "system_name: x\n"
OPENAI = ["run", "--backend", "openai", "--model", "llama3.1-8b", "--mode", "performance"]

# (id, arguments after --workspace ws, setup, exit code, words the error line must hold)
CASES: list[tuple[str, list[str], Callable[[Path], None] | None, int, str]] = [
    # -- run: numbers ----------------------------------------------------------------------
    ("run-duration-nan", ["run", "--min-duration", "nan"], None, 2, "'--min-duration': 'nan'"),
    ("run-duration-inf", ["run", "--min-duration", "inf"], None, 2, "not a finite number"),
    ("run-duration-huge", ["run", "--min-duration", "1e12"], None, 2, "'--min-duration'"),
    ("run-count-huge", ["run", "--count", "9999999999999"], None, 2, "'--count'"),
    ("run-count-zero", ["run", "--count", "0"], None, 2, "'--count'"),
    ("run-qps-nan", ["run", "--target-qps", "nan"], None, 2, "'--target-qps': 'nan'"),
    ("run-qps-overflow", ["run", "--target-qps", "1e400"], None, 2, "not a finite number"),
    ("run-latency-inf", ["run", "--target-latency-ms", "-inf"], None, 2, "--target-latency-ms"),
    ("run-wait-nan", ["run", "--max-wait-ms", "nan"], None, 2, "'--max-wait-ms'"),
    ("run-batch-huge", ["run", "--batch-size", "9999999999999"], None, 2, "'--batch-size'"),
    ("run-threads-huge", ["run", "--threads", "100000"], None, 2, "'--threads'"),
    ("run-size-huge", ["run", "--dataset-size", "1" + "0" * 20], None, 2, "'--dataset-size'"),
    (
        "run-samples-per-query",
        ["run", "--scenario", "MultiStream", "--samples-per-query", "999999999", "--count", "9"],
        None,
        2,
        "--count x --samples-per-query is 8,999,999,991 samples",
    ),
    (
        "run-latency-tiny",
        ["run", "--scenario", "SingleStream", "--target-latency-ms", "1e-300"],
        None,
        2,
        "--target-latency-ms over a 1s test is",
    ),
    (
        "run-qps-times-duration",
        ["run", "--target-qps", "1e8", "--min-duration", "60"],
        None,
        2,
        "--target-qps over a 60s test is 6,600,000,000 queries",
    ),
    # -- run: files --------------------------------------------------------------------
    (
        "run-profile-binary",
        ["run", "--settings", "p.yaml"],
        _files(**{"p.yaml": BINARY}),
        2,
        "settings profile p.yaml is not UTF-8 text (byte 0xff",
    ),
    (
        "run-profile-list",
        ["run", "--settings", "p.yaml"],
        _files(**{"p.yaml": "- a\n"}),
        2,
        "settings profile p.yaml must hold a mapping at the top, not a list",
    ),
    (
        "run-profile-nan",
        ["run", "--settings", "p.yaml"],
        _profile("scenarios:\n  Offline:\n    target_qps: .nan\n"),
        2,
        "scenarios.Offline.target_qps",
    ),
    (
        "run-profile-huge-batch",
        ["run", "--settings", "p.yaml"],
        _profile("scenarios:\n  Offline:\n    batch_size: 99999999999\n"),
        2,
        "scenarios.Offline.batch_size",
    ),
    (
        "run-profile-too-much",
        ["run", "--settings", "p.yaml", "--min-duration", "600"],
        _profile("scenarios:\n  Offline:\n    target_qps: 90000000\n"),
        2,
        "settings profile 'p', Offline: --target-qps over a 600s test",
    ),
    (
        "run-profile-folder",
        ["run", "--settings", "d/x.yaml"],
        _files(**{"d__x.yaml__y": "1"}),
        2,
        "no settings profile",
    ),
    (
        "run-profile-bad-name",
        ["run", "--settings", "a b"],
        None,
        2,
        "invalid settings profile name 'a b'",
    ),
    (
        "run-profile-deep",
        ["run", "--settings", "p.yaml"],
        _files(**{"p.yaml": "[" * 200_000 + "]" * 200_000}),
        2,
        "settings profile p.yaml is not valid YAML",
    ),
    (
        "run-dataset-file",
        ["run", "--model", "resnet50", "--dataset-path", "f"],
        _files(f="x"),
        2,
        "f",
    ),
    (
        "run-openai-timeout-inf",
        [*OPENAI, "--backend-option", "timeout_s=inf"],
        None,
        2,
        "invalid value 'inf' for backend option timeout_s: input should be a finite number",
    ),
    (
        "run-openai-tokens-huge",
        [*OPENAI, "--backend-option", "max_new_tokens=99999999999"],
        None,
        2,
        "backend option max_new_tokens",
    ),
    (
        "workspace-under-file",
        ["--workspace", "f/sub", "runs", "list"],
        _files(f="x"),
        2,
        "workspace f/sub cannot be made",
    ),
    # -- tune ----------------------------------------------------------------------------
    ("tune-budget-nan", ["tune", "--budget", "nan"], None, 2, "--budget"),
    ("tune-budget-inf", ["tune", "--budget", "infs"], None, 2, "--budget"),
    (
        "tune-batch-sizes-huge",
        ["tune", "--batch-sizes", "8,99999999999999999999"],
        None,
        2,
        "--batch-sizes",
    ),
    ("tune-batch-sizes-text", ["tune", "--batch-sizes", "8,x"], None, 2, "--batch-sizes"),
    ("tune-wait-inf", ["tune", "--max-wait-ms", "inf"], None, 2, "'--max-wait-ms'"),
    (
        "tune-save-path",
        ["tune", "--save", "../evil"],
        None,
        2,
        "invalid settings profile name '../evil'",
    ),
    # -- sweep ---------------------------------------------------------------------------
    (
        "sweep-binary",
        ["sweep", "run", "s.yaml"],
        _files(**{"s.yaml": BINARY}),
        2,
        "sweep file s.yaml is not UTF-8 text",
    ),
    (
        "sweep-list",
        ["sweep", "run", "s.yaml"],
        _sweep("- 1\n"),
        2,
        "sweep file s.yaml must hold a mapping",
    ),
    (
        "sweep-deep",
        ["sweep", "run", "s.yaml"],
        _sweep("[" * 200_000 + "]" * 200_000),
        2,
        "sweep file s.yaml is not valid YAML",
    ),
    ("sweep-missing", ["sweep", "run", "nope.yaml"], None, 2, "sweep file nope.yaml not found"),
    ("sweep-folder", ["sweep", "run", "d"], _files(**{"d__x": "1"}), 2, "is a folder"),
    (
        "sweep-bad-name",
        ["sweep", "run", "s.yaml"],
        _sweep("name: a b\n"),
        2,
        "invalid sweep name 'a b'",
    ),
    (
        "sweep-duration-nan",
        ["sweep", "run", "s.yaml"],
        _sweep("name: s\ngrid:\n  min_duration: [1, .nan]\n"),
        2,
        "invalid value nan for min_duration",
    ),
    (
        "sweep-count-huge",
        ["sweep", "run", "s.yaml"],
        _sweep("name: s\ngrid:\n  count: [9999999999999]\n"),
        2,
        "--count",
    ),
    (
        "sweep-qps-inf",
        ["sweep", "run", "s.yaml"],
        _sweep("name: s\nbase:\n  target_qps: .inf\n"),
        2,
        "finite number",
    ),
    (
        "sweep-seed-list",
        ["sweep", "run", "s.yaml"],
        _sweep("name: s\nrandom: 1\nseed: [1]\ngrid:\n  batch_size: [1, 2]\n"),
        2,
        "'seed' must be a whole number",
    ),
    (
        "sweep-model-dict",
        ["sweep", "run", "s.yaml"],
        _sweep("name: s\ngrid:\n  model: [{a: 1}]\n"),
        2,
        "--model",
    ),
    # -- results -------------------------------------------------------------------------
    (
        "results-import-round",
        ["results", "import", "t", "--round", "v0.0"],
        _tree({"performance/run_1/mlperf_log_detail.txt": ""}),
        2,
        "unknown MLPerf Inference round 'v0.0'",
    ),
    (
        "results-import-skeleton",
        ["results", "import", "t"],
        _tree({"performance/run_1/x": "", "accuracy/x": ""}),
        2,
        "mlperf_log_detail.txt is missing",
    ),
    (
        "results-import-empty-log",
        ["results", "import", "t"],
        _tree({"performance/run_1/mlperf_log_detail.txt": ""}),
        2,
        "none with a figure",
    ),
    (
        "results-import-endpoints-skeleton",
        ["results", "import", "t"],
        _tree({"performance/result_summary.json": "{}"}),
        2,
        "holds no result",
    ),
    (
        "results-import-deep-system",
        ["results", "import", "t"],
        _tree({"performance/run_1/mlperf_log_detail.txt": ""}, system=DEEP_JSON),
        2,
        "nothing to import",
    ),
    ("results-import-file", ["results", "import", "f"], _files(f="x"), 2, "f is not a folder"),
    (
        "results-db-garbage",
        ["results", "show", "x", "--db", "bad.sqlite"],
        _files(**{"bad.sqlite": BINARY}),
        2,
        "bad.sqlite is not a readable results database",
    ),
    ("results-list-db-missing", ["results", "list", "--db", "no.sqlite"], None, 2, "no.sqlite"),
    (
        "export-out-under-file",
        ["results", "export", "--out", "f/x.csv", "--db", "no.sqlite"],
        _files(f="x"),
        2,
        "'--out': 'f/x.csv' lies under",
    ),
    # -- runs ----------------------------------------------------------------------------
    ("runs-show-traversal", ["runs", "show", "../../etc"], None, 2, "no run '../../etc'"),
    ("runs-show-empty", ["runs", "show", ""], None, 2, "no run"),
    # -- submission ----------------------------------------------------------------------
    (
        "check-round",
        ["submission", "check", "t", "--round", "v9.9"],
        _tree({"performance/run_1/x": ""}),
        2,
        "unknown MLPerf Inference round 'v9.9'",
    ),
    ("check-missing", ["submission", "check", "nope"], None, 2, "nope"),
    (
        "package-round",
        ["submission", "package", "t", "--round", "v0.0", "--out", "o.tar.gz"],
        _tree({"performance/run_1/x": ""}),
        2,
        "unknown MLPerf Inference round 'v0.0'",
    ),
    (
        "plan-round",
        ["submission", "plan", "--model", "resnet50", "--round", "v0.0"],
        None,
        2,
        "unknown MLPerf Inference round 'v0.0'",
    ),
    ("plan-model", ["submission", "plan", "--model", "nope"], None, 2, "nope"),
    (
        "plan-size",
        ["submission", "plan", "--dataset-size", "1" + "0" * 20],
        None,
        2,
        "'--dataset-size'",
    ),
    (
        "plan-profile-binary",
        ["submission", "plan", "--model", "resnet50", "--settings", "p.yaml"],
        _files(**{"p.yaml": BINARY}),
        2,
        "settings profile p.yaml is not UTF-8 text",
    ),
    ("subrun-batch", ["submission", "run", "--batch-size", "99999999"], None, 2, "'--batch-size'"),
    (
        "generate-system-binary",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "s.json",
            "--campaign",
            "c",
        ],
        _files(**{"s.json": BINARY}),
        2,
        "s.json is not UTF-8 text",
    ),
    (
        "generate-system-deep",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "s.json",
            "--campaign",
            "c",
        ],
        _files(**{"s.json": DEEP_JSON}),
        2,
        "nested too deeply",
    ),
    (
        "generate-system-list",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "s.json",
            "--campaign",
            "c",
        ],
        _files(**{"s.json": "[1]"}),
        2,
        "must hold a mapping",
    ),
    (
        "generate-system-types",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "s.json",
            "--campaign",
            "c",
        ],
        _files(**{"s.json": '{"number_of_nodes": -5}'}),
        2,
        "number_of_nodes",
    ),
    (
        "generate-campaign-binary",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "sys.json",
            "--campaign",
            "c",
        ],
        _campaign(BINARY),
        2,
        "c.json is not UTF-8 text",
    ),
    (
        "generate-campaign-shape",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "sys.json",
            "--campaign",
            "c",
        ],
        _campaign('{"runs": [1], "plan": 2}'),
        2,
        "c.json",
    ),
    (
        "generate-campaign-name",
        [
            "submission",
            "generate",
            "--out",
            "o",
            "--submitter",
            "Acme",
            "--system-json",
            "sys.json",
            "--campaign",
            "../x",
        ],
        _files(**{"sys.json": "{}"}),
        2,
        "../x",
    ),
    ("truncate-missing", ["submission", "truncate", "nope"], None, 2, "nope"),
    (
        "package-out-under-file",
        ["submission", "package", "t", "--out", "f/x.tar.gz"],
        _files(f="x", **{"t__closed__x": "1"}),
        2,
        "'--out': 'f/x.tar.gz' lies under",
    ),
    (
        "generate-out-file",
        ["submission", "generate", "--out", "f", "--submitter", "A", "--system-json", "s.json"],
        _files(f="x", **{"s.json": "{}"}),
        2,
        "Directory 'f' is a file",
    ),
    # -- system --------------------------------------------------------------------------
    (
        "system-binary",
        ["system", "describe", "--from", "s.yaml"],
        _files(**{"s.yaml": BINARY}),
        2,
        "s.yaml is not UTF-8 text",
    ),
    (
        "system-nodes",
        ["system", "describe", "--from", "s.yaml"],
        _files(**{"s.yaml": SYSTEM_HEAD + "number_of_nodes: -5\n"}),
        2,
        "number_of_nodes",
    ),
    (
        "system-name-list",
        ["system", "describe", "--from", "s.yaml"],
        _files(**{"s.yaml": "system_name: [a, b]\n"}),
        2,
        "system_name",
    ),
    (
        "system-flag",
        ["system", "describe", "--from", "s.yaml"],
        _files(**{"s.yaml": "cooling: yes\n"}),
        2,
        "cooling",
    ),
    (
        "system-list",
        ["system", "describe", "--from", "s.yaml"],
        _files(**{"s.yaml": "- a\n"}),
        2,
        "must hold a mapping",
    ),
    (
        "system-deep",
        ["system", "describe", "--from", "s.json"],
        _files(**{"s.json": DEEP_JSON}),
        2,
        "s.json is not valid YAML",
    ),
    (
        "system-unknown",
        ["system", "describe", "--from", "s.yaml"],
        _files(**{"s.yaml": "gpu_count: 3\n"}),
        2,
        "gpu_count",
    ),
    (
        "system-out-exists",
        ["system", "describe", "--out", "o.json"],
        _files(**{"o.json": "{}"}),
        2,
        "o.json exists",
    ),
    ("system-category", ["system", "describe", "--category", "quantum"], None, 2, "quantum"),
    (
        "system-out-under-file",
        ["system", "describe", "--out", "f/s.json"],
        _files(f="x"),
        2,
        "'--out': 'f/s.json' lies under",
    ),
    # -- dataset -------------------------------------------------------------------------
    ("dataset-imagenet-file", ["dataset", "synthetic-imagenet", "f"], _files(f="x"), 2, "'f'"),
    (
        "dataset-criteo-under-file",
        ["dataset", "synthetic-criteo", "f/sub"],
        _files(f="x"),
        2,
        "'f/sub'",
    ),
    ("dataset-squad-file", ["dataset", "synthetic-squad", "f"], _files(f="x"), 2, "'f'"),
    (
        "dataset-librispeech-file",
        ["dataset", "synthetic-librispeech", "f"],
        _files(f="x"),
        2,
        "'f'",
    ),
    ("dataset-gpt-oss-file", ["dataset", "synthetic-gpt-oss-120b", "f"], _files(f="x"), 2, "'f'"),
    (
        "dataset-count-huge",
        ["dataset", "synthetic-imagenet", "d", "--count", "99999999999"],
        None,
        2,
        "'--count'",
    ),
    (
        "dataset-seed-negative",
        ["dataset", "synthetic-imagenet", "d", "--seed", "-1"],
        None,
        2,
        "'--seed'",
    ),
    # -- cache ---------------------------------------------------------------------------
    # -- fleet -------------------------------------------------------------------------------
    ("fleet-report-unknown", ["fleet", "report", "nosuch"], None, 2, "no runs recorded"),
    (
        "fleet-threshold-negative",
        ["fleet", "report", "x", "--threshold", "-5"],
        None,
        2,
        "'--threshold'",
    ),
    ("fleet-local-zero", ["fleet", "run", "nov", "--cluster", "local:0"], None, 2, "local:N"),
    ("cache-add-missing", ["cache", "add", "nope.bin", "--as", "x"], None, 2, "nope.bin"),
    (
        "cache-add-folder",
        ["cache", "add", "d", "--as", "x"],
        _files(**{"d__x": "1"}),
        2,
        "cannot add d: a folder",
    ),
    (
        "cache-add-bad-hash",
        ["cache", "add", "f", "--as", "x", "--sha256", "zz"],
        _files(f="x"),
        2,
        "sha256",
    ),
    ("cache-path-unknown", ["cache", "path", "nope"], None, 2, "nope"),
    ("cache-fetch-unknown", ["cache", "fetch", "nope"], None, 2, "nope"),
    # -- catalog -------------------------------------------------------------------------
    ("models-extra-arg", ["models", "list", "x"], None, 2, "unexpected extra argument"),
    ("backends-bad-option", ["backends", "list", "--bogus"], None, 2, "--bogus"),
    # -- compliance ----------------------------------------------------------------------
    (
        "compliance-test",
        ["compliance", "run", "TEST99", "--scenario", "Offline"],
        None,
        2,
        "TEST99",
    ),
    (
        "compliance-round",
        ["compliance", "run", "TEST01", "--scenario", "Offline", "--round", "v0.0"],
        None,
        2,
        "unknown MLPerf Inference round 'v0.0'",
    ),
    (
        "compliance-into-file",
        ["compliance", "run", "TEST01", "--scenario", "Offline", "--into", "f"],
        _files(f="x"),
        2,
        "'f'",
    ),
    (
        "sweep-plot-under-file",
        ["sweep", "report", "x", "--plot", "f/x.html"],
        _files(f="x"),
        2,
        "'--plot': 'f/x.html' lies under",
    ),
    ("dashboard-out-file", ["dashboard", "build", "--out", "f"], _files(f="x"), 2, "'f' is a file"),
    # -- dashboard and reproduce ---------------------------------------------------------
    ("dashboard-port", ["dashboard", "serve", "--port", "70000"], None, 2, "--port"),
    ("dashboard-db-missing", ["dashboard", "build", "--db", "no.sqlite"], None, 2, "no.sqlite"),
    ("reproduce-missing", ["reproduce", "nope"], None, 2, "nope"),
]


Outcome = tuple[int, str, dict[str, int], dict[str, int]]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run once, several at a time (each is a fresh process that mostly waits
    on imports): exit code, stderr, and the folder's listing before and after."""
    from concurrent.futures import ThreadPoolExecutor

    def one(case: tuple[str, list[str], Callable[[Path], None] | None, int, str]) -> Outcome:
        name, args, setup, _, _ = case
        root = tmp_path_factory.mktemp(name)
        if setup is not None:
            setup(root)
        before = _listing(root)
        proc = run_cli("--workspace", "ws", *args, cwd=root, timeout=300)
        return proc.returncode, proc.stderr, before, _listing(root)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip([c[0] for c in CASES], pool.map(one, CASES), strict=True))


@pytest.mark.parametrize(("name", "code", "words"), [(c[0], c[3], c[4]) for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    outcomes: dict[str, Outcome], name: str, code: int, words: str
) -> None:
    returncode, stderr, before, after = outcomes[name]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert returncode == code, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("perfpilot: error: "), stderr
    assert "Traceback" not in stderr, stderr
    assert not lines[0].startswith("perfpilot: error: unexpected "), stderr  # a bug's line
    assert words in lines[0], lines[0]
    assert after == before  # nothing created, nothing left half-written


def test_the_table_covers_every_command() -> None:
    from perfpilot.cli.main import cli

    assert len(CASES) >= 60
    missing = set(cli.commands) - {a for _, args, *_ in CASES for a in args[:3]}
    assert not missing, f"no bad input for: {sorted(missing)}"


def _listing(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size (folders: -1)."""
    out: dict[str, int] = {}
    for here, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(here, name), root)] = -1
        for name in files:
            path = os.path.join(here, name)
            out[os.path.relpath(path, root)] = os.path.getsize(path)
    return out


@pytest.mark.parametrize(
    ("returncode", "words"),
    [
        (-9, "was killed by signal 9 (SIGKILL: out of memory or killed from outside)"),
        (-11, "was killed by signal 11 (SIGSEGV: a crash in native code"),
        (-6, "was killed by signal 6 (SIGABRT: "),
        (-10, "was killed by signal 10 (SIGUSR1)"),
        (-200, "was killed by signal 200"),
        (3, "ended with exit code 3"),
    ],
)
def test_a_child_ended_by_a_signal_says_which_and_why(returncode: int, words: str) -> None:
    from perfpilot.engine.child_exit import describe_exit

    assert describe_exit(returncode).startswith(words)


@needs_fixture
def test_a_tree_whose_system_json_is_nested_too_deep_is_checked_not_crashed(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE, tree, symlinks=True)
    (system,) = (tree / "closed" / "Intel" / "systems").glob("*.json")
    system.write_text(DEEP_JSON)
    proc = run_cli("submission", "check", str(tree), "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    found = json.loads(proc.stdout)
    assert "system-json-invalid" in json.dumps(found)
    imported = run_cli("results", "import", str(tree), "--db", "r.sqlite", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr  # the logs are fine: the result imports
