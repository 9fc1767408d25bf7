"""A new kind of model target is its config class, its backend and one registry entry.

``echo`` is defined here and nowhere in edge-moma: the config loader, routing
(its masks read the traits the kind declares), ``edge-moma doctor`` and
execution with fallback all take it without a change to the package.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import pytest

from edge_moma.doctor import diagnose, format_diagnosis
from edge_moma.errors import ConfigError
from edge_moma.messages import query_text
from edge_moma.runtime import Runtime
from edge_moma.targets import kinds
from edge_moma.targets.backends import BackendOptions, ChatRequest, Completion
from edge_moma.traits import TargetTraits


@dataclass(frozen=True)
class EchoModel:
    """A ``[[models]]`` table of kind "echo": answers with the question, prefixed."""

    name: str
    kind: str = "echo"
    prefix: str = "echo: "
    needs_network: bool = False  # to show that masks follow what the kind declares
    ttft_s: float = 0.001
    tokens_per_s: float = 1000.0
    profile: str = ""
    priors: dict[str, float] = field(default_factory=dict)

    def traits(self) -> TargetTraits:
        return TargetTraits(
            on_device=not self.needs_network,
            needs_network=self.needs_network,
            leaves_device=self.needs_network,
            sensitive_ok=not self.needs_network,
            ttft_s=self.ttft_s,
            tokens_per_s=self.tokens_per_s,
        )

    def unavailable(self) -> str | None:
        return None


class EchoBackend:
    def __init__(self, model: EchoModel, options: BackendOptions):
        self.name, self._prefix = model.name, model.prefix

    def complete(self, request: ChatRequest) -> Completion:
        text = self._prefix + query_text(request.messages)
        return Completion(text=text, target=self.name, completion_tokens=len(text.split()))

    def stream(self, request: ChatRequest) -> Generator[str, None, Completion]:
        completion = self.complete(request)
        yield completion.text
        return completion

    def close(self) -> None:
        pass


CONFIG = """
[policy]
tradeoff = 1.0
explore = 0.0  # the chosen target is what this test checks, not exploration

[[models]]
name = "parrot"
kind = "echo"
prefix = "parrot says: "
priors = { overall = 0.9 }

[[models]]
name = "far-parrot"
kind = "echo"
needs_network = true
priors = { overall = 0.95 }
"""


@pytest.fixture(autouse=True)
def echo_kind() -> Iterator[None]:
    kinds.register(kinds.ModelKind("echo", EchoModel, "test_target_kinds:EchoBackend"))
    yield
    kinds.unregister("echo")


def test_config_routing_masks_doctor_and_execution_accept_a_new_kind(write_config) -> None:
    path = write_config(CONFIG)
    with Runtime.from_config(path) as rt:
        rt.device.set(online=True, battery_percent=None, charging=True)
        online = rt.route("Write a limerick about a parrot.")
        assert online.target == "far-parrot"  # the better prior, and the network is up
        assert {c.kind for c in online.candidates if c.kind != "agent"} == {"echo"}
        offline = rt.route("Write a limerick about a parrot.", context={"online": False})
        assert offline.target == "parrot"
        assert offline.candidate("far-parrot").masked_by == "network"  # type: ignore[union-attr]
        private = rt.route("my email is a@b.co, write a limerick", context={"sensitive": True})
        assert private.candidate("far-parrot").masked_by == "privacy"  # type: ignore[union-attr]

        answer = rt.complete("Say something.", context={"online": False})
        assert (answer.target, answer.text) == ("parrot", "parrot says: Say something.")
        with rt.stream("Again.", target="far-parrot") as stream:
            assert "".join(stream) == "echo: Again."
        assert stream.response is not None and stream.response.target == "far-parrot"
        listed = {r["id"]: r for r in rt.targets()}
        assert listed["far-parrot"]["kind"] == "echo" and listed["parrot"]["available"]

    report = diagnose(str(path))
    assert [(m["name"], m["kind"], m["found"]) for m in report["models"]] == [
        ("parrot", "echo", True),
        ("far-parrot", "echo", True),
    ]
    assert "parrot" in format_diagnosis(report)


def test_an_unregistered_kind_is_a_config_error_naming_the_kinds(write_config) -> None:
    kinds.unregister("echo")
    with pytest.raises(ConfigError, match=r"models\[0\]\.kind: found kind = 'echo'.*'local'"):
        Runtime.from_config(write_config(CONFIG))
