"""The token path's overhead, side by side in one run.

For each of two servers, ``transformers serve`` on the Llama stand-in (text prompts) and
a synthetic streaming server started here (an aiohttp app that answers any prompt with
``--tokens`` chunks at a fixed pace and sends token ids, as vLLM does: it measures the
client alone, where the stand-in's times on a busy CPU move by tens of percent):
(a) Throughput: a raw streaming client (aiohttp, ``--concurrency`` requests in flight, no
    LoadGen), then perfpilot Offline through the openai backend, same server, prompts
    and concurrency: tokens/s ratio b/a (target >= 0.95).
(b) Time to first token at the same load, one request at a time: the raw client's
    sequential requests vs perfpilot SingleStream (LoadGen's TTFT): p50 and p99 added
    (target p99 <= 2 ms).
Then the harness alone: the null generative backend through LoadGen with token latencies
on: Offline samples/s (target >= 100,000) and a Server run at ``--server-qps`` (target
>= 10,000 QPS VALID).

Usage: python bench/llm_overhead.py [--prompts 24] [--tokens 16] [--concurrency 8]
                                    [--ttft-queries 24] [--synthetic-requests 400]
                                    [--rounds 3] [--synthetic-ttft-queries 200]
                                    [--server-qps 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from perfpilot.config import build_run_configs
from perfpilot.engine.runner import run_benchmark
from perfpilot.records import RunRecord
from perfpilot.results.db import index_record
from perfpilot.tasks import get_task
from perfpilot.tasks.cnndm.dataset import make_synthetic_cnndm
from perfpilot.tasks.cnndm.standin import ensure_llama_standin
from perfpilot.workspace import Workspace


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_health(proc: subprocess.Popen[bytes], port: int, log: Path) -> str:
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the server did not start: {log.read_text()[-1000:]}")


def start_transformers(model: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent))
    if exe is None:
        raise SystemExit(
            "transformers serve is not installed (pip install 'transformers[serving]')"
        )
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, "serve", str(model), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    return proc, _wait_health(proc, port, log)


def start_synthetic(
    log: Path, first_ms: float, pace_ms: float
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-synthetic", str(port),
             "--first-ms", str(first_ms), "--pace-ms", str(pace_ms)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, _wait_health(proc, port, log)


def serve_synthetic(port: int, first_ms: float, pace_ms: float) -> None:
    """An OpenAI-compatible streaming server that computes nothing: ``max_tokens``
    chunks (text and token id) ``pace_ms`` apart, the first after ``first_ms``."""
    from aiohttp import web

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "synthetic"}]})

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(first_ms / 1000)
        n = int(body.get("max_tokens") or 16)
        for k in range(n):
            chunk = {"choices": [{"index": 0, "text": " w", "token_ids": [3 + k % 1000]}]}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if k + 1 < n:
                await asyncio.sleep(pace_ms / 1000)
        usage = {"completion_tokens": n, "prompt_tokens": len(body["prompt"])}
        last = {"choices": [{"index": 0, "text": "", "finish_reason": "length"}], "usage": usage}
        await resp.write(b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/completions", completions)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def raw_client(
    url: str, model: str, prompts: list[Any], tokens: int, concurrency: int
) -> tuple[int, float, list[float]]:
    """Stream every prompt, ``concurrency`` at a time: (tokens generated, seconds,
    each request's time to its first non-empty text)."""
    import aiohttp

    todo = list(prompts)
    generated = 0
    ttfts: list[float] = []

    async def one(session: aiohttp.ClientSession, prompt: Any) -> None:
        nonlocal generated
        body = {
            "model": model,
            "prompt": prompt,
            "max_tokens": tokens,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        began = time.perf_counter()
        first = None
        async with session.post(f"{url}/completions", json=body) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
                    continue
                chunk: dict[str, Any] = json.loads(line[5:])
                if first is None and any(c.get("text") for c in chunk.get("choices") or ()):
                    first = time.perf_counter() - began
                if chunk.get("usage"):
                    generated += chunk["usage"]["completion_tokens"]
        ttfts.append(first if first is not None else time.perf_counter() - began)

    async def worker(session: aiohttp.ClientSession) -> None:
        while todo:
            await one(session, todo.pop())

    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return generated, time.perf_counter() - began, ttfts


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def one_run(ws: Workspace, scenario: str, **options: Any) -> RunRecord:
    (cfg,) = build_run_configs(scenario, "performance", **options)
    (record,) = run_benchmark([cfg], ws, ["bench/llm_overhead.py"])
    if record.result is None or record.result.metric is None:
        raise SystemExit(f"{scenario}: the perfpilot run failed: {record.error}")
    return record


@dataclass
class Compared:
    raw_tps: float  # medians over the rounds
    ours_tps: float
    ratios: list[float]  # perfpilot / raw, each round
    raw_ttft_ms: tuple[float, float]  # p50, p99
    ours_ttft_ms: tuple[float, float]


def compare(
    ws: Workspace,
    url: str,
    served: str,
    prompts: list[Any],
    requests: int,
    run: dict[str, Any],
    backend_options: dict[str, Any],
    args: argparse.Namespace,
    rounds: int = 1,
    ttft_queries: int = 24,
) -> Compared:
    """Raw client, then perfpilot Offline, ``rounds`` times in turn (throughput); raw
    one at a time, then perfpilot SingleStream (TTFT): one server, the same prompts."""
    asyncio.run(raw_client(url, served, prompts[:2], args.tokens, 1))  # warm the server
    todo = [prompts[i % len(prompts)] for i in range(requests)]
    raws, ourses = [], []
    for i in range(rounds):
        raw_tokens, raw_s, _ = asyncio.run(
            raw_client(url, served, todo, args.tokens, args.concurrency)
        )
        raws.append(raw_tokens / raw_s)
        offline = one_run(
            ws,
            "Offline",
            **run,
            backend_options={**backend_options, "concurrency": args.concurrency},
            target_qps=requests / raw_s,
            min_duration_ms=int(raw_s * 1000),
        )
        assert offline.result is not None and offline.result.metric is not None
        ourses.append(offline.result.metric)
        print(
            f"  round {i + 1}: raw client {raws[-1]:.1f} tokens/s ({raw_tokens} tokens, "
            f"{raw_s:.2f} s); perfpilot Offline {ourses[-1]:.1f} tokens/s "
            f"({offline.result.sample_count} samples)",
            flush=True,
        )
    _, _, raw_ttft = asyncio.run(
        raw_client(
            url, served, [prompts[i % len(prompts)] for i in range(ttft_queries)], args.tokens, 1
        )
    )
    single = one_run(
        ws,
        "SingleStream",
        **run,
        backend_options={**backend_options, "concurrency": 1},
        min_query_count=ttft_queries,
        target_latency_ms=1000 * statistics.median(raw_ttft),
        min_duration_ms=1000,
    )
    assert single.result is not None
    ours = single.result.ttft_ns
    return Compared(
        statistics.median(raws),
        statistics.median(ourses),
        [o / r for o, r in zip(ourses, raws, strict=True)],
        (pct(raw_ttft, 0.5) * 1e3, pct(raw_ttft, 0.99) * 1e3),
        (ours.get("p50", 0) / 1e6, ours.get("p99", 0) / 1e6),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ttft-queries", type=int, default=24)
    parser.add_argument("--synthetic-requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="synthetic server's rounds")
    parser.add_argument("--synthetic-ttft-queries", type=int, default=200)
    parser.add_argument("--first-ms", type=float, default=20.0)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--server-qps", type=float, default=10_000)
    parser.add_argument("--serve-synthetic", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_synthetic:
        serve_synthetic(args.serve_synthetic, args.first_ms, args.pace_ms)
        return

    os.environ.setdefault(
        "PERFPILOT_CACHE", str(Path(tempfile.gettempdir()) / "perfpilot-bench-cache")
    )
    tmp = Path(tempfile.mkdtemp(prefix="perfpilot-bench-llm-"))
    model = ensure_llama_standin()
    folder = tmp / "cnndm"
    make_synthetic_cnndm(folder, count=64, seed=0)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    ids = [p.tolist() for p in get_task("cnndm").load_dataset(folder).samples(np.arange(64))]
    ws = Workspace(tmp / "ws", on_record=index_record)
    run: dict[str, Any] = {
        "model": "llama3.1-8b-standin",
        "backend": "openai",
        "model_path": model,
        "dataset_path": folder,
        "batch_size": 1,  # warm-up batches: one prompt
    }
    figures: dict[str, Compared] = {}

    print("transformers serve on the Llama stand-in (text prompts):", flush=True)
    proc, url = start_transformers(model, tmp / "serve.log")
    try:
        # the backend's text mode drops the leading BOS (the server adds its own)
        texts = [tok.decode(p[1:], skip_special_tokens=False) for p in ids[: args.prompts]]
        figures["transformers serve, stand-in"] = compare(
            ws, url, str(model), texts, args.prompts,
            {**run, "dataset_size": args.prompts},
            {"endpoint": url, "prompt_mode": "text", "max_new_tokens": args.tokens},
            args, ttft_queries=args.ttft_queries,
        )  # fmt: skip
    finally:
        proc.kill()
        proc.wait()

    print(
        f"synthetic server ({args.first_ms:g} ms to the first token, {args.pace_ms:g} ms apart):",
        flush=True,
    )
    proc, url = start_synthetic(tmp / "synthetic.log", args.first_ms, args.pace_ms)
    try:
        figures["synthetic server, token ids"] = compare(
            ws, url, "synthetic", ids, args.synthetic_requests, run,
            {"endpoint": url, "token_ids": True, "max_new_tokens": args.tokens},
            args, rounds=args.rounds, ttft_queries=args.synthetic_ttft_queries,
        )  # fmt: skip
    finally:
        proc.kill()
        proc.wait()

    # the harness alone: null backend, token latencies on
    null_run: dict[str, Any] = {
        "model": "llama3.1-8b-standin",
        "backend": "null",
        "dataset_path": folder,
        "backend_options": {"output_tokens": 16},
    }
    null_off = one_run(ws, "Offline", **null_run, min_duration_ms=5000)
    null_srv = one_run(ws, "Server", **null_run, target_qps=args.server_qps, min_duration_ms=5000)
    assert null_off.result is not None and null_srv.result is not None

    print()
    print(
        f"{args.tokens} tokens an answer, concurrency {args.concurrency}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print("| server | figure | raw client | perfpilot | ratio / added | target |")
    print("|---|---|---|---|---|---|")
    for name, f in figures.items():
        print(
            f"| {name} | tokens/s (median of {len(f.ratios)}) | {f.raw_tps:,.1f} "
            f"| {f.ours_tps:,.1f} | {statistics.median(f.ratios):.3f} "
            f"({', '.join(f'{r:.2f}' for r in f.ratios)}) | >= 0.95 |"
        )
        for k, label in enumerate(("p50", "p99")):
            raw, ours = f.raw_ttft_ms[k], f.ours_ttft_ms[k]
            target = "<= 2 ms" if label == "p99" else ""
            print(
                f"| {name} | TTFT {label}, one at a time | {raw:.2f} ms | {ours:.2f} ms "
                f"| {ours - raw:+.2f} ms | {target} |"
            )
    off, srv = null_off.result, null_srv.result
    print(
        f"| null backend | Offline samples/s | | {off.samples_per_second or 0:,.0f} "
        f"({'VALID' if off.valid else 'INVALID'}) | | >= 100,000 |"
    )
    print(
        f"| null backend | Server at {args.server_qps:,.0f} QPS | | "
        f"{'VALID' if srv.valid else 'INVALID'} (p99 TTFT "
        f"{srv.ttft_ns.get('p99', 0) / 1e6:.2f} ms) | | VALID |"
    )


if __name__ == "__main__":
    main()
