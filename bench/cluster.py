"""The bench's cluster: which RunConfigurations exist at each size, always the same ones in the same order.

PAIRS upstream/dependent pairs, the rest `lonely-*` nobody depends on (what most emitters are). Kept
apart from `bench/fakes.py` so the bench and the tests read it without importing the fakes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ARTIFACT", "NAMESPACE", "PAIRS", "PIPELINE", "objects", "runconfiguration"]

PAIRS = 16
NAMESPACE = "team"
PIPELINE = "pipe"
# What an upstream exposes, as the seed tutorial's examples RunConfiguration does: the poll resolves it
# (ML Metadata) for every handled run of an upstream, so the poll row counts those calls.
ARTIFACT = {"name": "examples", "path": "CsvExampleGen:examples"}


def runconfiguration(
    name: str, triggers: tuple[str, ...] = (), artifacts: tuple[dict[str, str], ...] = ()
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "pipeline": PIPELINE,
        "provider": "kfp-operator/kfp",
        "parameters": [{"name": "mode", "value": "fast"}],
    }
    if artifacts:
        run["artifacts"] = list(artifacts)
    return {
        "apiVersion": "pipelines.kubeflow.org/v1beta1",
        "kind": "RunConfiguration",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "run": run,
            "triggers": {"runConfigurations": list(triggers)},
        },
    }


def objects(count: int) -> list[dict[str, Any]]:
    """The first `count` RunConfigurations of the bench's cluster, always in the same order."""
    out: list[dict[str, Any]] = []
    for i in range(PAIRS):
        out.append(runconfiguration(f"upstream-{i:02d}", artifacts=(ARTIFACT,)))
        out.append(runconfiguration(f"down-{i:02d}", triggers=(f"upstream-{i:02d}",)))
    out.extend(runconfiguration(f"lonely-{i:06d}") for i in range(max(0, count - len(out))))
    return out[:count]
