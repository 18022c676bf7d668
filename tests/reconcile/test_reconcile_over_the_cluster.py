"""Reconcile over the cluster: what the event path missed starts once, and nothing else starts.

The upstream's success is written the way kfp-operator's controller writes it
(`status.latestRuns.succeeded`), with no event at all; reconcile runs as the CLI a person or a
CronJob runs, and as the `on_reconcile` function a PingSource posts to.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from kfp_chain.adapters.kubernetes.claims import claims_in
from kfp_chain.adapters.ports import Trigger
from kfp_chain.runconfiguration import RcKey

from tests.builders import binary_event, chain_of_two, consumed, event_data, rc, succeeded
from tests.support import function_app, installed_cli, run_concurrently

RUN_R1 = "a/down <- a/up run r1"


def claims_on(obj):
    """Claims on triggers not done yet (a completed trigger's claim waits for the next claim to tidy it)."""
    return claims_in(obj)


def test_a_success_with_no_event_starts_the_dependent_once_with_its_artifacts(cluster_env, kube, kfp):
    chain_of_two(kube, latest="r1")

    first = installed_cli(cluster_env, "reconcile", "-o", "json")
    second = installed_cli(cluster_env, "reconcile", "-o", "json")

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["started"] == 1
    [run] = kfp.runs()
    assert run["display_name"] == RUN_R1
    assert run["runtime_config"]["parameters"] == {"model": "gs://b/r1/model"}
    down = kube.get("a", "down")
    assert down["status"]["triggers"]["runConfigurations"]["a/up"] == {"providerId": "r1"}
    assert claims_on(down) == []
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) | {"triggers": []} == json.loads(second.stdout) | {
        "pending": 0,
        "started": 0,
        "triggers": [],
    }
    assert len(kfp.runs()) == 1


def test_the_on_reconcile_function_runs_one_pass_per_post(cluster_env, kube, kfp, monkeypatch):
    chain_of_two(kube, latest="r1")
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    app = function_app("on_reconcile")
    client = app.test_client()
    ping = {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.sources.ping",
        "ce-source": "/ping",
        "ce-id": "1",
    }

    first = client.post("/", headers=ping, data=b'{"reconcile": "all"}')
    second = client.post("/", headers=ping, data=b"")

    assert first.status_code == 200 and first.get_json()["started"] == 1, first.get_json()
    assert second.status_code == 200 and second.get_json()["pending"] == 0
    assert [r["display_name"] for r in kfp.runs()] == [RUN_R1]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'kfp_chain_reconcile_runs_started_total{namespace="a"} 1.0' in metrics
    assert 'kfp_chain_reconcile_passes_total{result="clean"} 2.0' in metrics


def test_only_the_latest_success_starts_never_the_history_before_it(reconcile_cli, kube, kfp):
    # down consumed r0; up then succeeded r1 and r2 with neither event arriving: one run, for r2.
    chain_of_two(kube, latest="r2", consumed_run="r0")

    code, body = reconcile_cli()

    assert code == 0 and body["started"] == 1
    assert [r["display_name"] for r in kfp.runs()] == ["a/down <- a/up run r2"]


def test_a_trigger_the_event_path_completed_is_not_pending(cluster_function, reconcile_cli, kube, kfp):
    chain_of_two(kube, latest=None)
    function = cluster_function()
    status, _ = function.post(
        binary_event(event_data("a/up", "r1", artifacts=[{"name": "model", "location": "gs://b/r1/model"}]))
    )
    assert status == 200

    code, body = reconcile_cli()

    assert code == 0 and body["pending"] == 0 and body["started"] == 0
    assert len(kfp.runs()) == 1


def test_the_event_path_and_reconcile_racing_on_threads_start_one_run(cluster_function, kube, kfp):
    # The event and the recorded success name the same run: four deliveries and four passes at once,
    # each through its own function (a trigger replica and a reconcile replica).
    chain_of_two(kube, latest="r1")
    function = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="5")
    reconciler = function_app("on_reconcile").test_client()
    kfp.faults.add(method="POST", path=r"/runs$", mode="delay", delay=0.2, times=None)
    event = binary_event(
        event_data("a/up", "r1", artifacts=[{"name": "model", "location": "gs://b/r1/model"}])
    )
    turn = iter(range(8))
    lock = threading.Lock()

    def one() -> int:
        with lock:
            mine = next(turn)
        if mine % 2:
            return function.post(event)[0]
        return int(reconciler.post("/").status_code)

    answers = run_concurrently(one, 8)
    # Whatever was held meanwhile, one more of each settles it.
    function.post(event)
    reconciler.post("/")

    assert set(answers) <= {200, 503}
    assert [r["display_name"] for r in kfp.runs()] == [RUN_R1]
    assert kube.get("a", "down")["status"]["triggers"]["runConfigurations"]["a/up"] == {"providerId": "r1"}
    assert claims_on(kube.get("a", "down")) == []


