"""The HTTP side: list a server's models, and stream one completion from ``/completions``
(server-sent events: ``data: {json}`` lines, ``data: [DONE]`` last)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp


class RequestError(Exception):
    """A request that failed; ``retryable`` when its connection broke before any token."""

    def __init__(self, message: str, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass
class Completion:
    """One streamed answer: its text, the server's token ids where it sent them, and the
    server's count of generated tokens (``usage.completion_tokens``) where it sent one."""

    text: str
    token_ids: list[int] | None
    completion_tokens: int | None


def server_message(body: str) -> str:
    """The error text in a server's error body (OpenAI ``{"error": {"message"}}``,
    FastAPI ``{"detail"}``), on one line."""
    try:
        data = json.loads(body)
    except ValueError:
        data = body
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message", data)))
        if isinstance(error, dict):
            error = error.get("message", error)
        data = error
    text = " ".join(str(data).split())
    return text[:300] + ("..." if len(text) > 300 else "")


async def list_models(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> list[str]:
    """The ids ``GET {base}/models`` lists; raises RequestError where it lists none."""
    try:
        async with session.get(f"{base}/models", headers=headers) as resp:
            body = await resp.text()
            if resp.status >= 400:
                raise RequestError(server_message(body) or resp.reason or "", status=resp.status)
    except aiohttp.ClientConnectionError as err:
        raise RequestError(str(err) or type(err).__name__, retryable=True) from err
    try:
        return [str(m["id"]) for m in json.loads(body)["data"]]
    except (ValueError, KeyError, TypeError) as err:
        raise RequestError(f"unexpected answer to GET /models: {body[:200]}") from err


async def stream_completion(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    on_first: Callable[[str, list[int] | None], None] | None = None,
) -> Completion:
    """POST ``body`` (``stream: true``) and read the answer as it streams; ``on_first``
    is called with the first non-empty text (and its token ids, where sent) as it
    arrives: the time to first token."""
    pieces: list[str] = []
    ids: list[int] | None = None
    usage: int | None = None
    got_token = False
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status >= 400:
                text = await resp.text()
                raise RequestError(
                    f"HTTP {resp.status}: {server_message(text) or resp.reason}",
                    status=resp.status,
                )
            async for line in resp.content:
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments, "event:" lines
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                chunk: dict[str, Any] = json.loads(data)
                if "error" in chunk:
                    raise RequestError(
                        f"the server's stream ended in an error: {server_message(data.decode())}"
                    )
                for choice in chunk.get("choices") or ():
                    text = choice.get("text") or ""
                    new_ids = choice.get("token_ids")
                    if new_ids:
                        ids = [*ids, *new_ids] if ids else list(new_ids)
                    if text:
                        pieces.append(text)
                        if not got_token:
                            got_token = True
                            if on_first is not None:
                                on_first(text, new_ids)
                if chunk.get("usage"):
                    usage = chunk["usage"].get("completion_tokens")
    except TimeoutError as err:  # before the connection errors: aiohttp's are both
        raise RequestError(f"no answer from {url} within the timeout (timeout_s)") from err
    except aiohttp.ClientError as err:  # refused, reset, a stream cut short
        where = "after its first token" if got_token else "before any token"
        raise RequestError(
            f"the connection to {url} broke {where} ({str(err) or type(err).__name__})",
            retryable=not got_token,
        ) from err
    except ValueError as err:  # a data line that is not JSON
        raise RequestError(f"unreadable event from {url}: {err}") from err
    return Completion("".join(pieces), ids, usage)


async def stream_retrying(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    on_first: Callable[[str, list[int] | None], None] | None,
    retries: int,
) -> Completion:
    """:func:`stream_completion`, again after a connection that failed before any token
    (a refused connect, a kept-alive connection the server had closed), with backoff."""
    attempt = 0
    while True:
        try:
            return await stream_completion(session, url, body, headers, on_first)
        except RequestError as err:
            if not err.retryable or attempt >= retries:
                raise
            attempt += 1
            await asyncio.sleep(0.25 * 2**attempt)
