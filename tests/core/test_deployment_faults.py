"""A fault of the deployment is never acknowledged as a skip.

An expired KFP token (401), a KFP profile that lost its access (403), a missing RBAC verb (403) or a
write the API server refuses as invalid (422) is nothing the event did: answering 2xx would drop
every trigger silently until someone noticed. They answer 503 (the broker retries, the trigger
stays pending for reconcile) and count in `kfp_chain_deployment_faults_total`. Only what the event
itself makes impossible (an unknown pipeline, a missing artifact, a cycle) is acknowledged.
"""

from __future__ import annotations

import pytest

from tests.builders import binary_event, event_data, rc

EVENT = binary_event(event_data("a/up"))


def pair(kube):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "down", triggers=["up"]))


def faults_counted(function, backend: str) -> float:
    metrics = function.client.get("/metrics").get_data(as_text=True)
    for line in metrics.splitlines():
        if line.startswith(f'kfp_chain_deployment_faults_total{{backend="{backend}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", r"/runs$", 401),  # the lookup by display name: a token KFP no longer accepts
        ("POST", r"/runs$", 403),  # the create: a profile without access to the namespace
        ("GET", r"/pipelines$", 403),
    ],
)
def test_kfp_refusing_our_credentials_answers_503_and_starts_later(
    cluster_function, kube, kfp, method, path, status
):
    pair(kube)
    function = cluster_function()
    kfp.faults.add(method=method, path=path, status=status, times=None)

    code, body = function.post(EVENT)

    assert code == 503, body
    [outcome] = body["dependents"]
    assert (outcome["outcome"], outcome["reason"]) == ("retry", "deployment-fault")
    assert f"HTTP {status}" in outcome["detail"]
    assert faults_counted(function, "kfp") >= 1
    assert "triggers" not in (kube.get("a", "down").get("status") or {}), "nothing may be recorded as done"

    kfp.faults.clear()  # the token is renewed: the broker's next delivery starts the run
    code, body = function.post(EVENT)
    assert code == 200 and body["dependents"][0]["outcome"] == "started"
    assert len(kfp.runs()) == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PATCH", r"/runconfigurations/down$", 403),  # RBAC lost `patch runconfigurations`
        ("PATCH", r"/runconfigurations/down/status$", 403),  # RBAC lost `patch runconfigurations/status`
        ("PATCH", r"/runconfigurations/down/status$", 422),  # the CRD refuses what we write
        ("GET", r"/runconfigurations/down$", 401),
    ],
)
def test_kubernetes_refusing_us_answers_503_never_a_skip(cluster_function, kube, kfp, method, path, status):
    pair(kube)
    function = cluster_function()
    kube.faults.add(method=method, path=path, status=status, times=None)

    code, body = function.post(EVENT)

    assert code == 503, body
    assert body["dependents"][0]["reason"] == "deployment-fault"
    assert faults_counted(function, "kubernetes") >= 1


def test_refusing_the_emitters_status_write_fails_the_event_before_any_dependent(cluster_function, kube, kfp):
    pair(kube)
    function = cluster_function()
    kube.faults.add(method="PATCH", path=r"/runconfigurations/up/status$", status=403, times=None)

    code, body = function.post(EVENT)

    assert code == 503 and body["error"] == "deployment-fault"
    assert faults_counted(function, "kubernetes") == 1
    assert kfp.runs() == []


def test_what_the_event_makes_impossible_is_still_acknowledged(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "down", pipeline="not-uploaded", triggers=["up"]))

    code, body = cluster_function().post(EVENT)

    assert code == 200
    assert body["dependents"][0]["reason"] == "unknown-pipeline"


def test_multi_user_kfp_without_kfp_namespace_is_a_deployment_fault(cluster_function, kube, kfp):
    # KFP answers 400 "cannot have an empty namespace in multi-user mode" to a request kfp-chain shaped
    # alone (a lookup, an experiment): the deployment lacks KFP_NAMESPACE, and no trigger may be dropped.
    pair(kube)
    kfp.multi_user = True
    function = cluster_function()

    code, body = function.post(EVENT)

    assert code == 503, body
    assert body["dependents"][0]["reason"] == "deployment-fault"
    assert faults_counted(function, "kfp") >= 1


def test_a_run_kfp_refuses_for_its_parameters_is_the_runconfigurations_fault(cluster_function, kube, kfp):
    pair(kube)
    function = cluster_function()
    kfp.faults.add(method="POST", path=r"/runs$", status=400, times=None)

    code, body = function.post(EVENT)

    assert code == 200 and body["dependents"][0]["outcome"] == "skipped"
    assert body["dependents"][0]["reason"] == "rejected"
