"""Fixtures for the dependents-index tests: a Kubernetes fake with a fast bookmark clock, and a WatchIndex on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kfp_chain.adapters.kubernetes.source import KubernetesSource
from kfp_chain.adapters.kubernetes.watch import WatchIndex
from kfp_fakes.kubernetes import FakeKubernetes

API_VERSION = "pipelines.kubeflow.org/v1beta1"


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


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Polls until `check()` holds or the deadline passes: the index is eventually consistent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    with FakeKubernetes(bookmark_interval=0.2) as fake:
        yield fake


@pytest.fixture
def source(kube: FakeKubernetes) -> KubernetesSource:
    return KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1")


@pytest.fixture
def make_index(source: KubernetesSource) -> Iterator[Callable[..., WatchIndex]]:
    made: list[WatchIndex] = []

    def make(**kwargs: Any) -> WatchIndex:
        index = WatchIndex(source, **{"resync_seconds": 300.0, **kwargs})
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()
