"""The dead-letter function authenticates its sender the same way, with an audience of its own."""

from __future__ import annotations

import base64
import json

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from tests.builders import event_data, rc, write_kubeconfig
from tests.security.support import AUDIENCE, DEAD_LETTER_AUDIENCE, STRANGER, TRIGGER_SENDER
from tests.support import function_app


def dead_letter_client(monkeypatch, tmp_path, kube):
    env = {
        "RUNCONFIGURATIONS": "kubernetes",
        "KUBECONFIG": str(write_kubeconfig(tmp_path / "kc", kube.url)),
        "KFP_CHAIN_AUTH": "oidc",
        "KFP_CHAIN_OIDC_AUDIENCE": DEAD_LETTER_AUDIENCE,
        "KFP_CHAIN_ALLOWED_SENDERS": TRIGGER_SENDER,
        "LOG_FORMAT": "json",
        "FUNCTION_TARGET": "on_dead_letter",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = function_app("on_dead_letter")
    return app.test_client()


def letter(token: str | None) -> tuple[dict[str, str], bytes]:
    answer = {"dependents": [{"dependent": "b/down", "outcome": "retry", "reason": "backend-unavailable"}]}
    attributes = {
        "type": "org.kubeflow.pipelines.run-completion",
        "source": "kfp-operator/test",
        "id": "event-1",
        "knativeerrorcode": "503",
        "knativeerrordata": base64.b64encode(json.dumps(answer).encode()).decode(),
    }
    headers, body = to_binary(CloudEvent(attributes, event_data("a/up", run_id="r9")))
    headers = dict(headers)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers, body


def test_dead_letters_need_a_token_for_the_dead_letter_audience(monkeypatch, tmp_path, kube):
    kube.put(rc("a", "up"))
    kube.put(rc("b", "down", triggers=["a/up"]))
    client = dead_letter_client(monkeypatch, tmp_path, kube)
    answers = {
        "none": client.post("/", headers=letter(None)[0], data=letter(None)[1]).status_code,
    }
    for name, token in {
        "garbage": "a.b.c",
        "expired": kube.tokens.issue(TRIGGER_SENDER, [DEAD_LETTER_AUDIENCE], expires_in=-1),
        "trigger-audience": kube.tokens.issue(TRIGGER_SENDER, [AUDIENCE]),
        "stranger": kube.tokens.issue(STRANGER, [DEAD_LETTER_AUDIENCE]),
    }.items():
        headers, body = letter(token)
        answers[name] = client.post("/", headers=headers, data=body).status_code
    assert answers == {"none": 401, "garbage": 401, "expired": 401, "trigger-audience": 401, "stranger": 403}
    assert kube.events() == []  # nothing recorded for a refused letter

    headers, body = letter(kube.tokens.issue(TRIGGER_SENDER, [DEAD_LETTER_AUDIENCE]))
    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 200
    assert [e["reason"] for e in kube.events("b")] == ["TriggerDeadLettered"]
    assert client.get("/healthz").status_code == 200


def test_the_dead_letter_targets_own_metrics_count_its_refusals(monkeypatch, tmp_path, kube):
    """Its refusals are scraped from its own /metrics: a registry it does not serve would hide them."""
    from prometheus_client.parser import text_string_to_metric_families

    client = dead_letter_client(monkeypatch, tmp_path, kube)
    client.post("/", headers=letter(None)[0], data=letter(None)[1])
    headers, body = letter(kube.tokens.issue(STRANGER, [DEAD_LETTER_AUDIENCE]))
    client.post("/", headers=headers, data=body)

    text = client.get("/metrics").get_data(as_text=True)
    refused = {
        (s.labels["code"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "kfp_chain_requests_refused_total"
    }
    assert refused.get(("401", "missing-token")) == 1
    assert sum(v for (code, _), v in refused.items() if code == "403") == 1
