"""The artifact store, against a real HTTP server on 127.0.0.1 that the tests control."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from perfpilot.artifacts import download, file_lock, maintenance, store
from perfpilot.errors import ChecksumError, DownloadError, UsageError
from tests.conftest import run_cli

DATA = bytes(range(256)) * 800  # 200 KB: several reads, quick to serve
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


@dataclass
class Seen:
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class Server:
    """What the handler serves and how it misbehaves; what it saw."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: list[int] = field(default_factory=list)  # one entry per response to cut
    ignore_range: bool = False
    gate: threading.Event | None = None  # hold a response halfway until set
    requested: threading.Event = field(default_factory=threading.Event)
    seen: list[Seen] = field(default_factory=list)

    def full_downloads(self, path: str) -> int:
        size = len(self.files[path])
        return sum(1 for s in self.seen if s.path == path and s.status == 200 and s.sent == size)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requested.set()
            data = server.files.get(self.path)
            rng = self.headers.get("Range")
            # Each request is recorded before its last byte goes out, so that a client
            # that has read its answer finds it in ``seen``.
            if data is None:
                server.seen.append(Seen(self.path, rng, 404, 0))
                self.send_error(404)
                return
            start = 0
            if rng and not server.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data) and start:
                server.seen.append(Seen(self.path, rng, 416, 0))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            status = 206 if start else 200
            self.send_response(status)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            limit = server.cut_after.pop(0) if server.cut_after else len(body)
            sent = body[:limit]
            server.seen.append(Seen(self.path, rng, status, len(sent)))
            if server.gate is not None:
                half = len(sent) // 2
                self.wfile.write(sent[:half])
                self.wfile.flush()
                server.gate.wait(30)
                self.wfile.write(sent[half:])
            else:
                self.wfile.write(sent)
            self.wfile.flush()
            # HTTP/1.0: the connection closes now, also after a cut response.

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(files={"/model.onnx": DATA})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    if state.gate is not None:
        state.gate.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PERFPILOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("PERFPILOT_OFFLINE", raising=False)
    monkeypatch.setattr(download, "_BACKOFF_S", 0.01)
    return tmp_path / "cache" / "store"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def test_fetch_stores_the_object_and_writes_the_manifest_last(server: Server, _store: Path) -> None:
    got = download.fetch("resnet50-onnx-fp32", f"{server.url}/model.onnx", sha256=SHA, md5=MD5)
    assert got == _store / "objects" / SHA[:2] / SHA
    assert got.read_bytes() == DATA
    manifest = json.loads((_store / "manifests" / "resnet50-onnx-fp32.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["name"] == "resnet50-onnx-fp32"
    assert manifest["source"] == f"{server.url}/model.onnx"
    assert (manifest["sha256"], manifest["md5"], manifest["size"]) == (SHA, MD5, len(DATA))
    assert manifest["fetched"].endswith("Z")
    assert _files(_store / "tmp") == []
    # A second fetch is answered from the store, without a request.
    assert download.fetch("resnet50-onnx-fp32", f"{server.url}/model.onnx", sha256=SHA) == got
    assert len(server.seen) == 1
    assert store.path("resnet50-onnx-fp32") == got
    assert [e.name for e in store.list_entries()] == ["resnet50-onnx-fp32"]


def test_an_interrupted_transfer_resumes_with_a_range_request(server: Server) -> None:
    server.cut_after = [70_000]
    got = download.fetch("m", f"{server.url}/model.onnx", md5=MD5)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == SHA
    first, second = server.seen
    assert (first.range, first.status, first.sent) == (None, 200, 70_000)
    assert (second.range, second.status, second.sent) == ("bytes=70000-", 206, len(DATA) - 70_000)


def test_a_partial_file_survives_a_failed_fetch_and_the_next_fetch_resumes_it(
    server: Server, _store: Path
) -> None:
    server.cut_after = [1000] * download._TRIES
    with pytest.raises(DownloadError, match=r"after 4 tries: connection closed after 4000 of"):
        download.fetch("m", f"{server.url}/model.onnx", sha256=SHA)
    assert (_store / "tmp" / "m.part").stat().st_size == 4000
    assert not (_store / "manifests" / "m.json").exists()
    got = download.fetch("m", f"{server.url}/model.onnx", sha256=SHA)
    assert got.read_bytes() == DATA
    assert server.seen[-1].range == "bytes=4000-" and server.seen[-1].status == 206
    assert sum(s.sent for s in server.seen) == len(DATA)  # no byte was sent twice


def test_a_server_that_ignores_range_makes_the_download_start_over(
    server: Server, _store: Path
) -> None:
    part = _store / "tmp" / "m.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # stale bytes that must not end up in the file
    server.ignore_range = True
    got = download.fetch("m", f"{server.url}/model.onnx", sha256=SHA)
    assert got.read_bytes() == DATA
    ((seen),) = server.seen
    assert (seen.range, seen.status) == ("bytes=5000-", 200)


def test_a_stale_partial_file_that_spoils_the_checksum_is_downloaded_again_whole(
    server: Server, _store: Path
) -> None:
    part = _store / "tmp" / "m.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # left by a download of another version of the file
    assert download.fetch("m", f"{server.url}/model.onnx", sha256=SHA).read_bytes() == DATA
    assert [(s.range, s.status) for s in server.seen] == [("bytes=5000-", 206), (None, 200)]


def test_a_whole_partial_file_left_before_the_commit_is_not_downloaded_again(
    server: Server, _store: Path
) -> None:
    part = _store / "tmp" / "m.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA)
    assert download.fetch("m", f"{server.url}/model.onnx", sha256=SHA).read_bytes() == DATA
    assert [(s.range, s.status) for s in server.seen] == [(f"bytes={len(DATA)}-", 416)]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"sha256": "0" * 64}, f"expected sha256 {'0' * 64}, got {SHA}"),
        ({"md5": "f" * 32}, f"expected md5 {'f' * 32}, got {MD5}"),
    ],
)
def test_a_checksum_mismatch_is_one_clear_line_and_stores_nothing(
    server: Server, _store: Path, kwargs: dict[str, str], expected: str
) -> None:
    url = f"{server.url}/model.onnx"
    with pytest.raises(ChecksumError) as info:
        download.fetch("m", url, **kwargs)
    line = info.value.one_line()
    assert "\n" not in line
    assert f"checksum mismatch for 'm' downloaded from {url}: {expected}" in line
    assert isinstance(info.value, UsageError)
    assert _files(_store / "objects") == []
    assert _files(_store / "manifests") == []
    assert _files(_store / "tmp") == []


