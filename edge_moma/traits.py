"""``TargetTraits``: what routing may know about a target without calling it.

Every kind of target (a local model, a remote model, an on-device or HTTP
agent, a kind a user adds) declares its traits from its config entry
(``traits()`` of the config dataclass). The masks and the cost, latency and
energy estimates read traits only, never config classes, so a new kind of
target needs no change in routing.

Example::

    LocalModel(name="smol", path="x.gguf").traits().drains_battery      # True
    RemoteModel(name="gpt", base_url="https://h.example/v1", model="g").traits().leaves_device
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .speed import Speed


@dataclass(frozen=True)
class TargetTraits:
    """Where a target runs, what it needs, what the request must grant it, and its figures.

    The figures are the declared ones: a measured speed replaces ``ttft_s`` and
    ``tokens_per_s`` once the target has answered on this device.
    """

    on_device: bool  # runs on this device: the least-bad fallback when everything is masked
    needs_network: bool  # masked while the device is offline
    leaves_device: bool  # the request's text is sent off the device
    sensitive_ok: bool  # may see text a privacy rule matched (never true when leaves_device)
    drains_battery: bool = False  # heavy work here: masked at a critical battery, pays energy
    joules_per_token: float = 0.0
    usd_per_call: float = 0.0
    usd_per_1k_in: float = 0.0  # USD per 1,000 prompt tokens
    usd_per_1k_out: float = 0.0  # USD per 1,000 generated tokens
    ttft_s: float = 0.0  # declared time to the first token (to the answer, for an agent)
    tokens_per_s: float = math.inf  # declared generation speed (inf: answers at once)
    permissions: tuple[str, ...] = ()  # "permission:NAME" the request must grant
    slots: tuple[str, ...] = ()  # "slot:NAME" the request's context must hold
    enabled: bool = True

    @property
    def declared_speed(self) -> Speed:
        return Speed(self.ttft_s, self.tokens_per_s)
