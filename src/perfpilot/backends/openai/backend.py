"""The openai backend: any OpenAI-compatible server (vllm serve, SGLang, llama.cpp's
server, TGI, ``transformers serve``) over HTTP, streamed, greedy.

An asyncio loop on a thread of its own keeps ``concurrency`` requests in flight, as a
load-generating client does; the engine hands it samples with ``submit`` and gets each
answer back as it ends. A connection that fails before any token is retried; a sample
that fails for good fails the run (the count of failures and the first error), never
silently retried once tokens have streamed."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from perfpilot.backends.base import BackendConfig
from perfpilot.backends.openai.client import Completion, RequestError, list_models, stream_retrying
from perfpilot.backends.openai.config import OpenAIConfig
from perfpilot.backends.openai.tokenizer import TextTokenizer, load_tokenizer, needs_tokenizer
from perfpilot.backends.submitting import SubmittingBackend
from perfpilot.errors import PerfpilotError, UsageError

T = TypeVar("T")
FirstToken = Callable[[int, np.ndarray], None]
Finished = Callable[[int, np.ndarray, int], None]
Failed = Callable[[BaseException], None]

START_HINT = (
    "Start one, e.g. 'vllm serve MODEL --port 8000' or 'transformers serve MODEL_DIR "
    "--host 127.0.0.1 --port 8000', or point --endpoint at yours."
)


class GenerationError(PerfpilotError):
    """Samples that failed for good: the run is not valid."""


@dataclass(eq=False)
class _Submission:
    """One ``submit`` call: its callbacks and how many of its samples are still open."""

    first_token: FirstToken | None
    finished: Finished
    failed: Failed
    open: int


def _headers(config: OpenAIConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if config.api_key_env:
        key = os.environ.get(config.api_key_env)
        if not key:
            raise UsageError(
                f"environment variable {config.api_key_env} (api_key_env) is not set",
                f"Export the server's API key as {config.api_key_env}, or drop --api-key-env.",
            )
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _session(config: OpenAIConfig) -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=config.concurrency + 4),
        # a host that never answers a connect is told in 30 s; a stream may pause longer
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=min(config.timeout_s, 30.0), sock_read=config.timeout_s
        ),
        read_bufsize=1 << 20,  # a chunk with the prompt's ids is one long line
    )


async def _served_model(
    session: Any, config: OpenAIConfig, headers: dict[str, str], model_path: Path | None
) -> str:
    """The model name to send: the one asked for (checked against ``GET /models`` where
    the server lists them), else the one the server serves, else --model-path."""
    try:
        served = await list_models(session, config.endpoint, headers)
    except (RequestError, TimeoutError) as err:
        if isinstance(err, RequestError) and err.retryable:
            raise UsageError(
                f"no OpenAI-compatible server answers at {config.endpoint} ({err})", START_HINT
            ) from err
        served = []  # e.g. transformers serve: the first request judges the name
    if config.served_model:
        if served and config.served_model not in served:
            raise UsageError(
                f"the server at {config.endpoint} serves {', '.join(served)}, "
                f"not {config.served_model!r}",
                "Start the server with that model, or pass "
                f"--backend-option served_model={served[0]}.",
            )
        return config.served_model
    if len(served) == 1:
        return served[0]
    if served:
        raise UsageError(
            f"the server at {config.endpoint} serves several models ({', '.join(served)})",
            "Choose one with --backend-option served_model=NAME.",
        )
    if model_path is not None:
        return str(model_path)
    raise UsageError(
        f"the server at {config.endpoint} does not list its models (GET /models)",
        "Name the served model with --backend-option served_model=NAME.",
    )


class OpenAIBackend(SubmittingBackend):
    name = "openai"
    config_class = OpenAIConfig
    needs_model = False  # the server holds the model; --model-path is its tokenizer
    model_suffixes = ("/", ".json")  # a Hugging Face folder, or its tokenizer.json
    model_formats = ("huggingface",)

    def __init__(self, config: BackendConfig | None = None) -> None:
        super().__init__(config)
        assert isinstance(self.config, OpenAIConfig)
        self.cfg: OpenAIConfig = self.config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tokenizer: TextTokenizer | None = None

    @classmethod
    def version(cls) -> str:
        import aiohttp

        return f"aiohttp-{aiohttp.__version__}"

    @classmethod
    def preflight(
        cls, config: BackendConfig, model_path: Path | None, probe: np.ndarray | None
    ) -> None:
        """The server answers, serves the model asked for, and takes the longest prompt
        with the run's ``max_new_tokens`` (streamed; closed after its first token)."""
        assert isinstance(config, OpenAIConfig)
        if probe is None:  # the engine gives generative tasks their longest prompt
            raise UsageError(
                "backend 'openai' runs generative models only (their samples are prompts)",
                "Choose a generative model (llama3.1-8b), or another backend.",
            )
        tokenizer = None
        if needs_tokenizer(config.prompt_mode, config.token_ids):
            why = "for text prompts" if config.prompt_mode == "text" else "to read answers"
            tokenizer = load_tokenizer(model_path, why)

        async def check() -> None:
            headers = _headers(config)
            async with _session(config) as session:
                model = await _served_model(session, config, headers, model_path)
                prompt = probe[0]
                body = _body(config, model, prompt, tokenizer)

                def stop(text: str, ids: list[int] | None) -> None:
                    raise _FirstToken

                try:
                    await stream_retrying(
                        session,
                        f"{config.endpoint}/completions",
                        body,
                        headers,
                        stop,
                        config.retries,
                    )
                except _FirstToken:
                    return
                except RequestError as err:
                    if err.retryable:
                        raise UsageError(
                            f"no OpenAI-compatible server answers at {config.endpoint} ({err})",
                            START_HINT,
                        ) from err
                    raise UsageError(
                        f"the server at {config.endpoint} refused model {model!r} with the "
                        f"longest prompt ({len(prompt)} tokens, max_tokens "
                        f"{config.max_new_tokens}): {err}",
                        "Check the served model's name (served_model) and its context length.",
                    ) from err

        asyncio.run(check())

    # -- the loop thread -----------------------------------------------------------------

    def load(self, model_path: Path | None) -> None:
        cfg = self.cfg
        if needs_tokenizer(cfg.prompt_mode, cfg.token_ids):
            why = "for text prompts" if cfg.prompt_mode == "text" else "to read answers"
            self._tokenizer = load_tokenizer(model_path, why)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="perfpilot-openai", daemon=True
        )
        self._thread.start()
        self._call(self._open(model_path))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "load() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _open(self, model_path: Path | None) -> None:
        cfg = self.cfg
        self._headers = _headers(cfg)
        self._session = _session(cfg)
        self._model = await _served_model(self._session, cfg, self._headers, model_path)
        self._url = f"{cfg.endpoint}/completions"
        self._queue: asyncio.Queue[tuple[_Submission, int, np.ndarray]] = asyncio.Queue()
        self._workers = [asyncio.create_task(self._worker()) for _ in range(cfg.concurrency)]
        # Failures: counted, the first kept, reported once nothing is in flight any more.
        self._in_flight = 0
        self._submitted = self._failed = self._cancelled = 0
        self._first_error: BaseException | None = None
        self._told: list[_Submission] = []
        self._error: GenerationError | None = None  # the report, once made

    def submit(
        self,
        prompts: np.ndarray,
        first_token: FirstToken | None,
        finished: Finished,
        failed: Failed,
    ) -> None:
        assert self._loop is not None, "load() first"
        sub = _Submission(first_token, finished, failed, len(prompts))
        self._loop.call_soon_threadsafe(self._enqueue, sub, prompts)

    def _enqueue(self, sub: _Submission, prompts: np.ndarray) -> None:
        self._submitted += len(prompts)
        put = self._queue.put_nowait
        for i, prompt in enumerate(prompts):
            put((sub, i, prompt))

    async def _worker(self) -> None:
        while True:
            sub, i, prompt = await self._queue.get()
            if self._first_error is not None:  # the run has failed: send no more
                self._cancelled += 1
                self._settle(sub, failed=True)
                continue
            self._in_flight += 1
            ok = False
            try:
                await self._one(sub, i, prompt)
                ok = True
            except Exception as err:  # noqa: BLE001 - counted and reported with the run
                self._failed += 1
                if self._first_error is None:
                    self._first_error = err
            finally:
                self._in_flight -= 1
            self._settle(sub, failed=not ok)

    def _settle(self, sub: _Submission, failed: bool) -> None:
        sub.open -= 1
        if failed and sub not in self._told:
            self._told.append(sub)
            if self._error is not None:  # submitted after the report: told at once
                sub.failed(self._error)
        if self._first_error is None or self._error is not None:
            return
        if self._in_flight or not self._queue.empty():
            return  # the rest fail fast (not sent) or end: then the count is whole
        first = self._first_error
        text = first.one_line() if isinstance(first, PerfpilotError) else str(first)
        self._error = error = GenerationError(
            f"{self._failed} of {self._submitted} samples failed at {self.cfg.endpoint}"
            + (f" ({self._cancelled} more not sent after that)" if self._cancelled else "")
            + f"; the first: {text}"
        )
        for told in self._told:
            told.failed(error)

    async def _one(self, sub: _Submission, i: int, prompt: np.ndarray) -> None:
        """One sample: stream it (retrying a connection that fails before any token),
        report its first token as it arrives, then its answer."""
        body = _body(self.cfg, self._model, prompt, self._tokenizer)
        first_sent = False

        def on_first(text: str, ids: list[int] | None) -> None:
            nonlocal first_sent
            first_sent = True
            if sub.first_token is not None:
                sub.first_token(i, self._first_ids(text, ids))

        done = await stream_retrying(
            self._session, self._url, body, self._headers, on_first, self.cfg.retries
        )
        tokens = self._answer_ids(done)
        if not first_sent and sub.first_token is not None:  # an empty answer
            sub.first_token(i, tokens[:1])
        n_tokens = done.completion_tokens if done.completion_tokens else len(tokens)
        sub.finished(i, tokens, n_tokens)  # LoadGen copies the ids before this returns

    def _first_ids(self, text: str, ids: list[int] | None) -> np.ndarray:
        if ids:
            return np.asarray(ids[:1], dtype=np.int32)
        if self._tokenizer is not None:
            return np.asarray(self._tokenizer.encode(text)[:1], dtype=np.int32)
        return np.zeros(0, dtype=np.int32)

    def _answer_ids(self, done: Completion) -> np.ndarray:
        if done.token_ids is not None:
            return np.asarray(done.token_ids, dtype=np.int32)
        if self._tokenizer is not None:
            return np.asarray(self._tokenizer.encode(done.text), dtype=np.int32)
        return np.zeros(0, dtype=np.int32)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shut() -> None:
            workers = getattr(self, "_workers", [])
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if getattr(self, "_session", None) is not None:
                await self._session.close()

        try:
            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
            self._loop = self._thread = None


class _FirstToken(Exception):
    """Ends the preflight's stream at its first token."""


def _body(
    config: OpenAIConfig, model: str, prompt: np.ndarray, tokenizer: TextTokenizer | None
) -> bytes:
    """The request for one prompt: greedy, streamed, with the usage in the last chunk."""
    text = config.prompt_mode == "text" and tokenizer is not None
    body: dict[str, Any] = {
        "model": model,
        "prompt": tokenizer.decode(prompt) if text and tokenizer else prompt.tolist(),
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if config.max_new_tokens:  # else the server's default
        body["max_tokens"] = config.max_new_tokens
    if config.token_ids:
        body["return_token_ids"] = True
    if config.min_tokens is not None:
        body["min_tokens"] = config.min_tokens
    return json.dumps(body).encode()
