"""``edge-moma demo``: the main job on the embedded default, offline.

It routes a small set of real queries (from the training datasets' kinds:
assistant requests, math, code, knowledge, writing, a sensitive one), shows
how decisions flip when the device state changes (with an example cloud model
added to the pool: routed, never called), then answers two queries with the
local model for real.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .config import Config, RemoteModel
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

# Routed, never called: shows the policy weighing a cloud model against the local one.
EXAMPLE_CLOUD = RemoteModel(
    name="example-cloud-gpt-4",
    base_url="https://api.example.invalid/v1",
    model="gpt-4-1106-preview",
    price_in=0.01,
    price_out=0.03,
    latency_s=0.8,
    tokens_per_s=40.0,
    profile="gpt-4-1106-preview",
)

DEMO_CONTEXTS: tuple[tuple[str, RouteContext], ...] = (
    ("online, on mains", RouteContext(online=True, charging=True, battery_percent=None)),
    ("offline", RouteContext(online=False)),
    ("sensitive (privacy rule)", RouteContext(online=True, sensitive=True)),
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
    echo(f"== the same query as the device state changes (pool + {EXAMPLE_CLOUD.name}) ==")
    query = "Summarise the plot of Hamlet in three sentences."
    echo("> " + query)
    with Runtime(with_example_cloud(rt.config)) as cloud_rt:
        for label, ctx in DEMO_CONTEXTS:
            d = cloud_rt.route(query, context=ctx)
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


def with_example_cloud(config: Config) -> Config:
    """The config's pool plus ``EXAMPLE_CLOUD``, logging and exploration off: for routing
    only, so the decision flips with the device state and nothing else."""
    runtime = dataclasses.replace(config.runtime, log=False)
    policy = dataclasses.replace(config.policy, explore=0.0)
    return dataclasses.replace(
        config, runtime=runtime, policy=policy, models=[*config.models, EXAMPLE_CLOUD]
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
