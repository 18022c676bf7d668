"""The dead-letter function: what Knative gave up on ends as a log line and an Event an operator sees."""

from __future__ import annotations

import base64
import json

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from tests.builders import event_data, rc, write_kubeconfig
from tests.support import function_app


def dead_letter_function(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FUNCTION_TARGET", "on_dead_letter")
    monkeypatch.setenv("LOG_FORMAT", "json")
    app = function_app("on_dead_letter")
    return app.test_client()


def dead_letter(data, error_body=None, code="503"):
    attributes = {
        "type": "org.kubeflow.pipelines.run-completion",
        "source": "kfp-operator/test",
        "id": "event-1",
        "knativeerrorcode": code,
        "knativeerrordest": "http://kfp-chain-trigger.kfp-chain.svc.cluster.local",
    }
    if error_body is not None:
        attributes["knativeerrordata"] = base64.b64encode(json.dumps(error_body).encode()).decode()
    headers, body = to_binary(CloudEvent(attributes, data))
    return dict(headers), body


def test_each_dependent_the_last_answer_named_gets_a_dead_letter_event(monkeypatch, tmp_path, kube, capsys):
    kube.put(rc("a", "up"))
    kube.put(rc("b", "down", triggers=["a/up"]))
    client = dead_letter_function(
        monkeypatch,
        RUNCONFIGURATIONS="kubernetes",
        KUBECONFIG=str(write_kubeconfig(tmp_path / "kc", kube.url)),
    )
    last_answer = {
        "dependents": [{"dependent": "b/down", "outcome": "retry", "reason": "backend-unavailable"}]
    }

    headers, body = dead_letter(event_data("a/up", run_id="r9"), last_answer)
    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 200
    assert response.get_json() == {"deadLettered": "event-1", "recordedOn": ["b/down"]}
    [event] = kube.events("b")
    assert event["reason"] == "TriggerDeadLettered" and event["type"] == "Warning"
    assert event["involvedObject"]["name"] == "down"
    assert event["involvedObject"]["uid"] == kube.get("b", "down")["metadata"]["uid"]
    assert "a/up run r9" in event["message"] and "HTTP 503" in event["message"]
    # It says what is still pending and that reconcile will start it, so nobody resends by reflex.
    assert "pending: b/down <- a/up run r9" in event["message"] and "reconcile starts it" in event["message"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [line] = [entry for entry in logged if entry["message"].startswith("event dead-lettered")]
    assert line["level"] == "ERROR" and line["emitter"] == "a/up" and line["missed"] == ["b/down"]
    assert line["errorCode"] == "503"
    assert line["pending"] == ["b/down <- a/up run r9"] and "reconcile" in line["recovery"]


def test_without_a_usable_answer_the_emitter_gets_the_event(monkeypatch, tmp_path, kube):
    kube.put(rc("a", "up"))
    client = dead_letter_function(
        monkeypatch,
        RUNCONFIGURATIONS="kubernetes",
        KUBECONFIG=str(write_kubeconfig(tmp_path / "kc", kube.url)),
    )

    headers, body = dead_letter(event_data("a/up"), error_body=None, code="500")
    assert client.post("/", headers=headers, data=body).status_code == 200

    assert [e["involvedObject"]["name"] for e in kube.events("a")] == ["up"]


def test_the_folder_source_logs_the_letter_and_writes_no_event(monkeypatch, tmp_path):
    client = dead_letter_function(monkeypatch, RUNCONFIGURATIONS=str(tmp_path))

    headers, body = dead_letter(event_data())
    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 200 and response.get_json()["recordedOn"] == []


def test_what_is_not_a_cloud_event_is_refused_with_400(monkeypatch, tmp_path):
    client = dead_letter_function(monkeypatch, RUNCONFIGURATIONS=str(tmp_path))

    response = client.post("/", headers={"Content-Type": "application/json"}, data=b"{}")

    assert response.status_code == 400 and response.get_json()["field"] == "cloudevent"
