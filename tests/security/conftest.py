"""The trigger and dead-letter functions with sender authentication on, against the two fakes.

The Kubernetes fake answers TokenReview from its token table (`kube.tokens`): tests issue tokens for a
username, audiences and an expiry there, and send them as `Authorization: Bearer` to the real function.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import rc
from tests.security.support import AUDIENCE, SENSOR_SENDER, TRIGGER_SENDER
from tests.support import Function


@pytest.fixture(autouse=True)
def _private_home(private_home: Path) -> Path:
    """Every test here makes a kfp.Client: each gets the root conftest's empty HOME."""
    return private_home


@pytest.fixture
def chain(kube: FakeKubernetes) -> FakeKubernetes:
    """a/up triggers b/down (pipeline "pipe", which the KFP fake knows)."""
    kube.put(rc("a", "up"))
    kube.put(rc("b", "down", triggers=["a/up"]))
    return kube


@pytest.fixture
def oidc_function(cluster_function: Callable[..., Function]) -> Callable[..., Function]:
    """The trigger function with KFP_CHAIN_AUTH=oidc, allowing the Trigger's and the Sensor's identity."""

    def make(**env: str) -> Function:
        settings = {
            "KFP_CHAIN_AUTH": "oidc",
            "KFP_CHAIN_OIDC_AUDIENCE": AUDIENCE,
            "KFP_CHAIN_ALLOWED_SENDERS": f"{TRIGGER_SENDER}, {SENSOR_SENDER}",
            **env,
        }
        return cluster_function(**settings)

    return make
