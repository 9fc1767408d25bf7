"""Training, evaluating and rolling out router bundles; the fleet side of the learning loop.

``trainer`` (the embedding-bag network and its training), ``onnx_export``,
``intent`` and ``quality`` (training each bundle), ``routing_data``,
``routing_eval`` and ``routing_metrics`` (the routing benchmark),
``task_table`` (the routing table learned from partial, policy-chosen feedback),
``off_policy`` (what another router would have achieved on logged decisions),
``rollout`` (install and roll back bundles on a device) and ``fleet``
(collect logs, retrain, gate, publish). Training needs the ``[train]`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:
    from .intent import evaluate_intent, train_intent
    from .quality import train_quality
    from .rollout import install, list_versions, rollback
    from .routing_eval import evaluate_routing

_EXPORTS = {
    "evaluate_intent": ".intent",
    "evaluate_routing": ".routing_eval",
    "install": ".rollout",
    "list_versions": ".rollout",
    "rollback": ".rollout",
    "train_intent": ".intent",
    "train_quality": ".quality",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy(__name__, _EXPORTS)
