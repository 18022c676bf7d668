"""The Workflow nudge end to end: the real trigger function, the Kubernetes and KFP fakes over real HTTP.

A KFP run of the upstream RunConfiguration (kfp-chain's marker in its description) finishes; its
Workflow reaches `on_run_completion` as the Knative ApiServerSource sends it and as the shipped Argo
Events Sensor posts it. The dependent's run starts once, however often the Workflow is sent, and the
poll's mark knows the run afterwards. What names no finished KFP run is acknowledged and counted, and
starts nothing; what KFP cannot confirm yet is a 503 the sender retries.
"""

from __future__ import annotations

import re

import pytest
from kfp_chain.ownership import marker_line
from kfp_chain.runconfiguration import RcKey
from kfp_fakes.mlmd import FakeMlmd

from tests.builders import rc, seed_objects
from tests.plainkfp.test_poll_seed_tutorial import examples_run, finish_in_mlmd, training_runs

from .workflows import apiserver_event, argo_event_data, sensor_payload, workflow

DEPENDENT_RUN = "a/down <- a/up run {}"


@pytest.fixture
def upstream_run(kube, kfp):
    """The chain a/up -> a/down, and a run of a/up that KFP has not finished yet; its run id."""
    kube.put(rc("a", "up", pipeline="upstream"))
    kube.put(rc("a", "down", triggers=["up"], parameters=[{"name": "mode", "value": "fast"}]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    return kfp.add_run("up-run", pid, vid, description=marker_line(RcKey("a", "up")))


@pytest.fixture
def mlmd():
    with FakeMlmd() as fake:
        yield fake


def _counted(function, result: str) -> float:
    text = function.client.get("/metrics").get_data(as_text=True)
    found = re.search(rf'^kfp_chain_workflow_events_total\{{result="{result}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _sensor(document):
    return sensor_payload({k: v for k, v in argo_event_data(document).items() if k != "oldBody"})


@pytest.mark.parametrize(
    "send",
    [
        lambda wf: apiserver_event(wf, "binary"),
        lambda wf: apiserver_event(wf, "structured", "dev.knative.apiserver.resource.add"),
        _sensor,
    ],
    ids=["apiserversource-binary", "apiserversource-structured", "argo-events-sensor"],
)
def test_a_finished_workflow_starts_the_dependent_once(cluster_function, kube, kfp, upstream_run, send):
    kfp.finish_run(upstream_run, "SUCCEEDED")
    function = cluster_function()
    request = send(workflow(run_id=upstream_run))

    first = function.post(request)
    again = function.post(request)

    assert first[0] == 200, first
    assert first[1]["nudge"]["runId"] == upstream_run and first[1]["started"] == 1, first
    assert again[0] == 200 and again[1]["results"] == {"already-handled": 1}, again
    [started] = kfp.runs_named(DEPENDENT_RUN.format(upstream_run))
    assert started["runtime_config"]["parameters"] == {"mode": "fast"}
    assert kube.get("a", "up")["status"]["latestRuns"]["succeeded"]["providerId"] == upstream_run
    assert kube.get("kfp-chain", "kfp-chain-poll-mark", "configmaps") is not None  # the next pass skips it
    assert _counted(function, "nudged") == 2


def test_what_names_no_finished_kfp_run_is_acknowledged_counted_and_starts_nothing(
    cluster_function, kfp, upstream_run
):
    kfp.finish_run(upstream_run, "SUCCEEDED")
    function = cluster_function()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "kubeflow", "labels": {}},
    }
    cases = {
        "not-finished": apiserver_event(workflow(run_id=upstream_run, phase="Running")),
        "deleted": apiserver_event(
            workflow(run_id=upstream_run), "binary", "dev.knative.apiserver.resource.delete"
        ),
        "not-kfp": _sensor(workflow(run_id=None)),
        "not-a-workflow": apiserver_event(pod),
    }
    for why, request in cases.items():
        status, body = function.post(request)
        assert (status, body["ignored"]) == (200, why), body
        assert _counted(function, why) == 1
    assert [r["display_name"] for r in kfp.runs()] == ["up-run"]


def test_a_run_kfp_has_not_recorded_as_finished_is_a_503_and_the_retry_starts_it(
    cluster_function, kfp, upstream_run
):
    """Argo marks the Workflow completed before KFP's persistence agent records the run's end."""
    function = cluster_function()
    request = apiserver_event(workflow(run_id=upstream_run))

    early = function.post(request)
    kfp.finish_run(upstream_run, "SUCCEEDED")
    retried = function.post(request)

    assert early[0] == 503, early
    assert retried[0] == 200 and retried[1]["started"] == 1, retried
    assert len(kfp.runs_named(DEPENDENT_RUN.format(upstream_run))) == 1
    assert _counted(function, "retry") == 1 and _counted(function, "nudged") == 1


def test_kfp_not_answering_is_a_503_and_starts_nothing(cluster_function, kfp, upstream_run):
    kfp.finish_run(upstream_run, "SUCCEEDED")
    function = cluster_function()
    kfp.faults.add(method="GET", path=f"/runs/{upstream_run}$", status=503, times=100)

    status, body = function.post(apiserver_event(workflow(run_id=upstream_run)))

    assert status == 503 and body["fault"], body
    assert kfp.runs_named(DEPENDENT_RUN.format(upstream_run)) == []
    assert _counted(function, "retry") == 1


def test_a_run_kfp_does_not_know_is_acknowledged(cluster_function, kfp, upstream_run):
    function = cluster_function()

    status, body = function.post(apiserver_event(workflow(run_id="0b7f9a52-3c1e-4d6a-9f3b-2a1c5e8d7f60")))

    assert status == 200 and body["runs"] == [
        {"runId": "0b7f9a52-3c1e-4d6a-9f3b-2a1c5e8d7f60", "result": "unknown-run"}
    ], body
    assert _counted(function, "unknown-run") == 1


def test_bad_json_and_broken_run_completion_events_stay_the_intakes_400(cluster_function, upstream_run):
    function = cluster_function()
    for body in (b'{"metadata": ', b'{"status": "succeded", "runId": "r1"}'):
        status, answer = function.post(({"Content-Type": "application/json"}, body))
        assert status == 400 and answer["error"] == "invalid-event", answer


def test_the_seed_tutorial_on_a_nudge_with_the_examples_artifact_from_ml_metadata(
    cluster_function, kube, kfp, mlmd
):
    """examples -> training with no kfp-operator and no poll pass: the Workflow's event is enough."""
    for obj in seed_objects():
        kube.put(obj)
    run_id = examples_run(kfp)
    examples = finish_in_mlmd(kfp, mlmd, run_id)
    function = cluster_function(KFP_CHAIN_MLMD_ADDRESS=mlmd.address)

    status, body = function.post(apiserver_event(workflow(run_id=run_id)))
    again = function.post(_sensor(workflow(run_id=run_id)))

    assert status == 200 and body["started"] == 1, body
    [training] = training_runs(kfp)
    assert training["runtime_config"]["parameters"] == {"examples_location": examples}
    latest = kube.get("base-namespace", "penguin-pipeline-examples-rc")["status"]["latestRuns"]["succeeded"]
    assert latest == {"providerId": run_id, "artifacts": [{"name": "examples", "location": examples}]}
    assert again[0] == 200 and again[1]["started"] == 0 and len(training_runs(kfp)) == 1, again


def test_ml_metadata_down_is_a_503_and_the_retry_starts_training_once(cluster_function, kube, kfp, mlmd):
    for obj in seed_objects():
        kube.put(obj)
    run_id = examples_run(kfp)
    finish_in_mlmd(kfp, mlmd, run_id)
    function = cluster_function(KFP_CHAIN_MLMD_ADDRESS="127.0.0.1:9")  # nothing listens there
    request = apiserver_event(workflow(run_id=run_id))

    down = function.post(request)

    assert down[0] == 503 and down[1]["results"] == {"waiting": 1}, down
    assert training_runs(kfp) == []
