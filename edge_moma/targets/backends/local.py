"""A GGUF model run on the device by llama.cpp (llama-cpp-python).

The model is loaded on first use, not at start-up: a runtime that only routes
never pays for it. Loaded models live in a ``LocalPool`` that keeps them within
the memory budget. llama.cpp contexts are not thread-safe, so one ``FairLock``
per model serves requests one at a time, in arrival order.

Generation always streams internally: that is how the time to first token is
measured and how a running generation is cancelled between two tokens.

The chat template is the one stored in the GGUF (``tokenizer.chat_template``);
the config may override it with a llama-cpp-python format name
(``chat_format = "chatml"``) or a Jinja template (``chat_template = "..."``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Generator
from typing import Any

from ...config import LocalModel
from ...errors import TargetBusy, TargetError, TargetUnavailable
from .base import FINISH_CANCELLED, BackendOptions, ChatRequest, Completion, drain
from .pool import FairLock, LocalPool

log = logging.getLogger(__name__)

_MB = 1024 * 1024
_CLOSE_WAIT_S = 0.1  # the longest close() waits for a running generation to stop


class LocalBackend:
    """llama.cpp chat completion for one configured local model."""

    def __init__(self, model: LocalModel, options: BackendOptions | None = None):
        options = options or BackendOptions()
        self.name = model.name
        self._model = model
        self._threads = model.threads or options.threads or (os.cpu_count() or 1)
        self._pool = options.pool if options.pool is not None else LocalPool()
        self._llama: Any = None
        self._lock = FairLock()
        self._max_queue = options.max_queue
        self._last_latency_s = 1.0  # the Retry-After estimate of a refused request

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    @property
    def queued(self) -> int:
        """Requests waiting for this model."""
        return self._lock.waiting

    @property
    def memory_mb(self) -> float:
        """The memory the model is expected to take: the config's ``memory_mb`` or its file size."""
        if self._model.memory_mb > 0:
            return self._model.memory_mb
        path = self._model.resolved_path
        try:
            return path.stat().st_size / _MB if path is not None else 0.0
        except OSError:
            return 0.0

    # --- loading (called with the model's lock held) ------------------------------

    def _load(self) -> Any:
        if self._llama is not None:
            return self._llama
        path = self._model.resolved_path
        if path is None or not path.is_file():
            raise TargetUnavailable(
                f"model file {self._model.path!r} not found; fix models.path in the config",
                target=self.name,
            )
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - a broken install
            raise TargetUnavailable(
                "llama-cpp-python is not installed: pip install llama-cpp-python",
                target=self.name,
            ) from exc
        self._pool.reserve(self, self.memory_mb)
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=self._model.context,
                n_threads=self._threads,
                chat_format=self._model.chat_format or None,
                verbose=False,
            )
            if self._model.chat_template:
                llama.chat_handler = _jinja_handler(llama, self._model.chat_template)
        except (ValueError, RuntimeError, OSError, ImportError) as exc:
            self._pool.forget(self.name)
            raise TargetUnavailable(
                f"cannot load {path.name} (is it a valid GGUF file?): {exc}", target=self.name
            ) from exc
        except Exception as exc:  # a bad template is a jinja2 error: still the model's fault
            self._pool.forget(self.name)
            raise TargetUnavailable(f"cannot load {path.name}: {exc}", target=self.name) from exc
        log.info("loaded %s from %s (%.0f MB)", self.name, path.name, self.memory_mb)
        self._llama = llama
        return llama

    def _unload(self) -> None:
        if self._llama is not None:
            with contextlib.suppress(Exception):
                self._llama.close()
            self._llama = None

    def unload_if_idle(self) -> bool:
        """Unload the model unless a request holds it; the pool calls this to make room."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._unload()
            return True
        finally:
            self._lock.release()

    # --- generation ---------------------------------------------------------------

    def complete(self, request: ChatRequest) -> Completion:
        return drain(self.stream(request))

    def stream(self, request: ChatRequest) -> Generator[str, None, Completion]:
        start = time.perf_counter()
        waiting = self._lock.waiting
        if self._max_queue and self._lock.locked and waiting >= self._max_queue:
            raise TargetBusy(
                f"{waiting} requests are already queued for this model ([runtime] max_queue)",
                target=self.name,
                retry_after_s=max(1.0, (waiting + 1) * self._last_latency_s),
            )
        if not self._lock.acquire(timeout=request.timeout_s, cancel=request.cancel):
            if request.cancelled:
                return Completion("", self.name, finish_reason=FINISH_CANCELLED)
            # Waiting in line is no fault of the model's: it must not open its circuit
            # breaker (under load that masked the model for everyone).
            raise TargetBusy(
                f"busy: still queued behind other requests after {request.timeout_s:.1f} s",
                target=self.name,
                retry_after_s=max(1.0, (self._lock.waiting + 1) * self._last_latency_s),
            )
        served = time.perf_counter()
        try:
            llama = self._load()
            self._pool.touch(self.name)
            if request.cancelled:  # e.g. while the model loaded: no prompt to evaluate
                return Completion("", self.name, finish_reason=FINISH_CANCELLED)
            pieces: list[str] = []
            prompt_tokens = tokens = 0
            ttft: float | None = None
            finish = "stop"
            chunks = llama.create_chat_completion(
                messages=list(request.messages),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stop=list(request.stop) or None,
                stream=True,
            )
            try:
                for chunk in chunks:
                    if request.cancelled:
                        finish = FINISH_CANCELLED
                        break
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - start
                            prompt_tokens = llama.n_tokens  # only the prompt is evaluated yet
                        tokens += 1
                        pieces.append(piece)
                        yield piece
                    finish = choice.get("finish_reason") or finish
            finally:
                chunks.close()
        except (ValueError, RuntimeError) as exc:
            raise TargetError(f"generation failed: {exc}", target=self.name) from exc
        finally:
            self._last_latency_s = time.perf_counter() - served
            self._lock.release()
        return Completion(
            text="".join(pieces),
            target=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=tokens,
            latency_s=time.perf_counter() - start,
            ttft_s=ttft,
            finish_reason=finish,
        )

    def close(self, timeout: float = _CLOSE_WAIT_S) -> None:
        """Unload the model once a running request has finished (cancel it first).

        A generation still running after ``timeout`` (a long prompt is evaluated in
        one go, without a token boundary to stop at) keeps the model: a process that
        is exiting must not wait for it.
        """
        if not self._lock.acquire(timeout=timeout):
            log.warning("%s is still generating; not unloaded", self.name)
            return
        try:
            self._unload()
            self._pool.forget(self.name)
        finally:
            self._lock.release()


def _jinja_handler(llama: Any, template: str) -> Any:
    """A chat handler rendering ``template`` with the model's own BOS/EOS tokens."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    eos = llama._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llama._model.token_get_text(bos_id) if bos_id != -1 else ""
    return Jinja2ChatFormatter(
        template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
    ).to_chat_handler()
