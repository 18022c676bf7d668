"""The identities, audiences and helpers of the sender-authentication tests."""

from __future__ import annotations

from typing import Any

from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import binary_event, event_data
from tests.support import Function

AUDIENCE = "kfp-chain-trigger"
DEAD_LETTER_AUDIENCE = "kfp-chain-dead-letter"
# The identity Knative Eventing gives Trigger kfp-chain-run-completion in namespace kfp-chain, and the
# Argo Events Sensor's ServiceAccount: what infra/ allows.
TRIGGER_SENDER = "system:serviceaccount:kfp-chain:kfp-chain-run-completion-oidc-eventing.knative.dev-trigger"
SENSOR_SENDER = "system:serviceaccount:kfp-chain:kfp-chain-sensor"
STRANGER = "system:serviceaccount:default:default"
TOKEN_REVIEWS = r"/apis/authentication\.k8s\.io/v1/tokenreviews$"


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
