"""Fixtures for the dependents-index tests: a Kubernetes fake with a fast bookmark clock, and a WatchIndex on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kfp_chain.adapters.kubernetes.source import KubernetesSource
from kfp_chain.adapters.kubernetes.watch import WatchIndex
from kfp_fakes.kubernetes import FakeKubernetes


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
