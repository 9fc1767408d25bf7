"""A GGUF model run on the device by llama.cpp (llama-cpp-python).

The model is loaded on first use, not at start-up: a runtime that only routes
never pays for it. llama.cpp contexts are not thread-safe, so one lock per
model serialises requests.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..config import LocalModel
from ..errors import TargetError, TargetUnavailable
from .base import ChatRequest, Completion


class LocalBackend:
    """llama.cpp chat completion for one configured local model."""

    def __init__(self, model: LocalModel, *, threads: int = 0):
        self.name = model.name
        self._model = model
        self._threads = model.threads or threads or (os.cpu_count() or 1)
        self._llama: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def _load(self) -> Any:
        if self._llama is not None:
            return self._llama
        path = self._model.resolved_path
        if path is None or not path.is_file():
            raise TargetUnavailable(f"model file {self._model.path!r} not found", target=self.name)
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - a broken install
            raise TargetUnavailable(
                "llama-cpp-python is not installed: pip install llama-cpp-python",
                target=self.name,
            ) from exc
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self._model.context,
                n_threads=self._threads,
                chat_format=self._model.chat_format or None,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise TargetUnavailable(f"cannot load {path.name}: {exc}", target=self.name) from exc
        return self._llama

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": list(request.stop) or None,
        }

    def complete(self, request: ChatRequest) -> Completion:
        with self._lock:
            llama = self._load()
            start = time.perf_counter()
            try:
                out = llama.create_chat_completion(**self._params(request))
            except (ValueError, RuntimeError) as exc:
                raise TargetError(f"generation failed: {exc}", target=self.name) from exc
            elapsed = time.perf_counter() - start
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            target=self.name,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=elapsed,
            finish_reason=choice.get("finish_reason") or "stop",
        )

    def stream(self, request: ChatRequest) -> Iterator[str]:
        with self._lock:
            llama = self._load()
            try:
                chunks = llama.create_chat_completion(**self._params(request), stream=True)
                for chunk in chunks:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            except (ValueError, RuntimeError) as exc:
                raise TargetError(f"generation failed: {exc}", target=self.name) from exc

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                with contextlib.suppress(Exception):
                    self._llama.close()
                self._llama = None
