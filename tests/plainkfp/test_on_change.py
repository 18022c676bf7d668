"""triggers.onChange: a new pipeline version, or a spec edit, starts one run, once.

Each change is carried out through the exactly-once protocol (claim, deterministic run name,
find-before-create, complete into `status.triggers.pipeline.version` / `runSpec.version`), so
repeated passes and replicas at once start it once; first sight runs unless
KFP_CHAIN_INITIAL_TRIGGER=skip.
"""

from __future__ import annotations

from kfp_chain.adapters.kubernetes.claims import claims_in
from kfp_chain.service.app import reconcile_pass

from tests.plainkfp.on_kfp import kfp_env, reconcile, reconcile_apps, scheduled
from tests.support import run_concurrently

__all__ = ["kfp_env", "reconcile", "reconcile_apps"]  # fixtures this file uses


def pipe_id(kfp) -> str:
    [pid] = [p["pipeline_id"] for p in kfp._pipelines.values() if p["display_name"] == "pipe"]
    return pid


def latest(kfp) -> str:
    return max(kfp._versions[pipe_id(kfp)].values(), key=kfp._order)["pipeline_version_id"]


def test_a_new_pipeline_version_starts_one_run_and_is_recorded(kube, kfp, reconcile):
    kube.put(scheduled("a", "fresh", on_change=["pipeline"]))
    reconcile()  # first sight: runs, as kfp-operator's controller does
    first = latest(kfp)
    second = kfp.add_version(pipe_id(kfp), "v2")

    code, body = reconcile()
    again, nothing = reconcile()

    names = [r["display_name"] for r in kfp.runs()]
    assert names == [f"a/fresh <- onChange pipeline {first}", f"a/fresh <- onChange pipeline {second}"]
    assert code == 0 and body["onChange"]["started"] == 1, body
    assert again == 0 and nothing["onChange"]["due"] == 0
    obj = kube.get("a", "fresh")
    assert obj["status"]["triggers"]["pipeline"] == {"version": second}
    assert claims_in(obj) == []
    assert kfp.runs()[-1]["description"].splitlines()[0] == "kfp-chain.io/runconfiguration: a/fresh"
    told = [e["message"] for e in kube.events("a") if e["reason"] == "TriggerStarted"]
    assert told[-1].endswith(f"(a/fresh <- onChange pipeline {second}) after a change (triggers.onChange)")


def test_a_spec_edit_starts_one_run_for_its_generation(kube, kfp, reconcile):
    kube.put(scheduled("a", "tuned", on_change=["runSpec"], parameters=[{"name": "lr", "value": "0.1"}]))
    reconcile()
    kube.put(scheduled("a", "tuned", on_change=["runSpec"], parameters=[{"name": "lr", "value": "0.2"}]))

    reconcile()
    reconcile()

    runs = kfp.runs()
    assert [r["display_name"] for r in runs] == [
        "a/tuned <- onChange runSpec 1",
        "a/tuned <- onChange runSpec 2",
    ]
    assert runs[-1]["runtime_config"]["parameters"] == {"lr": "0.2"}
    assert kube.get("a", "tuned")["status"]["triggers"]["runSpec"] == {"version": "2"}


def test_two_replicas_at_once_start_each_change_once(kube, kfp, reconcile_apps):
    kube.put(scheduled("a", "both", on_change=["pipeline", "runSpec"]))
    apps = [reconcile_apps(), reconcile_apps()]

    results = run_concurrently(lambda: reconcile_pass(apps.pop()), workers=2)

    assert [status for status, _ in results] == [200, 200], results
    assert sorted(r["display_name"] for r in kfp.runs()) == [
        f"a/both <- onChange pipeline {latest(kfp)}",
        "a/both <- onChange runSpec 1",
    ]


def test_first_sight_with_initial_trigger_skip_records_and_starts_nothing(kube, kfp, reconcile):
    kube.put(scheduled("a", "quiet", on_change=["pipeline", "runSpec"]))

    code, body = reconcile(KFP_CHAIN_INITIAL_TRIGGER="skip")

    assert code == 0 and [t["outcome"] for t in body["onChange"]["triggers"]] == ["adopted", "adopted"]
    assert kfp.runs() == []
    status = kube.get("a", "quiet")["status"]["triggers"]
    assert status["pipeline"] == {"version": latest(kfp)} and status["runSpec"] == {"version": "1"}
    newer = kfp.add_version(pipe_id(kfp), "v2")
    reconcile(KFP_CHAIN_INITIAL_TRIGGER="skip")
    assert [r["display_name"] for r in kfp.runs()] == [f"a/quiet <- onChange pipeline {newer}"]


def test_onchange_stays_off_unless_asked(kube, kfp, reconcile):
    kube.put(scheduled("a", "fresh", on_change=["pipeline", "runSpec"]))

    reconcile(KFP_CHAIN_SCHEDULES="false")

    assert kfp.runs() == []
