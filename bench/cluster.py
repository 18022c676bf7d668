"""The bench's cluster: which RunConfigurations exist at each size, always the same ones in the same order.

PAIRS upstream/dependent pairs, the rest `lonely-*` nobody depends on (what most emitters are). Kept
apart from `bench/fakes.py` so the bench and the tests read it without importing the fakes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NAMESPACE", "PAIRS", "PIPELINE", "objects", "runconfiguration"]

PAIRS = 16
NAMESPACE = "team"
PIPELINE = "pipe"


def runconfiguration(name: str, triggers: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "apiVersion": "pipelines.kubeflow.org/v1beta1",
        "kind": "RunConfiguration",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "run": {
                "pipeline": PIPELINE,
                "provider": "kfp-operator/kfp",
                "parameters": [{"name": "mode", "value": "fast"}],
            },
            "triggers": {"runConfigurations": list(triggers)},
        },
    }


def objects(count: int) -> list[dict[str, Any]]:
    """The first `count` RunConfigurations of the bench's cluster, always in the same order."""
    out: list[dict[str, Any]] = []
    for i in range(PAIRS):
        out.append(runconfiguration(f"upstream-{i:02d}"))
        out.append(runconfiguration(f"down-{i:02d}", triggers=(f"upstream-{i:02d}",)))
    out.extend(runconfiguration(f"lonely-{i:06d}") for i in range(max(0, count - len(out))))
    return out[:count]