def test_a_missing_file_on_the_server_is_not_retried(server: Server) -> None:
    with pytest.raises(DownloadError, match=r"cannot download 'm' from .*/nope: HTTP 404"):
        download.fetch("m", f"{server.url}/nope")
    assert len(server.seen) == 1


def test_two_processes_fetching_one_artifact_download_it_once(server: Server, _store: Path) -> None:
    server.gate = threading.Event()  # the first download stalls halfway until released
    code = (
        "import sys; from perfpilot.artifacts import download; "
        "print(download.fetch('m', sys.argv[1], sha256=sys.argv[2]))"
    )
    url = f"{server.url}/model.onnx"

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", code, url, SHA],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = start()
    assert server.requested.wait(30), "the first process never reached the server"
    second = start()
    # Release the download once the second process waits on the artifact's lock (Linux
    # shows waiters in /proc/locks), or after a while where that cannot be seen.
    lock = _store / "locks" / "m.lock"
    deadline = time.monotonic() + 5
    waiting = False
    while not waiting and time.monotonic() < deadline and second.poll() is None:
        time.sleep(0.02)
        waiting = _has_lock_waiter(lock)
    server.gate.set()
    out1, err1 = first.communicate(timeout=30)
    out2, err2 = second.communicate(timeout=30)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert out1.strip() == out2.strip() == str(_store / "objects" / SHA[:2] / SHA)
    assert server.full_downloads("/model.onnx") == 1
    assert len(server.seen) == 1


def _has_lock_waiter(lock: Path) -> bool:
    try:
        inode = lock.stat().st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return False
    return any(
        "->" in line and line.split()[-3].endswith(f":{inode}") for line in table.splitlines()
    )


def test_offline_mode_fails_fast_naming_the_artifact(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{server.url}/model.onnx"
    with pytest.raises(UsageError) as info:
        download.fetch("resnet50-onnx-fp32", url, md5=MD5, offline=True)
    line = info.value.one_line()
    assert "artifact 'resnet50-onnx-fp32' is not in the cache" in line
    assert f"perfpilot cache add FILE --as resnet50-onnx-fp32 --md5 {MD5}" in line
    monkeypatch.setenv("PERFPILOT_OFFLINE", "1")
    with pytest.raises(UsageError, match="offline mode is on"):
        download.fetch("resnet50-onnx-fp32", url)
    assert server.seen == []
    # Offline, a stored artifact is still found.
    download.fetch("resnet50-onnx-fp32", url, offline=False)
    assert download.fetch("resnet50-onnx-fp32", url).read_bytes() == DATA


def test_add_checks_the_checksum_and_refuses_a_wrong_one(tmp_path: Path, _store: Path) -> None:
    src = tmp_path / "model.onnx"
    src.write_bytes(DATA)
    with pytest.raises(ChecksumError, match=r"checksum mismatch for .*model.onnx.*expected md5"):
        store.add(src, "m", md5="0" * 32)
    assert _files(_store / "objects") == _files(_store / "manifests") == []
    assert _files(_store / "tmp") == []
    stored = store.add(src, "m", sha256=SHA.upper(), md5=MD5)
    assert stored.read_bytes() == DATA and src.exists()
    assert store.entry("m").source == f"file:{src.resolve()}"
    with pytest.raises(UsageError, match="sha256 checksum 'abc' is not valid"):
        store.add(src, "m", sha256="abc")


@pytest.mark.parametrize("name", ["", "Resnet", "-x", ".hidden", "a/b", "a b"])
def test_invalid_names_are_usage_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="invalid artifact name"):
        store.add(tmp_path, name)