def test_a_live_claim_is_left_to_its_holder_and_an_expired_one_is_taken_over(reconcile_cli, kube, kfp):
    chain_of_two(kube, latest="r1")
    trigger = Trigger(RcKey("a", "down"), RcKey("a", "up"), "r1")
    annotation = f"kfp-chain.io/claim.{trigger.claim_id}"

    def claim(expires: datetime) -> None:
        down = kube.get("a", "down")
        value = {"upstream": "a/up", "runId": "r1", "holder": "dead-pod/1", "expiresAt": expires.isoformat()}
        down["metadata"].setdefault("annotations", {})[annotation] = json.dumps(value)
        kube.put(down)

    claim(datetime.now(UTC) + timedelta(minutes=5))
    code, held = reconcile_cli()
    assert code == 0, "a held trigger is not a fault: the next pass takes it"
    assert (held["pending"], held["held"], held["started"], held["remaining"]) == (1, 1, 0, 1)
    assert kfp.runs() == []

    claim(datetime.now(UTC) - timedelta(seconds=1))
    code, taken = reconcile_cli()
    assert code == 0 and taken["started"] == 1
    assert [r["display_name"] for r in kfp.runs()] == [RUN_R1]
    assert claims_on(kube.get("a", "down")) == []


def test_first_sight_of_an_upstream_success_runs_by_default_and_can_be_skipped(reconcile_cli, kube, kfp):
    chain_of_two(kube, latest="r1")

    code, body = reconcile_cli(KFP_CHAIN_INITIAL_TRIGGER="skip")

    assert code == 0 and body["adopted"] == 1 and body["started"] == 0
    assert kfp.runs() == []
    assert kube.get("a", "down")["status"]["triggers"]["runConfigurations"]["a/up"] == {"providerId": "r1"}
    # Only the first sight is skipped: the next success runs.
    up = kube.get("a", "up")
    up["status"] = succeeded("r2", model="gs://b/r2/model")
    kube.put(up)
    code, body = reconcile_cli(KFP_CHAIN_INITIAL_TRIGGER="skip")
    assert body["started"] == 1
    assert [r["display_name"] for r in kfp.runs()] == ["a/down <- a/up run r2"]


def test_first_sight_runs_with_the_default_setting(reconcile_cli, kube, kfp):
    chain_of_two(kube, latest="r1")

    code, body = reconcile_cli()

    assert code == 0 and body["started"] == 1 and body["adopted"] == 0


def test_a_dry_run_lists_what_would_start_and_writes_nothing(reconcile_cli, kube, kfp):
    chain_of_two(kube, latest="r1")
    before = kube.get("a", "down")

    code, body = reconcile_cli("--dry-run")

    assert code == 0
    [pending] = body["pending"]
    assert pending["would"] == "would-start" and pending["parameters"] == {"model": "gs://b/r1/model"}
    assert pending["displayName"] == RUN_R1
    assert kfp.runs() == [] and kube.get("a", "down") == before


def test_a_missing_artifact_stays_pending_and_is_not_a_fault(reconcile_cli, kube, kfp):
    kube.put(rc("a", "up", status=succeeded("r1")))  # no artifacts
    kube.put(rc("a", "down", triggers=["up"], parameters=[{"name": "m", "valueFrom": {
        "runConfigurationRef": {"name": "up", "outputArtifact": "model"}}}]))  # fmt: skip

    code, body = reconcile_cli()

    assert code == 0 and body["skipped"] == 1 and body["remaining"] == 1
    assert body["triggers"][0]["reason"] == "missing-artifact"
    assert kfp.runs() == []


def test_kfp_refusing_our_token_is_a_fault_not_a_skip_and_the_trigger_stays_pending(reconcile_cli, kube, kfp):
    chain_of_two(kube, latest="r1")
    kfp.faults.add(method="POST", path=r"/runs$", status=403, times=None)

    code, body = reconcile_cli()

    assert code == 1
    assert body["failed"] == 1 and body["triggers"][0]["reason"] == "deployment-fault"
    assert "triggers" not in (kube.get("a", "down").get("status") or {})
    kfp.faults.clear()
    code, body = reconcile_cli()
    assert code == 0 and body["started"] == 1


