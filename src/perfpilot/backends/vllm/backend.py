"""The vllm backend: vLLM's asynchronous engine in process, on CUDA GPUs.

Prompts go in as token ids (the references' own), greedy, ``max_new_tokens`` from the
task. The engine schedules every request it is given (continuous batching), so the
harness submits each query at once and hears of each sample's first token and answer
as vLLM streams them, from an asyncio loop on a thread of its own.

vLLM needs an NVIDIA GPU and a CUDA build of torch: its extra (``perfpilot[vllm]``) is
not part of ``perfpilot[all]``, and without a GPU the backend says so in one line.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import Field

from perfpilot.backends.base import BackendConfig
from perfpilot.backends.submitting import SubmittingBackend
from perfpilot.errors import UsageError

T = TypeVar("T")
FirstToken = Callable[[int, np.ndarray], None]
Finished = Callable[[int, np.ndarray, int], None]
Failed = Callable[[BaseException], None]

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class VllmConfig(BackendConfig):
    """The vllm backend's options (``--backend-option KEY=VALUE``); 0 leaves vLLM's own
    default."""

    max_new_tokens: int = Field(default=0, ge=0, le=1_000_000)  # 0: the task's
    tensor_parallel_size: int = Field(default=1, ge=1, le=1024)
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    max_model_len: int = Field(default=0, ge=0, le=100_000_000)
    max_num_seqs: int = Field(default=0, ge=0, le=1_000_000)


class VllmBackend(SubmittingBackend):
    name = "vllm"
    config_class = VllmConfig
    model_suffixes = ("/",)
    model_formats = ("huggingface",)
    precisions = ("fp32", "bf16", "fp16")

    @classmethod
    def version(cls) -> str:
        import vllm

        return f"vllm-{vllm.__version__}"

    @classmethod
    def check_device(cls, device: str) -> None:
        import torch

        if device != "cuda" or not torch.cuda.is_available():
            raise UsageError(
                "backend 'vllm' runs on NVIDIA GPUs only, and none is visible here",
                "Run it with --device cuda on a GPU machine, or use --backend transformers "
                "(CPU) or --backend openai against a server.",
            )

    def load(self, model_path: Path | None) -> None:
        if model_path is None:
            raise UsageError("the vllm backend needs a model folder (--model-path)")
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        cfg = self.config
        assert isinstance(cfg, VllmConfig)
        options: dict[str, Any] = {
            "model": str(model_path),
            "dtype": _DTYPES[cfg.precision],
            "tensor_parallel_size": cfg.tensor_parallel_size,
            "gpu_memory_utilization": cfg.gpu_memory_utilization,
        }
        if cfg.max_model_len:
            options["max_model_len"] = cfg.max_model_len
        if cfg.max_num_seqs:
            options["max_num_seqs"] = cfg.max_num_seqs
        self._max_new = cfg.max_new_tokens or 128
        self._ids = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="perfpilot-vllm", daemon=True
        )
        self._thread.start()

        async def start() -> Any:
            return AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**options))

        self._engine = self._call(start())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "load() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def submit(
        self,
        prompts: np.ndarray,
        first_token: FirstToken | None,
        finished: Finished,
        failed: Failed,
    ) -> None:
        assert self._loop is not None, "load() first"
        loop, told = self._loop, [False]

        def fail(err: BaseException) -> None:
            if not told[0]:  # the run fails once, with the first error
                told[0] = True
                failed(err)

        for i, prompt in enumerate(prompts):
            asyncio.run_coroutine_threadsafe(
                self._one(i, prompt, first_token, finished, fail), loop
            )

    async def _one(
        self,
        i: int,
        prompt: np.ndarray,
        first_token: FirstToken | None,
        finished: Finished,
        fail: Failed,
    ) -> None:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(temperature=0.0, max_tokens=self._max_new)
        ids: list[int] = []
        try:
            stream = self._engine.generate(
                TokensPrompt(prompt_token_ids=prompt.tolist()), params, str(next(self._ids))
            )
            async for out in stream:  # cumulative outputs: the answer so far
                ids = list(out.outputs[0].token_ids)
                if first_token is not None and ids:
                    first_token(i, np.asarray(ids[:1], dtype=np.int32))
                    first_token = None
        except Exception as err:  # noqa: BLE001 - the run fails with the engine's error
            fail(err)
            return
        answer = np.asarray(ids, dtype=np.int32)
        finished(i, answer, len(answer))

    def close(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None and hasattr(engine, "shutdown"):
            engine.shutdown()
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=30)
            loop.close()
            self._loop = None
