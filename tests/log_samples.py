"""Real ``Decision`` values for the log, sync and fleet tests, built as the policy builds them."""

from __future__ import annotations

import hashlib
import time
import uuid

from edge_moma.attempt import Attempt
from edge_moma.decision import Candidate, Decision, DecisionContext, IntentScore, Understanding
from edge_moma.log.sinks import LogRecord

QUERIES = [
    "what's 15% of 80",
    "write a haiku about autumn rain",
    "my email is jane.doe@example.com, please summarize my notes",
    "explain how a transformer attention layer works",
    "translate good morning into French",
]


def make_decision(
    text: str, *, created: float | None = None, router_version: str = "intent:i1+routing:r1"
) -> Decision:
    sha = hashlib.sha256(text.encode()).hexdigest()
    local = Candidate("smollm2-135m", "local", 0.41, 0.0, 0.8, 12.0, 0.35)
    remote = Candidate("cloud-large", "remote", 0.88, 0.0021, 1.9, 0.5, 0.52, "network", "offline")
    return Decision(
        id=uuid.uuid4().hex,
        created=time.time() if created is None else created,
        stage="llm",
        target="smollm2-135m",
        fallbacks=(),
        reason="best utility among eligible candidates",
        candidates=(local, remote),
        understanding=Understanding(
            intents=(IntentScore("calculator", 0.81), IntentScore("oos", 0.07)),
            out_of_scope=False,
            task="math",
            task_confidence=0.77,
            router_version="i1",
        ),
        context=DecisionContext(online=False, battery_percent=64.0, query_sha256=sha),
        router_version=router_version,
    )


def make_record(i: int = 0, *, attempts: bool = False, **kw: object) -> LogRecord:
    text = QUERIES[i % len(QUERIES)]
    tried = (
        (Attempt("smollm2-135m", 0.42, 12, 30, 0.0), Attempt("cloud-large", 1.1, error="offline"))
        if attempts
        else ()
    )
    return LogRecord(make_decision(text, **kw), text, tried, 1)  # type: ignore[arg-type]
