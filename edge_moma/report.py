"""Human-readable and JSON renderings of decisions and responses, shared by CLI and daemon."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .decision import Decision
from .targets.executor import Response


def format_decision(decision: Decision) -> str:
    """A few lines a person can read: who, why, and every candidate's figures."""
    lines = [f"target:  {decision.target or '(none)'}  [{decision.stage} stage]"]
    u = decision.understanding
    if u is not None:
        top = ", ".join(f"{i.label} {i.confidence:.2f}" for i in u.intents[:3])
        scope = "out of scope" if u.out_of_scope else "in scope"
        lines.append(f"intent:  {top} ({scope}); task: {u.task} {u.task_confidence:.2f}")
    lines.append(f"reason:  {decision.reason}")
    if decision.fallbacks:
        lines.append(f"fallbacks: {', '.join(decision.fallbacks)}")
    for c in decision.candidates:
        figures = (
            f"q={c.quality:.2f} ${c.cost_usd:.5f} {c.latency_s:.1f}s "
            f"{c.energy_j:.0f}J u={c.utility:+.3f}"
        )
        status = f"masked by {c.masked_by}: {c.reason}" if c.masked_by else "eligible"
        lines.append(f"  {c.target:<24} {c.kind:<6} {figures}  {status}")
    return "\n".join(lines)


def response_dict(response: Response) -> dict[str, Any]:
    return {
        "text": response.text,
        "target": response.target,
        "attempts": [asdict(a) for a in response.attempts],
        "decision": response.decision.to_dict(),
    }


def format_response(response: Response) -> str:
    return f"{response.text.strip()}\n\n{format_answered_by(response)}"


def format_answered_by(response: Response) -> str:
    """The footer under an answer: who answered, how fast, and who failed first."""
    tried = ""
    if response.fell_back:
        failed = ", ".join(f"{a.target} ({a.error})" for a in response.attempts if a.error)
        tried = f"; fell back after: {failed}"
    last = response.attempts[-1] if response.attempts else None
    if last is None:
        return "-- nothing answered (cancelled)"
    return (
        f"-- answered by {response.target} "
        f"in {last.latency_s:.2f} s, {last.completion_tokens} tokens{tried}"
    )