def test_kubernetes_refusing_the_list_fails_the_pass(reconcile_cli, kube, kfp):
    chain_of_two(kube, latest="r1")
    kube.faults.add(method="GET", path=r"/runconfigurations$", status=403, times=None)

    code, body = reconcile_cli()

    assert code == 1 and body["error"] == "deployment-fault"
    assert kfp.runs() == []


def test_a_consumed_entry_by_name_only_counts_as_the_same_namespace(reconcile_cli, kube, kfp):
    # kfp-operator may key status.triggers by the name alone for same-namespace upstreams.
    chain_of_two(kube, latest="r1")
    down = kube.get("a", "down")
    down["status"] = consumed(up="r1")
    kube.put(down)

    code, body = reconcile_cli()

    assert code == 0 and body["pending"] == 0 and kfp.runs() == []


def test_a_trigger_refused_on_every_pass_is_reported_once(cluster_env, kube, kfp, monkeypatch):
    # A required artifact that never comes: every pass refuses it again. One TriggerSkipped Event and
    # one count, not one a minute; the pass's own figures still say it is pending.
    kube.put(rc("a", "up", status=succeeded("r1")))
    kube.put(rc("a", "down", triggers=["up"], parameters=[{"name": "m", "valueFrom": {
        "runConfigurationRef": {"name": "up", "outputArtifact": "model"}}}]))  # fmt: skip
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    client = function_app("on_reconcile").test_client()

    passes = [client.post("/").get_json() for _ in range(3)]

    assert [(p["pending"], p["skipped"], p["remaining"]) for p in passes] == [(1, 1, 1)] * 3
    assert [e["reason"] for e in kube.events("a")] == ["TriggerSkipped"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'kfp_chain_triggers_skipped_total{reason="missing-artifact"} 1.0' in metrics
    assert 'kfp_chain_pending_triggers{when="remaining"} 1.0' in metrics


def test_an_unknown_pipeline_is_asked_about_once_per_change_not_every_pass(
    cluster_env, kube, kfp, monkeypatch, capsys
):
    # A permanent refusal: nothing changes between passes, so a pass neither asks KFP nor logs it again;
    # an edit of the dependent's spec has it decided afresh.
    kube.put(rc("a", "up", status=succeeded("r1")))
    kube.put(rc("a", "down", pipeline="not-uploaded", triggers=["up"]))
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    client = function_app("on_reconcile").test_client()

    first = client.post("/").get_json()
    asked = len(kfp.calls())
    claims = len(kube.calls("PATCH", r"/runconfigurations/down/status$"))
    passes = [client.post("/").get_json() for _ in range(2)]

    assert [(p["pending"], p["skipped"], p["remaining"]) for p in [first, *passes]] == [(1, 1, 1)] * 3
    assert len(kfp.calls()) == asked  # not evaluated again
    assert len(kube.calls("PATCH", r"/runconfigurations/down/status$")) == claims  # nor claimed
    assert [e["reason"] for e in kube.events("a")] == ["TriggerSkipped"]
    assert capsys.readouterr().out.count("does not exist in KFP") == 1  # logged once, not once a pass

    down = kube.get("a", "down")
    down["spec"]["run"]["pipeline"] = "still-not-uploaded"  # an edit of its spec: a new generation
    kube.put(down)
    client.post("/")

    assert len(kfp.calls()) > asked  # a change: decided again


def test_a_pass_starts_no_new_trigger_once_its_time_budget_is_spent(cluster_env, kube, kfp, monkeypatch):
    # The first creation is held past the pass's budget: the second trigger waits for the next pass
    # (which the PingSource sends a minute later) instead of running the pass past its deadline.
    from dataclasses import replace

    from kfp_chain.dependents import DependentsIndex
    from kfp_chain.service.app import build_reconcile_app
    from kfp_chain.settings import Settings

    kube.put(rc("a", "up", status=succeeded("r1")))
    for name in ("down-1", "down-2"):
        kube.put(rc("a", name, triggers=["up"]))
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    app = build_reconcile_app(Settings.from_env())
    app.chain.options = replace(app.chain.options, reconcile_budget_seconds=0.5)
    kfp.faults.add(method="POST", path=r"/runs$", mode="hold", delay=1.5, times=1)  # held past the budget
    try:
        report = app.chain.reconcile(DependentsIndex(app.source.list()))
    finally:
        app.close()

    assert len(report.pending) == 2
    assert [o.outcome for o in report.outcomes] == ["started"], report.outcomes
    assert report.remaining == 1 and len(kfp.runs()) == 1
