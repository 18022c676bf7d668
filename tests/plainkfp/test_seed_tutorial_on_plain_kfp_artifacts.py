"""The seed tutorial on plain KFP through the deployed entry points: where the examples come from.

A scheduled examples run (fired by the recurring run `on_reconcile` made) whose RunConfiguration
declares `CsvExampleGen:examples[pushed == 1]`: from KFP's native task API (KFP_CHAIN_ARTIFACT_SOURCE=kfp)
one output holding a matching and a not-matching artifact; from ML Metadata, a run whose artifact does
not match starts nothing and the next one that does starts training once. ML Metadata down for a
while: `on_kfp_poll` starts nothing and holds the mark, then training starts once when it heals.
"""

from __future__ import annotations

import pytest
from kfp_fakes.kfp.tasks import FakeArtifact, FakeTask
from kfp_fakes.mlmd import Task

from tests.plainkfp.on_kfp import apply_examples
from tests.plainkfp.seed_story import (
    EXAMPLES_PIPELINE,
    EXAMPLES_STATUS,
    deployment,
    finish_in_mlmd,
    plain_kfp_env,
    training_runs,
)

__all__ = ["deployment", "plain_kfp_env"]  # fixtures this file uses

PUSHED_ONLY = "CsvExampleGen:examples[pushed == 1]"


def scheduled_examples(kube, kfp, deployment, path: str | None = None):
    """The seed tutorial applied (with `path` for its examples artifact) and reconciled; a fire() for
    the recurring run the reconcile made."""
    apply_examples(kube)
    if path is not None:
        examples = kube.get(*EXAMPLES_STATUS)
        examples["spec"]["run"]["artifacts"] = [{"name": "examples", "path": path}]
        kube.put(examples)
    assert deployment.post("on_reconcile")[0] == 200
    [recurring] = kfp.recurring_runs()
    return lambda: kfp.fire(recurring["recurring_run_id"])["run_id"]


def examples_locations(kfp) -> list[str]:
    return [r["runtime_config"]["parameters"]["examples_location"] for r in training_runs(kfp)]


def test_the_native_api_filter_picks_the_matching_artifact_of_the_output(kube, kfp, deployment, monkeypatch):
    monkeypatch.setenv("KFP_CHAIN_ARTIFACT_SOURCE", "kfp")
    fire = scheduled_examples(kube, kfp, deployment, PUSHED_ONLY)
    run_id = fire()
    outputs = [
        FakeArtifact("gs://penguin/examples/held-back", {"pushed": False}, type="Dataset"),
        FakeArtifact("gs://penguin/examples/pushed", {"pushed": True}, type="Dataset"),
    ]
    kfp.add_tasks(run_id, [FakeTask("CsvExampleGen", outputs={"examples": outputs})])
    kfp.finish_run(run_id, "SUCCEEDED")

    first = deployment.post("on_kfp_poll")
    again = deployment.post("on_kfp_poll")

    assert first[0] == 200 and first[1]["started"] == 1, first
    assert examples_locations(kfp) == ["gs://penguin/examples/pushed"]
    latest = kube.get(*EXAMPLES_STATUS)["status"]["latestRuns"]["succeeded"]
    assert latest == {
        "providerId": run_id,
        "artifacts": [{"name": "examples", "location": "gs://penguin/examples/pushed"}],
    }
    assert again[1]["started"] == 0 and len(training_runs(kfp)) == 1


def test_an_ml_metadata_artifact_the_filter_refuses_starts_nothing_and_a_matching_one_starts_training_once(
    kube, kfp, mlmd, deployment
):
    fire = scheduled_examples(kube, kfp, deployment, PUSHED_ONLY)
    held_back = fire()
    mlmd.record_run(held_back, EXAMPLES_PIPELINE, [Task("CsvExampleGen", {"examples": {"pushed": False}})])
    kfp.finish_run(held_back, "SUCCEEDED")
    refused = deployment.post("on_kfp_poll")
    pushed = fire()
    recorded = mlmd.record_run(
        pushed, EXAMPLES_PIPELINE, [Task("CsvExampleGen", {"examples": {"pushed": True}})]
    )
    kfp.finish_run(pushed, "SUCCEEDED")

    first = deployment.post("on_kfp_poll")
    again = deployment.post("on_kfp_poll")

    assert refused[0] == 200 and refused[1]["started"] == 0, refused
    assert first[0] == 200 and first[1]["started"] == 1, first
    assert examples_locations(kfp) == [recorded.uri("CsvExampleGen", "examples")]
    assert again[1]["started"] == 0 and len(training_runs(kfp)) == 1


@pytest.mark.parametrize(
    "fault", [{"mode": "status", "status": 14}, {"mode": "unknown"}], ids=["down", "unknown-run"]
)
def test_ml_metadata_down_for_a_while_holds_the_scheduled_run_then_training_once(
    kube, kfp, mlmd, deployment, fault
):
    fire = scheduled_examples(kube, kfp, deployment)
    run_id = fire()
    uri = finish_in_mlmd(kfp, mlmd, run_id)
    mlmd.faults.add(path="GetContextByTypeAndName", times=None, **fault)

    down = [deployment.post("on_kfp_poll") for _ in range(2)]
    nothing, status = training_runs(kfp), kube.get(*EXAMPLES_STATUS).get("status") or {}
    mlmd.faults.clear()
    healed = deployment.at_once("on_kfp_poll")
    again = deployment.post("on_kfp_poll")

    assert [(code, body["results"]) for code, body in down] == [(200, {"waiting": 1})] * 2, down
    assert nothing == [] and "latestRuns" not in status
    assert sum(body["started"] for _, body in healed) == 1, healed
    assert examples_locations(kfp) == [uri]
    assert again[1]["started"] == 0 and len(training_runs(kfp)) == 1
