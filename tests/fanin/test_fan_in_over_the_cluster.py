"""Fan-in (`kfp-chain.io/trigger-policy: all`): one run once every upstream has a new success, exactly once.

The ensembling case: two trainers feed one ensemble. The function, the real kubernetes client and
kfp.Client over HTTP against the fakes; events from either upstream, redelivered, on two replicas
at the same moment, and reconcile with no event at all.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

from kfp_chain.adapters.kubernetes.ledger import KubernetesLedger
from kfp_chain.adapters.kubernetes.source import KubernetesSource
from kfp_chain.adapters.ports import ClaimState, Trigger
from kfp_chain.runconfiguration import RcKey

from tests.builders import binary_event, consumed, event_data, rc, ref, succeeded
from tests.support import run_concurrently

ALL = {"kfp-chain.io/trigger-policy": "all"}


def ensemble(kube, annotations=None, upstreams=("a/trainer-a", "a/trainer-b")):
    for name in upstreams:
        kube.put(rc("a", name.split("/")[1], artifacts=[{"name": "model", "path": "Train:model"}]))
    obj = rc(
        "a",
        "ensemble",
        triggers=list(upstreams),
        parameters=[ref(u, "model", param=f"model_{u[-1]}") for u in upstreams],
    )
    obj["metadata"]["annotations"] = {**ALL, **(annotations or {})}
    kube.put(obj)


def trained(upstream: str, run_id: str, end: datetime | None = None) -> tuple[dict[str, str], bytes]:
    data = event_data(upstream, run_id, artifacts=[{"name": "model", "location": f"gs://m/{run_id}"}])
    if end is not None:
        data["runEndTime"] = end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return binary_event(data)


def join_name(**runs: str) -> str:
    return Trigger.fan_in(RcKey("a", "ensemble"), [(RcKey("a", u), r) for u, r in runs.items()]).display_name


def ensemble_runs(kfp):
    return [r for r in kfp.runs() if r["display_name"].startswith("a/ensemble <- ")]


def test_one_upstream_alone_starts_nothing_and_the_second_starts_one_joined_run(cluster_function, kube, kfp):
    ensemble(kube)
    function = cluster_function()

    first, body = function.post(trained("a/trainer-a", "ra1"))

    assert first == 200, body
    [waiting] = body["dependents"]
    assert (waiting["outcome"], waiting["reason"]) == ("skipped", "awaiting-upstreams")
    assert "a/trainer-b (no succeeded run yet)" in waiting["detail"]
    assert kfp.runs() == []
    [event] = kube.events("a")
    assert (event["reason"], event["type"]) == ("TriggerSkipped", "Normal"), (
        "waiting is no problem to warn of"
    )

    second, body = function.post(trained("a/trainer-b", "rb1"))

    assert second == 200, body
    [run] = kfp.runs()
    assert run["display_name"] == join_name(**{"trainer-a": "ra1", "trainer-b": "rb1"})
    assert run["runtime_config"]["parameters"] == {"model_a": "gs://m/ra1", "model_b": "gs://m/rb1"}
    consumed = kube.get("a", "ensemble")["status"]["triggers"]["runConfigurations"]
    assert consumed == {"a/trainer-a": {"providerId": "ra1"}, "a/trainer-b": {"providerId": "rb1"}}


def test_redelivering_either_event_starts_nothing_more(cluster_function, kube, kfp):
    ensemble(kube)
    function = cluster_function()
    function.post(trained("a/trainer-a", "ra1"))
    function.post(trained("a/trainer-b", "rb1"))

    again_b = function.post(trained("a/trainer-b", "rb1"))
    again_a = function.post(trained("a/trainer-a", "ra1"))

    assert again_b[0] == 200 and again_b[1]["dependents"][0]["outcome"] == "duplicate"
    assert again_a[0] == 200 and again_a[1]["dependents"][0]["outcome"] in ("duplicate", "skipped")
    assert len(ensemble_runs(kfp)) == 1


def test_several_successes_of_one_upstream_collapse_into_one_run_with_its_latest_artifacts(
    cluster_function, kube, kfp
):
    ensemble(kube)
    function = cluster_function()
    function.post(trained("a/trainer-a", "ra1"))
    function.post(trained("a/trainer-a", "ra2"))

    function.post(trained("a/trainer-b", "rb1"))

    [run] = ensemble_runs(kfp)
    assert run["runtime_config"]["parameters"] == {"model_a": "gs://m/ra2", "model_b": "gs://m/rb1"}


def test_after_a_join_a_new_success_of_one_upstream_waits_for_the_other(cluster_function, kube, kfp):
    ensemble(kube)
    function = cluster_function()
    function.post(trained("a/trainer-a", "ra1"))
    function.post(trained("a/trainer-b", "rb1"))

    code, body = function.post(trained("a/trainer-a", "ra2"))

    assert code == 200 and body["dependents"][0]["reason"] == "awaiting-upstreams"
    assert "a new success of a/trainer-b" in body["dependents"][0]["detail"]
    assert len(ensemble_runs(kfp)) == 1
    function.post(trained("a/trainer-b", "rb2"))
    assert len(ensemble_runs(kfp)) == 2


def test_the_last_two_upstreams_completing_at_once_on_two_replicas_start_one_run(cluster_function, kube, kfp):
    # Two replicas, each with its own watch index (which may lag), get the two last events at the same
    # moment. Each records its own upstream's success, then plans; a plan that waits is planned again on
    # fresh reads, so at least one of them sees both successes: one run, with no redelivery needed.
    ensemble(kube)
    replicas = [cluster_function(KFP_CHAIN_INDEX="watch", KFP_CHAIN_HOLDER=f"r{i}") for i in range(2)]
    for round_ in range(4):
        events = [trained("a/trainer-a", f"ra{round_}"), trained("a/trainer-b", f"rb{round_}")]
        turn = iter(range(2))
        lock = threading.Lock()

        def one(events=events, turn=turn, lock=lock) -> int:
            with lock:
                mine = next(turn)
            return replicas[mine].post(events[mine])[0]

        answers = run_concurrently(one, 2)
        assert set(answers) <= {200, 503}  # 503: the other replica held the claim; a redelivery says "done"
        names = [r["display_name"] for r in ensemble_runs(kfp)]
        assert names.count(join_name(**{"trainer-a": f"ra{round_}", "trainer-b": f"rb{round_}"})) == 1, names
        assert len(names) == round_ + 1, names


def test_the_ledger_refuses_a_join_one_of_whose_runs_another_join_consumed(kube):
    # ra1+rb1 was joined; a stale plan that pairs ra1 with rb2 must not start a second run with ra1.
    ensemble(kube)
    obj = kube.get("a", "ensemble")
    obj["status"] = consumed(**{"a/trainer-a": "ra1", "a/trainer-b": "rb1"})
    kube.put(obj)
    ledger = _ledger(kube)
    dependent = RcKey("a", "ensemble")
    partly = Trigger.fan_in(dependent, [(RcKey("a", "trainer-a"), "ra1"), (RcKey("a", "trainer-b"), "rb2")])
    fresh = Trigger.fan_in(dependent, [(RcKey("a", "trainer-a"), "ra2"), (RcKey("a", "trainer-b"), "rb2")])

    assert ledger.claim(partly, "me/1", timedelta(seconds=20)) is ClaimState.DONE
    assert ledger.claim(fresh, "me/1", timedelta(seconds=20)) is ClaimState.ACQUIRED


def test_reconcile_joins_the_latest_successes_once_and_waits_while_one_is_old(reconcile_cli, kube, kfp):
    ensemble(kube)
    for name, run in (("trainer-a", "ra1"), ("trainer-b", "rb1")):
        obj = kube.get("a", name)
        obj["status"] = succeeded(run, model=f"gs://m/{run}")
        kube.put(obj)

    code, body = reconcile_cli()
    again, body_again = reconcile_cli()

    assert code == 0 and body["started"] == 1, body
    assert again == 0 and body_again["pending"] == 0
    [run] = ensemble_runs(kfp)
    assert run["display_name"] == join_name(**{"trainer-a": "ra1", "trainer-b": "rb1"})
    assert run["runtime_config"]["parameters"] == {"model_a": "gs://m/ra1", "model_b": "gs://m/rb1"}
    # Only trainer-a succeeds again: nothing is pending until trainer-b does too.
    obj = kube.get("a", "trainer-a")
    obj["status"] = succeeded("ra2", model="gs://m/ra2")
    kube.put(obj)
    assert reconcile_cli()[1]["pending"] == 0


def test_the_event_path_and_reconcile_racing_on_a_join_start_one_run(
    cluster_function, reconcile_cli, kube, kfp
):
    ensemble(kube)
    function = cluster_function()
    function.post(trained("a/trainer-a", "ra1"))
    obj = kube.get("a", "trainer-b")
    obj["status"] = succeeded("rb1", model="gs://m/rb1")  # kfp-operator recorded it; its event is late
    kube.put(obj)

    reconcile_cli()
    code, body = function.post(trained("a/trainer-b", "rb1"))

    assert code == 200 and body["dependents"][0]["outcome"] == "duplicate"
    assert len(ensemble_runs(kfp)) == 1


def test_an_input_whose_age_nobody_knows_is_not_refused(cluster_function, kube, kfp):
    ensemble(kube, {"kfp-chain.io/fan-in-max-age": "24h"})
    function = cluster_function()
    function.post(trained("a/trainer-a", "ra-old", end=datetime.now(UTC) - timedelta(days=3)))

    code, body = function.post(trained("a/trainer-b", "rb1", end=datetime.now(UTC)))

    # The join is planned on trainer-b's event; trainer-a's run comes from its latestRuns, and its age from
    # KFP, which does not know this run (in a cluster every upstream run is a KFP run, and KFP knows its
    # finish time). An age nobody knows does not block the join: documented in docs/fan-in.md.
    assert code == 200
    assert body["dependents"][0]["outcome"] == "started"


def test_an_input_whose_kfp_run_finished_too_long_ago_is_refused(cluster_function, kube, kfp):
    ensemble(kube, {"kfp-chain.io/fan-in-max-age": "24h"})
    old = _kfp_run(kfp, finished=datetime.now(UTC) - timedelta(days=3))
    function = cluster_function()
    function.post(trained("a/trainer-a", old))

    code, body = function.post(trained("a/trainer-b", "rb1", end=datetime.now(UTC)))

    assert code == 200
    [refused] = body["dependents"]
    assert refused["reason"] == "input-too-old" and f"a/trainer-a run {old}" in refused["detail"]
    assert ensemble_runs(kfp) == []
    fresh = _kfp_run(kfp, finished=datetime.now(UTC))
    function.post(trained("a/trainer-a", fresh))
    assert len(ensemble_runs(kfp)) == 1


def test_the_events_own_run_end_time_counts_for_its_age(cluster_function, kube, kfp):
    ensemble(kube, {"kfp-chain.io/fan-in-max-age": "1h"})
    function = cluster_function()
    function.post(trained("a/trainer-a", "ra1", end=datetime.now(UTC)))

    code, body = function.post(trained("a/trainer-b", "rb1", end=datetime.now(UTC) - timedelta(hours=2)))

    assert code == 200 and body["dependents"][0]["reason"] == "input-too-old"
    assert "a/trainer-b run rb1" in body["dependents"][0]["detail"]


def test_an_unknown_policy_starts_nothing_and_says_why(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    obj = rc("a", "down", triggers=["up"])
    obj["metadata"]["annotations"] = {"kfp-chain.io/trigger-policy": "majority"}
    kube.put(obj)

    code, body = cluster_function().post(binary_event(event_data("a/up")))

    assert code == 200 and body["dependents"][0]["reason"] == "invalid-policy"
    assert kfp.runs() == []


def test_without_the_annotation_each_upstream_starts_its_own_run(cluster_function, kube, kfp):
    ensemble(kube)
    obj = kube.get("a", "ensemble")
    del obj["metadata"]["annotations"]
    kube.put(obj)
    function = cluster_function()

    _, first = function.post(trained("a/trainer-a", "ra1"))
    code, _ = function.post(trained("a/trainer-b", "rb1"))

    # policy any (kfp-operator's OR): each success is its own trigger. The first cannot start (trainer-b's
    # model does not exist yet: the very reason fan-in exists); the second reads trainer-a's latest run.
    assert code == 200
    assert first["dependents"][0]["reason"] == "missing-artifact"
    assert [r["display_name"] for r in ensemble_runs(kfp)] == ["a/ensemble <- a/trainer-b run rb1"]


def _kfp_run(kfp, finished: datetime) -> str:
    """A run in the KFP fake that finished at `finished` (an upstream run kfp-operator started)."""
    pipeline_id, (version_id,) = kfp.add_pipeline(f"upstream {finished.isoformat()}")
    body = {
        "display_name": f"upstream {finished.isoformat()}",
        "pipeline_version_reference": {"pipeline_id": pipeline_id, "pipeline_version_id": version_id},
    }
    request = urllib.request.Request(
        f"{kfp.url}/apis/v2beta1/runs",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        run_id = json.loads(response.read())["run_id"]
    clock = kfp.clock
    kfp.clock = lambda: finished
    try:
        kfp.set_run_state(run_id, "SUCCEEDED")
    finally:
        kfp.clock = clock
    return str(run_id)


def _ledger(kube) -> KubernetesLedger:
    return KubernetesLedger(KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1"))


def test_a_claim_on_any_other_join_of_the_dependent_is_held_while_one_is_in_flight(kube):
    # trainer-a's ra1 joined with rb1 on one replica and, a moment later, with rb2 on another: two
    # claims, one run each, ra1 consumed twice. And two disjoint joins in flight may be recorded in
    # either order, the older last (see the test above). One join of a dependent is in flight at once;
    # a recorded join's leftover claim holds nothing up.
    ensemble(kube)
    ledger, lease = _ledger(kube), timedelta(seconds=20)
    a, b, dependent = RcKey("a", "trainer-a"), RcKey("a", "trainer-b"), RcKey("a", "ensemble")
    first = Trigger.fan_in(dependent, [(a, "ra1"), (b, "rb1")])
    overlapping = Trigger.fan_in(dependent, [(a, "ra1"), (b, "rb2")])
    disjoint = Trigger.fan_in(dependent, [(a, "ra2"), (b, "rb2")])

    assert ledger.claim(first, "r1/1", lease) is ClaimState.ACQUIRED
    assert ledger.claim(overlapping, "r2/1", lease) is ClaimState.HELD
    assert ledger.claim(disjoint, "r2/1", lease) is ClaimState.HELD
    ledger.complete(first, "r1/1", "kfp-run-1")
    assert ledger.claim(overlapping, "r2/1", lease) is ClaimState.DONE
    assert ledger.claim(disjoint, "r2/1", lease) is ClaimState.ACQUIRED


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


def test_a_join_claim_that_expired_unrecorded_is_listed_as_unsettled_with_its_plan_and_holder(kube):
    # Its holder may have made the run and died; the next join's claimant must settle it (the chain
    # looks its run up by name and records it under the plan its claim carries).
    ensemble(kube)
    clock = _Clock()
    ledger = KubernetesLedger(KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1"), clock)
    lease = timedelta(seconds=20)
    a, b, dependent = RcKey("a", "trainer-a"), RcKey("a", "trainer-b"), RcKey("a", "ensemble")
    left = Trigger.fan_in(
        dependent, [(a, "ra1"), (b, "rb1")], planned_on=[("a/trainer-a", None), ("a/trainer-b", None)]
    )
    newer = Trigger.fan_in(dependent, [(a, "ra2"), (b, "rb2")])
    assert ledger.claim(left, "dead/1", lease) is ClaimState.ACQUIRED
    assert ledger.unsettled(newer) == (), "a live claim is in flight, not unsettled"

    clock.at += lease
    assert ledger.claim(newer, "r2/1", lease) is ClaimState.ACQUIRED, (
        "a claim expiring exactly now is not live"
    )

    [(found, holder)] = ledger.unsettled(newer)
    assert (found, holder) == (left, "dead/1")
    assert dict(found.planned_on) == {"a/trainer-a": None, "a/trainer-b": None}
    ledger.complete(found, "r2/1", "kfp-run-1")
    assert ledger.unsettled(newer) == (), "a recorded join is settled"
    consumed = kube.get("a", "ensemble")["status"]["triggers"]["runConfigurations"]
    assert consumed == {"a/trainer-a": {"providerId": "ra1"}, "a/trainer-b": {"providerId": "rb1"}}


def _latest(kube, upstream: str, run_id: str) -> None:
    """kfp-operator's controller records `run_id` as the upstream's latest success."""
    obj = kube.get("a", upstream)
    obj["status"] = succeeded(run_id, model=f"gs://m/{run_id}")
    kube.put(obj)


def test_a_late_copy_of_an_older_runs_event_waits_instead_of_joining_that_run_again(
    cluster_function, kube, kfp
):
    # status.triggers remembers one run per upstream: once ra2 is consumed, ra1 looks new again. A copy
    # of ra1's event delivered after rb3 succeeded must not join ra1 (consumed already) with rb3.
    ensemble(kube)
    function = cluster_function(RECORD_LATEST_RUNS="false")
    for a, b in (("ra1", "rb1"), ("ra2", "rb2")):
        _latest(kube, "trainer-a", a)
        function.post(trained("a/trainer-a", a))
        _latest(kube, "trainer-b", b)
        function.post(trained("a/trainer-b", b))
    _latest(kube, "trainer-b", "rb3")

    code, body = function.post(trained("a/trainer-a", "ra1"))

    assert code == 200 and body["dependents"][0]["reason"] == "awaiting-upstreams", body
    assert "not its latest recorded success, ra2" in body["dependents"][0]["detail"]
    names = sorted(r["display_name"] for r in ensemble_runs(kfp))
    assert names == sorted(
        join_name(**{"trainer-a": a, "trainer-b": b}) for a, b in (("ra1", "rb1"), ("ra2", "rb2"))
    )


def test_a_join_whose_run_may_exist_keeps_its_claim_so_an_overlapping_set_waits(cluster_function, kube, kfp):
    # ra1+rb1's run is made and the answer lost; the delivery gives up (no budget left). Had it released
    # its claim, ra1+rb2 (rb2 succeeded meanwhile) would start too and consume ra1 a second time.
    ensemble(kube)
    function = cluster_function(RECORD_LATEST_RUNS="false", KFP_CHAIN_RETRY_BUDGET_SECONDS="0.01")
    _latest(kube, "trainer-a", "ra1")
    _latest(kube, "trainer-b", "rb1")
    kfp.faults.add(method="POST", path=r"/runs$", mode="after", status=0)

    first, body = function.post(trained("a/trainer-b", "rb1"))

    assert first == 503, body
    claims = [a for a in kube.get("a", "ensemble")["metadata"].get("annotations", {}) if "claim." in a]
    assert len(claims) == 1
    _latest(kube, "trainer-b", "rb2")
    code, body = function.post(trained("a/trainer-b", "rb2"))
    assert code == 503 and body["dependents"][0]["reason"] == "trigger-in-progress", body
    assert [r["display_name"] for r in ensemble_runs(kfp)] == [
        join_name(**{"trainer-a": "ra1", "trainer-b": "rb1"})
    ]


def test_a_later_attempt_that_fails_before_its_create_keeps_the_claim_an_earlier_attempt_made_a_run_under(
    cluster_function, kube, kfp
):
    # The soak found this: attempt 1 of a delivery made ra1+rb1's run and lost the answer (claim kept);
    # attempt 2's lookup failed (KFP list 500) and, having made nothing itself, released the claim. In that
    # gap ra1+rb2 was claimed and started: ra1 consumed twice. "May have made a run" belongs to the
    # delivery (its holder), not to one attempt.
    ensemble(kube)
    function = cluster_function(RECORD_LATEST_RUNS="false", KFP_CHAIN_RETRY_BUDGET_SECONDS="1.5")
    _latest(kube, "trainer-a", "ra1")
    _latest(kube, "trainer-b", "rb1")
    kfp.faults.add(method="POST", path=r"/runs$", mode="after", status=0)
    kfp.faults.add(method="GET", path=r"/runs$", mode="delay", times=1)  # attempt 1's lookup passes,
    kfp.faults.add(method="GET", path=r"/runs$", status=500, times=None)  # every later one fails

    first, body = function.post(trained("a/trainer-b", "rb1"))

    assert first == 503, body
    assert len([r for r in ensemble_runs(kfp)]) == 1, "attempt 1 made the run (its answer lost)"
    claims = [a for a in kube.get("a", "ensemble")["metadata"].get("annotations", {}) if "claim." in a]
    assert len(claims) == 1, "the claim under which a run was made must stay until the run is recorded"
    kfp.faults.clear()
    _latest(kube, "trainer-b", "rb2")
    code, body = function.post(trained("a/trainer-b", "rb2"))
    assert code == 503 and body["dependents"][0]["reason"] == "trigger-in-progress", body
    assert [r["display_name"] for r in ensemble_runs(kfp)] == [
        join_name(**{"trainer-a": "ra1", "trainer-b": "rb1"})
    ]


def _left_by_a_dead_holder(cluster_function, kube, kfp, **create_fault):
    """ra1+rb1 claimed, its create answered with `create_fault`, its claim kept, its lease run out."""
    ensemble(kube)
    function = cluster_function(RECORD_LATEST_RUNS="false", KFP_CHAIN_RETRY_BUDGET_SECONDS="0.01")
    _latest(kube, "trainer-a", "ra1")
    _latest(kube, "trainer-b", "rb1")
    kfp.faults.add(method="POST", path=r"/runs$", **create_fault)
    first, body = function.post(trained("a/trainer-b", "rb1"))
    assert first == 503 and len(_claims(kube)) == 1, body
    _expire_claims(kube)
    return function


def _expire_claims(kube) -> None:
    """The lease of every claim on the ensemble runs out (its holder died)."""
    obj = kube.get("a", "ensemble")
    for annotation, text in obj["metadata"]["annotations"].items():
        if "claim." in annotation:
            obj["metadata"]["annotations"][annotation] = json.dumps(
                {**json.loads(text), "expiresAt": "2000-01-01T00:00:00+00:00"}
            )
    kube.put(obj)


def test_a_join_left_unrecorded_by_a_dead_holder_is_recorded_before_a_newer_set_can_consume_its_runs(
    cluster_function, kube, kfp
):
    # ra1+rb1's run was made and its holder died before recording it; its lease ran out. rb2's event plans
    # ra1+rb2, whose own lookup cannot see ra1+rb1's run: started, it would consume ra1 a second time.
    function = _left_by_a_dead_holder(
        cluster_function, kube, kfp, mode="after", status=0
    )  # made, answer lost
    _latest(kube, "trainer-b", "rb2")

    code, body = function.post(trained("a/trainer-b", "rb2"))

    assert code == 200, body
    [answer] = body["dependents"]
    assert answer["reason"] == "awaiting-upstreams", answer
    assert "a new success of a/trainer-a" in answer["detail"], answer
    assert [r["display_name"] for r in ensemble_runs(kfp)] == [
        join_name(**{"trainer-a": "ra1", "trainer-b": "rb1"})
    ]
    recorded = kube.get("a", "ensemble")["status"]["triggers"]["runConfigurations"]
    assert recorded == {"a/trainer-a": {"providerId": "ra1"}, "a/trainer-b": {"providerId": "rb1"}}
    assert "ra1+rb2" not in [c["runId"] for c in _claims(kube)], "the superseded set released its claim"


def test_a_join_claim_left_by_a_dead_holder_that_made_nothing_is_dropped_and_the_newer_set_starts(
    cluster_function, kube, kfp
):
    function = _left_by_a_dead_holder(cluster_function, kube, kfp, status=503)  # sent, and refused
    _latest(kube, "trainer-a", "ra2")
    _latest(kube, "trainer-b", "rb2")

    code, body = function.post(trained("a/trainer-b", "rb2"))

    assert code == 200 and body["dependents"][0]["outcome"] == "started", body
    assert [r["display_name"] for r in ensemble_runs(kfp)] == [
        join_name(**{"trainer-a": "ra2", "trainer-b": "rb2"})
    ]
    assert [c["runId"] for c in _claims(kube)] == ["ra2+rb2"], "the dead holder's claim is dropped"


def _claims(kube) -> list[dict]:
    annotations = kube.get("a", "ensemble")["metadata"].get("annotations") or {}
    return [json.loads(v) for k, v in annotations.items() if "claim." in k]


def test_a_join_superseded_while_its_claim_was_in_flight_is_planned_again_and_started(
    cluster_function, kube, kfp
):
    # ra3+rb3 was planned on the record ra1+rb1; before its claim landed another replica recorded ra2+rb2.
    # The ledger answers DONE ("superseded": moved since planned), yet ra3 and rb3 are both new: planned
    # again on fresh reads, the same set is started, not answered "already triggered" and left to reconcile.
    ensemble(kube)
    function = cluster_function(RECORD_LATEST_RUNS="false", KFP_CHAIN_RETRY_BUDGET_SECONDS="6")
    obj = kube.get("a", "ensemble")
    obj["status"] = consumed(**{"a/trainer-a": "ra1", "a/trainer-b": "rb1"})
    kube.put(obj)
    _latest(kube, "trainer-a", "ra3")
    _latest(kube, "trainer-b", "rb3")
    claim = kube.faults.add(method="PATCH", path=r"/runconfigurations/ensemble$", mode="hold", delay=30)
    answer: dict[str, tuple[int, dict]] = {}
    thread = threading.Thread(target=lambda: answer.update(rb3=function.post(trained("a/trainer-b", "rb3"))))
    thread.start()
    assert claim.wait_arrived()
    obj = kube.get("a", "ensemble")
    obj["status"] = consumed(**{"a/trainer-a": "ra2", "a/trainer-b": "rb2"})  # the other replica's join
    kube.put(obj)
    claim.release()
    thread.join(timeout=30)

    code, body = answer["rb3"]
    assert code == 200 and body["dependents"][0]["outcome"] == "started", body
    assert [r["display_name"] for r in ensemble_runs(kfp)] == [
        join_name(**{"trainer-a": "ra3", "trainer-b": "rb3"})
    ]


def test_two_joins_of_one_dependent_are_never_in_flight_at_once_so_an_older_one_cannot_be_recorded_over_a_newer(
    cluster_function, kube, kfp
):
    # The soak's log showed the shape: a join of ra2+rb2 claimed while ra1+rb1 (planned a moment earlier,
    # disjoint from it) was still in flight. ra1+rb1 was recorded first; ra2+rb2's run was made but could
    # not be recorded over it (status.triggers has one run per upstream), so ra2 looked unconsumed and
    # ra2+rb3 would consume it a second time. One join in flight per dependent rules that order out.
    ensemble(kube)
    function, replica = (
        cluster_function(RECORD_LATEST_RUNS="false", KFP_CHAIN_RETRY_BUDGET_SECONDS="6") for _ in range(2)
    )
    _latest(kube, "trainer-a", "ra1")
    _latest(kube, "trainer-b", "rb1")
    older_claim = kube.faults.add(method="PATCH", path=r"/runconfigurations/ensemble$", mode="hold", delay=30)
    answers: dict[str, tuple[int, dict]] = {}
    older = threading.Thread(
        target=lambda: answers.update(older=function.post(trained("a/trainer-b", "rb1")))
    )
    older.start()  # plans ra1+rb1, its claim's PATCH held in flight
    assert older_claim.wait_arrived()
    _latest(kube, "trainer-a", "ra2")
    _latest(kube, "trainer-b", "rb2")
    newer_create = kfp.faults.add(method="POST", path=r"/runs$", mode="hold", delay=30)
    newer = threading.Thread(target=lambda: answers.update(newer=replica.post(trained("a/trainer-b", "rb2"))))
    newer.start()  # plans ra2+rb2 on fresh reads, claims it, its create held in flight
    assert newer_create.wait_arrived()
    older_claim.release()  # ra1+rb1's claim goes on (409, re-read) while ra2+rb2 is in flight
    older.join(timeout=30)
    newer_create.release()
    newer.join(timeout=30)

    _latest(kube, "trainer-b", "rb3")
    code, body = function.post(trained("a/trainer-b", "rb3"))

    assert code == 200 and body["dependents"][0]["reason"] == "awaiting-upstreams", (answers, body)
    consumed_by: dict[str, list[str]] = {}
    for run in ensemble_runs(kfp):
        for upstream_run in run["runtime_config"]["parameters"].values():
            consumed_by.setdefault(upstream_run, []).append(run["display_name"])
    assert {r: n for r, n in consumed_by.items() if len(n) > 1} == {}, "a run consumed by two joins"
    assert "gs://m/ra2" in consumed_by, answers
    recorded = kube.get("a", "ensemble")["status"]["triggers"]["runConfigurations"]
    assert recorded == {"a/trainer-a": {"providerId": "ra2"}, "a/trainer-b": {"providerId": "rb2"}}


def test_reconcile_plans_a_join_again_on_fresh_reads_not_on_the_list_it_started_with(
    cluster_env, kube, kfp, monkeypatch
):
    # The pass's list is a hint: an upstream that succeeded again after it was read must be joined
    # with its latest run, not with the run the list showed (a set older than the newest success).
    from kfp_chain.dependents import DependentsIndex
    from kfp_chain.service.app import build_reconcile_app
    from kfp_chain.settings import Settings

    ensemble(kube)
    for name, run in (("trainer-a", "ra1"), ("trainer-b", "rb1")):
        obj = kube.get("a", name)
        obj["status"] = succeeded(run, model=f"gs://m/{run}")
        kube.put(obj)
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    app = build_reconcile_app(Settings.from_env())
    try:
        listed = DependentsIndex(app.source.list())  # what the pass read at its start
        obj = kube.get("a", "trainer-b")
        obj["status"] = succeeded("rb2", model="gs://m/rb2")  # then trainer-b succeeded again
        kube.put(obj)

        report = app.chain.reconcile(listed)
    finally:
        app.close()

    assert [o.outcome for o in report.outcomes] == ["started"], report.outcomes
    [run] = ensemble_runs(kfp)
    assert run["display_name"] == join_name(**{"trainer-a": "ra1", "trainer-b": "rb2"})
    assert run["runtime_config"]["parameters"] == {"model_a": "gs://m/ra1", "model_b": "gs://m/rb2"}