def test_path_of_an_unknown_artifact_says_how_to_add_it() -> None:
    with pytest.raises(UsageError) as info:
        store.path("nothing-here")
    assert "perfpilot cache add FILE --as nothing-here" in info.value.one_line()


def test_verify_quarantines_a_corrupt_object_and_drops_its_entry(
    tmp_path: Path, _store: Path
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_bytes(b"good")
    bad.write_bytes(DATA)
    store.add(good, "good")
    obj = store.add(bad, "bad")
    store.add(bad, "bad-alias")  # the same object under a second name
    assert maintenance.verify().ok
    obj.chmod(0o644)
    obj.write_bytes(DATA[:-1] + b"!")
    report = maintenance.verify()
    (problem,) = report.problems
    assert report.checked == 2
    assert problem.kind == "corrupt object" and problem.names == ("bad", "bad-alias")
    assert problem.moved_to and Path(problem.moved_to).parent == _store / "quarantine"
    assert not obj.exists()
    assert [e.name for e in store.list_entries()] == ["good"]
    with pytest.raises(UsageError, match="no artifact 'bad'"):
        store.path("bad")
    assert maintenance.verify().ok


def test_gc_removes_unused_objects_and_stale_temporary_files(tmp_path: Path, _store: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"one")
    old = store.add(src, "m")
    src.write_bytes(b"two")
    new = store.add(src, "m")  # replaces the entry: the first object is unused now
    stale, busy = _store / "tmp" / "gone.part", _store / "tmp" / "busy.part"
    stale.write_bytes(b"x" * 10)
    busy.write_bytes(b"y" * 10)
    with file_lock(_store / "locks" / "busy.lock"):  # as a running download holds it
        report = maintenance.gc()
    assert (report.objects, report.tmp_files, report.freed_bytes) == (1, 1, 3 + 10)
    assert not old.exists() and new.read_bytes() == b"two"
    assert not stale.exists() and busy.exists()
    assert maintenance.gc().objects == 0


def test_the_cache_commands(tmp_path: Path, _store: Path) -> None:
    ws = str(tmp_path / "ws")
    src = tmp_path / "model.onnx"
    src.write_bytes(DATA)
    added = run_cli("--workspace", ws, "cache", "add", str(src), "--as", "m", "--md5", MD5)
    assert added.returncode == 0, added.stderr
    listed = json.loads(run_cli("--workspace", ws, "cache", "list", "--json").stdout)
    (entry,) = listed["stored"]
    assert (entry["name"], entry["sha256"], entry["md5"]) == ("m", SHA, MD5)
    stored = run_cli("cache", "path", "m").stdout.strip()
    assert Path(stored).read_bytes() == DATA

    Path(stored).chmod(0o644)
    Path(stored).write_bytes(b"corrupt")
    verified = run_cli("cache", "verify", "--json")
    assert verified.returncode == 1
    assert json.loads(verified.stdout)["problems"][0]["names"] == ["m"]

    bad = run_cli("cache", "add", str(src), "--as", "Bad Name")
    assert bad.returncode == 2
    (line,) = bad.stderr.splitlines()
    assert line.startswith("perfpilot: error: invalid artifact name 'Bad Name'")
    wrong = run_cli("cache", "add", str(src), "--as", "m", "--sha256", "0" * 64)
    assert wrong.returncode == 2 and "checksum mismatch" in wrong.stderr
    gc = run_cli("cache", "gc", "--json")
    assert gc.returncode == 0 and json.loads(gc.stdout)["objects"] == 0


def test_an_official_model_is_fetched_from_its_first_working_mirror(server: Server) -> None:
    import dataclasses
    import hashlib

    from perfpilot.tasks import models

    spec = dataclasses.replace(
        models()["resnet50"],
        urls=(f"{server.url}/gone.onnx", f"{server.url}/model.onnx"),
        md5=hashlib.md5(DATA).hexdigest(),
    )
    path = spec.ensure_file()
    assert path.read_bytes() == DATA
    assert [(s.path, s.status) for s in server.seen] == [("/gone.onnx", 404), ("/model.onnx", 200)]
    assert store.entry("resnet50-v1.5-onnx-fp32-opset11").md5 == spec.md5


def test_no_working_mirror_says_how_to_add_the_file(server: Server) -> None:
    import dataclasses

    from perfpilot.tasks import models

    spec = dataclasses.replace(models()["resnet50"], urls=(f"{server.url}/a", f"{server.url}/b"))
    with pytest.raises(UsageError) as info:
        spec.ensure_file()
    line = info.value.one_line()
    assert "could not download 'resnet50' from any of its 2 mirrors" in line
    fix = (
        "perfpilot cache add FILE --as resnet50-v1.5-onnx-fp32-opset11 "
        "--md5 f6a4da60cd5f084d97efc2c1ddb10beb"
    )
    assert fix in line
    assert line.count("cache add") == 1, line  # the fix is said once, not once per mirror
