"""Decide together the routing requests that reach the daemon in one event-loop step.

A decision's two model runs are a quarter of its CPU at batch size 1, most of
it reading the weights back into the cache; ``Runtime.route_many`` runs each
model once for a whole batch (at 8 queries, a quarter of the cost a query).
Under load the daemon parses several requests in each step of its event loop,
so the batch forms by itself: the first request of a step schedules the
decision for the end of the step and the others join it. A lone request waits
for nothing but that step, a few microseconds.

Example (inside the event loop)::

    batcher = RouteBatcher(lambda: service.runtime)
    decision = await batcher.route(messages, context)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from ..context import RouteContext
from ..decision import Decision
from ..errors import RequestError
from ..messages import Messages
from ..runtime import Runtime

logger = logging.getLogger(__name__)

_Pending = tuple[Messages, RouteContext | None, "asyncio.Future[Decision]"]


class RouteBatcher:
    """``Runtime.route`` for coroutines, batched per event-loop step (module docstring)."""

    def __init__(self, runtime: Callable[[], Runtime]):
        self._runtime = runtime  # called at each batch: a reload may swap the runtime
        self._pending: list[_Pending] = []
        self.batches = 0
        self.requests = 0

    async def route(self, messages: Messages, context: RouteContext | None = None) -> Decision:
        """The decision for one request, made with the others of this loop step."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._decide)
        self._pending.append((messages, context, future))
        return await future

    def _decide(self) -> None:
        batch, self._pending = self._pending, []
        self.batches += 1
        self.requests += len(batch)
        runtime = self._runtime()
        try:
            decisions: Sequence[Decision | BaseException] = runtime.route_many(
                [messages for messages, _, _ in batch], contexts=[c for _, c, _ in batch]
            )
        except RequestError:
            # route_many checks every request before deciding any: find the bad
            # one(s) by deciding each alone, so the others are still answered.
            decisions = [_alone(runtime, messages, context) for messages, context, _ in batch]
        except Exception as exc:  # a bug: every request of the batch gets the error
            logger.exception("routing a batch of %d requests failed", len(batch))
            decisions = [exc] * len(batch)
        for (_, _, future), decision in zip(batch, decisions, strict=True):
            if future.cancelled():
                continue
            if isinstance(decision, BaseException):
                future.set_exception(decision)
            else:
                future.set_result(decision)


def _alone(
    runtime: Runtime, messages: Messages, context: RouteContext | None
) -> Decision | BaseException:
    try:
        return runtime.route(messages, context=context)
    except Exception as exc:
        return exc
