"""Builders of what tests feed the function and seed the fakes with: RunConfigurations, their status,
run-completion events, kubeconfigs. Plain functions, no fixtures: conftests hold only fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from kfp_chain.completion_event import encode, run_completion_data, run_completion_event
from kfp_chain.intake import RunStatus
from kfp_chain.runconfiguration import Artifact
from kfp_fakes.kubernetes.kubeconfig import write_kubeconfig

from tests.support import SEED

__all__ = [
    "EXAMPLES_RC",
    "TRAINING_RC",
    "binary_event",
    "chain_of_two",
    "consumed",
    "event_data",
    "plain_event",
    "rc",
    "ref",
    "runconfiguration",
    "seed_objects",
    "structured_event",
    "succeeded",
    "write_kubeconfig",
]

EXAMPLES_RC = "base-namespace/penguin-pipeline-examples-rc"
TRAINING_RC = "dependant-namespace/penguin-pipeline-training-rc"
API_VERSION = "pipelines.kubeflow.org/v1beta1"


# -- RunConfigurations -----------------------------------------------------------------------------------


def seed_objects() -> list[dict[str, Any]]:
    """The seed scenario (tests/fixtures/seed): the examples RunConfiguration and its dependents."""
    return [d for d in yaml.safe_load_all(SEED.read_text()) if d]


def rc(
    namespace: str,
    name: str,
    pipeline: str = "pipe",
    triggers: list[str] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    artifacts: list[dict[str, str]] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A RunConfiguration object as kubectl would apply it."""
    run: dict[str, Any] = {"provider": "kubeflow/kfp", "pipeline": pipeline}
    if parameters:
        run["parameters"] = parameters
    if artifacts:
        run["artifacts"] = artifacts
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "RunConfiguration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"run": run, "triggers": {"runConfigurations": triggers or []}},
    }
    if status:
        obj["status"] = status
    return obj


def ref(name: str, artifact: str, optional: bool = False, param: str = "p") -> dict[str, Any]:
    """A parameter whose value is another RunConfiguration's output artifact."""
    reference: dict[str, Any] = {"name": name, "outputArtifact": artifact}
    if optional:
        reference["optional"] = True
    return {"name": param, "valueFrom": {"runConfigurationRef": reference}}


def runconfiguration(
    name: str,
    namespace: str = "team",
    triggers: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
    pipeline: str = "training",
) -> dict[str, Any]:
    """A RunConfiguration as kfp-operator's CRD has it; `references` become valueFrom parameters."""
    parameters: list[dict[str, Any]] = [{"name": "mode", "value": "fast"}]
    parameters += [
        {"name": f"input{i}", "valueFrom": {"runConfigurationRef": {"name": ref, "outputArtifact": "model"}}}
        for i, ref in enumerate(references)
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "RunConfiguration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "run": {"pipeline": pipeline, "provider": "kfp-operator/kfp", "parameters": parameters},
            "triggers": {"runConfigurations": list(triggers)},
        },
    }


def succeeded(run_id: str, **artifacts: str) -> dict[str, Any]:
    """`status.latestRuns.succeeded`, as kfp-operator records an upstream's latest success."""
    return {
        "latestRuns": {
            "succeeded": {
                "providerId": run_id,
                "artifacts": [{"name": k, "location": v} for k, v in artifacts.items()],
            }
        }
    }


def consumed(**upstreams: str) -> dict[str, Any]:
    """`status.triggers.runConfigurations`: which upstream run a dependent last consumed."""
    return {"triggers": {"runConfigurations": {u: {"providerId": r} for u, r in upstreams.items()}}}


def chain_of_two(kube: Any, latest: str | None = "r1", consumed_run: str | None = None) -> None:
    """Seeds `kube` (a FakeKubernetes) with a/up (latest success `latest`, artifact model) -> a/down
    (parameter model <- up:model)."""
    kube.put(rc("a", "up", artifacts=[{"name": "model", "path": "train:model"}],
                status=succeeded(latest, model=f"gs://b/{latest}/model") if latest else None))  # fmt: skip
    kube.put(rc("a", "down", triggers=["up"], parameters=[ref("up", "model", param="model")],
                status=consumed(**{"a/up": consumed_run}) if consumed_run else None))  # fmt: skip


# -- run-completion events -------------------------------------------------------------------------------


def event_data(
    rc_name: str = EXAMPLES_RC,
    run_id: str = "123",
    status: str = "succeeded",
    artifacts: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """kfp-operator's RunCompletionEvent, from the function's own builder (`kfp_chain.completion_event`)."""
    return run_completion_data(
        rc_name,
        run_id,
        status=RunStatus(status),
        pipeline=rc_name.split("/")[0] + "/pipe",
        run_name=f"run-{run_id}",
        artifacts=[
            Artifact(a["name"], a["location"])
            for a in (
                [{"name": "examples", "location": "gs://bucket/examples/123"}]
                if artifacts is None
                else artifacts
            )
        ],
        provider="kfp",
        # Relative to now: a fixed date ages past a fan-in's max age (24 h in a test) and fails a day later.
        run_start_time=_rfc3339(datetime.now(UTC) - timedelta(minutes=5)),
        run_end_time=_rfc3339(datetime.now(UTC)),
    )


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def binary_event(data: dict[str, Any], event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    return encode(run_completion_event(data, source="kfp-operator/test", event_id=event_id), "binary")


def structured_event(data: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    return encode(run_completion_event(data, source="kfp-operator/test"), "structured")


def plain_event(data: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/json"}, json.dumps(data).encode()
