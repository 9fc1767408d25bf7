"""``edge-moma demo``: the main job on the embedded default, offline.

It routes a small set of real queries (from the training datasets' kinds:
assistant requests, math, code, knowledge, writing, a sensitive one), shows
how decisions flip when the device state changes, then answers two queries
with the local model for real.
"""

from __future__ import annotations

from collections.abc import Callable

from .context import RouteContext
from .errors import TargetError
from .report import format_decision, format_response
from .runtime import Runtime

DEMO_QUERIES: tuple[str, ...] = (
    "what's 15% of 80",
    "set a reminder to call mom at 6pm",
    "how do i say thank you in italian",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?",
    'def fizzbuzz(n: int) -> list[str]:\n    """Return the FizzBuzz sequence up to n."""',
    "Which gas do plants absorb from the air for photosynthesis?\nA) oxygen\nB) carbon dioxide"
    "\nC) nitrogen\nD) helium",
    "Compose an engaging travel blog post about a recent trip to Hawaii.",
    "my email is jane.doe@example.com, can you draft a reply to my doctor about my prescription",
)

DEMO_CONTEXTS: tuple[tuple[str, RouteContext], ...] = (
    ("as the device is now", RouteContext()),
    ("offline", RouteContext(online=False)),
    ("battery 15%, not charging", RouteContext(battery_percent=15, charging=False)),
    ("battery 3%, not charging", RouteContext(battery_percent=3, charging=False)),
    ("deadline 0.5 s", RouteContext(deadline_s=0.5)),
)

GENERATE: tuple[str, ...] = (
    "Name the capital of France.",
    "Give me one tip for sleeping better.",
)


def run_demo(rt: Runtime, echo: Callable[[str], None], *, generate: bool = True) -> None:
    """Print each decision with its reason; optionally answer ``GENERATE`` locally."""
    echo(f"config: {rt.config.path}")
    echo(f"router: {rt.router_version}; pool: {', '.join(m.name for m in rt.config.models)}\n")
    for query in DEMO_QUERIES:
        echo("> " + query.splitlines()[0][:100])
        echo(_indent(format_decision(rt.route(query))) + "\n")
    echo("== the same query as the device state changes ==")
    query = "Summarise the plot of Hamlet in three sentences."
    echo("> " + query)
    for label, ctx in DEMO_CONTEXTS:
        d = rt.route(query, context=ctx)
        flag = " (all masked)" if d.all_masked else ""
        echo(f"  {label:<28} -> {d.target}{flag}: {d.reason}")
    if not generate:
        return
    echo("\n== answering with the chosen target ==")
    for query in GENERATE:
        echo("> " + query)
        try:
            response = rt.complete(query, max_tokens=64, context=RouteContext(online=False))
        except TargetError as exc:
            echo(f"  failed: {exc}")
            continue
        echo(_indent(format_response(response)) + "\n")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
