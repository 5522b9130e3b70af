"""The openai backend's config: where the server is and how to talk to it. Every field is a
``--backend-option KEY=VALUE``; ``--endpoint`` and ``--api-key-env`` set the first two."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from perfpilot.backends.base import BackendConfig


class OpenAIConfig(BackendConfig):
    """An OpenAI-compatible server's ``/v1/completions``, streamed, greedy."""

    #: The API's base URL (the part before ``/completions``).
    endpoint: str = "http://127.0.0.1:8000/v1"
    #: The name of the environment variable that holds the API key (the key itself is
    #: never in a config, so never in a run record).
    api_key_env: str = ""
    #: The model name the server serves; "" asks ``GET /models`` (else --model-path).
    served_model: str = ""
    #: Requests in flight at once, as a load-generating client keeps them.
    concurrency: int = Field(default=64, ge=1, le=65_536)
    #: Seconds to connect, and the longest gap between two streamed chunks.
    timeout_s: float = Field(default=600.0, gt=0.0, le=7 * 24 * 3600.0)
    #: Retries of a request whose connection failed before any token arrived.
    retries: int = Field(default=2, ge=0, le=100)
    #: Tokens to generate per sample; by default the task's (Llama 3.1 8B: 128); 0 or
    #: None leaves it to the server.
    max_new_tokens: int | None = Field(default=None, ge=0, le=1_000_000)
    #: "tokens": the prompt's token ids as sent (MLPerf closed); "text": the prompt
    #: decoded by --model-path's tokenizer, for servers that take strings only.
    prompt_mode: Literal["tokens", "text"] = "tokens"
    #: Ask the server for the generated token ids (vLLM's ``return_token_ids``); without
    #: them the generated text is tokenized again with --model-path's tokenizer.
    token_ids: bool = False
    #: vLLM's ``min_tokens`` (the reference sends 1); not sent when unset.
    min_tokens: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://host:8000/v1")
        return value.rstrip("/")
