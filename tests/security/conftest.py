"""The trigger and dead-letter functions with sender authentication on, against the two fakes.

The Kubernetes fake answers TokenReview from its token table (`kube.tokens`): tests issue tokens for a
username, audiences and an expiry there, and send them as `Authorization: Bearer` to the real function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.conftest import Function, binary_event, event_data, rc

AUDIENCE = "kfp-chain-trigger"
DEAD_LETTER_AUDIENCE = "kfp-chain-dead-letter"
# The identity Knative Eventing gives Trigger kfp-chain-run-completion in namespace kfp-chain, and the
# Argo Events Sensor's ServiceAccount: what infra/ allows.
TRIGGER_SENDER = "system:serviceaccount:kfp-chain:kfp-chain-run-completion-oidc-eventing.knative.dev-trigger"
SENSOR_SENDER = "system:serviceaccount:kfp-chain:kfp-chain-sensor"
STRANGER = "system:serviceaccount:default:default"
TOKEN_REVIEWS = r"/apis/authentication\.k8s\.io/v1/tokenreviews$"


@pytest.fixture(autouse=True)
def private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """kfp.Client reads ~/.config/kfp/context.json: give it an empty HOME of its own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    import kfp

    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(home / ".config" / "kfp" / "context.json"))
    yield home


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


def signed(token: str | None, run_id: str = "r1", rc_name: str = "a/up") -> tuple[dict[str, str], bytes]:
    """A binary-mode run-completion event, with `Authorization: Bearer <token>` when a token is given."""
    headers, body = binary_event(event_data(rc_name, run_id=run_id), event_id=f"event-{run_id}")
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers, body


def post(function: Function, request: tuple[dict[str, str], bytes]) -> tuple[int, dict[str, Any], Any]:
    headers, body = request
    response = function.client.post("/", headers=headers, data=body)
    return response.status_code, response.get_json(silent=True) or {}, response.headers


def metric(function: Function, name: str, **labels: str) -> float:
    """One sample from GET /metrics, as Prometheus would scrape it (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = function.client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def token_reviews(kube: FakeKubernetes) -> int:
    return len(kube.calls("POST", TOKEN_REVIEWS))


def runs(kfp: FakeKfp) -> list[dict[str, Any]]:
    return kfp.runs()
