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
from ..errors import RequestError
from ..messages import Messages
from ..routing.router import RouteRequest
from ..runtime import Runtime

logger = logging.getLogger(__name__)

_Pending = tuple[Runtime, RouteRequest, "asyncio.Future[Decision]"]


class RouteBatcher:
    """``Runtime.route`` for coroutines, batched per event-loop step (module docstring)."""

    def __init__(self, runtime: Callable[[], Runtime]):
        self._runtime = runtime  # called for each request and batch: a reload may swap it
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
        runtime = self._runtime()  # the one in use now: a reload may have swapped it
        group: list[tuple[RouteRequest, asyncio.Future[Decision]]] = []
        for checked_by, request, future in batch:
            if checked_by is not runtime:  # checked against the runtime a reload replaced
                try:
                    request = runtime.router.check(request.messages, request.context)
                except RequestError as exc:
                    if not future.cancelled():
                        future.set_exception(exc)
                    continue
            group.append((request, future))
        decisions: list[Decision | BaseException]
        try:
            decisions = list(runtime.route_checked([request for request, _ in group]))
        except Exception as exc:
            # A request that passed its check can still fail as it is decided (a pinned
            # target only, which a rule masks; a bug): decide each alone, so only the
            # failing one gets its error.
            if not isinstance(exc, RequestError):
                logger.exception("routing a batch of %d requests failed", len(group))
            decisions = [_alone(runtime, request) for request, _ in group]
        for (_, future), decision in zip(group, decisions, strict=True):
            if future.cancelled():
                continue
            if isinstance(decision, BaseException):
                future.set_exception(decision)
            else:
                future.set_result(decision)


def _alone(runtime: Runtime, request: RouteRequest) -> Decision | BaseException:
    try:
        return runtime.route_checked([request])[0]
    except Exception as exc:
        return exc
