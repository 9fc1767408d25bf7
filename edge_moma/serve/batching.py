"""Decide together the routing requests that reach the daemon in one event-loop step.

A decision's two model runs are a quarter of its CPU at batch size 1, most of
it reading the weights back into the cache; the router runs each model once
for a whole batch (at 8 queries, a quarter of the cost a query). Under load the
daemon parses several requests in each step of its event loop, so the batch
forms by itself: each request is checked as it arrives (a bad one fails alone,
at once), the first of a step schedules the decision for the end of the step
and the others join it. A lone request waits for nothing but that step, a few
microseconds.

Example (inside the event loop)::

    batcher = RouteBatcher(lambda: service.runtime)
    decision = await batcher.route(messages, context)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..context import RouteContext
from ..decision import Decision
from ..messages import Messages
from ..routing.router import RouteRequest
from ..runtime import Runtime

logger = logging.getLogger(__name__)

_Pending = tuple[Runtime, RouteRequest, "asyncio.Future[Decision]"]


class RouteBatcher:
    """``Runtime.route`` for coroutines, batched per event-loop step (module docstring)."""

    def __init__(self, runtime: Callable[[], Runtime]):
        self._runtime = runtime  # called for each request: a reload may swap the runtime
        self._pending: list[_Pending] = []
        self.batches = 0
        self.requests = 0

    async def route(self, messages: Messages, context: RouteContext | None = None) -> Decision:
        """The decision for one request, made with the others of this loop step."""
        runtime = self._runtime()
        request = runtime.router.check(messages, context)  # RequestError: this request only
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._decide)
        self._pending.append((runtime, request, future))
        return await future

    def _decide(self) -> None:
        batch, self._pending = self._pending, []
        self.batches += 1
        self.requests += len(batch)
        by_runtime: dict[int, list[_Pending]] = {}  # one group, unless a reload came between
        for item in batch:
            by_runtime.setdefault(id(item[0]), []).append(item)
        for group in by_runtime.values():
            runtime = group[0][0]
            try:
                decisions = runtime.route_checked([request for _, request, _ in group])
            except Exception as exc:  # a bug: every request of the group gets the error
                logger.exception("routing a batch of %d requests failed", len(group))
                for _, _, future in group:
                    if not future.cancelled():
                        future.set_exception(exc)
                continue
            for (_, _, future), decision in zip(group, decisions, strict=True):
                if not future.cancelled():
                    future.set_result(decision)
