"""The seed tutorial on plain KFP, told whole through the deployed entry points (no kfp-operator).

`kubectl apply -f examples/resources`, then the function targets of functions/main.py as their
PingSources post to them: `on_reconcile` makes the examples RunConfiguration's schedule one KFP
recurring run; KFP fires it; the run ends with its `CsvExampleGen` task's `examples` output in ML
Metadata; `on_kfp_poll` starts training once with `examples_location` = that artifact. The same for
a run `kfp-chain run` started and one started by hand under `kfp-chain.io/adopt-runs`; repeated
passes and two replicas' passes at once start nothing more. Then the schedule is edited and deleted.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from kfp_chain.cli import main

from tests.builders import EXAMPLES_RC, TRAINING_RC
from tests.plainkfp.on_kfp import apply_examples, owned_by
from tests.plainkfp.seed_story import (
    EXAMPLES_STATUS,
    deployment,
    examples_pipeline,
    finish_in_mlmd,
    plain_kfp_env,
    training_runs,
)

__all__ = ["deployment", "plain_kfp_env"]  # fixtures this file uses

HOURLY = {
    "cron_schedule": {
        "cron": "0 0 * * * *",
        "start_time": "2024-01-01T00:00:00Z",
        "end_time": "2030-12-31T23:59:59Z",
    }
}


def latest_success(kube) -> dict:
    return kube.get(*EXAMPLES_STATUS)["status"]["latestRuns"]["succeeded"]


def test_a_run_of_the_recurring_run_reconcile_made_starts_training_once(kube, kfp, mlmd, deployment):
    apply_examples(kube)

    reconciled = deployment.post("on_reconcile")
    [recurring] = kfp.recurring_runs()
    run = kfp.fire(recurring["recurring_run_id"])
    uri = finish_in_mlmd(kfp, mlmd, run["run_id"])
    first = deployment.post("on_kfp_poll")
    again = deployment.post("on_kfp_poll")
    reconciled_after = deployment.post("on_reconcile")  # sees examples' latestRuns: training is done

    assert reconciled[0] == 200, reconciled
    assert recurring["trigger"] == HOURLY and recurring["status"] == "ENABLED"
    assert owned_by(kfp, EXAMPLES_RC) == [recurring]
    assert first[0] == 200 and first[1]["started"] == 1, first
    [training] = training_runs(kfp)
    assert training["display_name"].startswith(f"{TRAINING_RC} <- {EXAMPLES_RC} run ")
    assert training["runtime_config"]["parameters"] == {"examples_location": uri}
    assert latest_success(kube) == {
        "providerId": run["run_id"],
        "artifacts": [{"name": "examples", "location": uri}],
    }
    assert again[0] == 200 and again[1]["started"] == 0, again
    assert reconciled_after[0] == 200 and reconciled_after[1]["started"] == 0, reconciled_after
    assert len(training_runs(kfp)) == 1 and len(kfp.recurring_runs()) == 1


def test_two_replicas_polling_at_once_start_training_once_per_examples_run(kube, kfp, mlmd, deployment):
    apply_examples(kube)
    deployment.post("on_reconcile")
    [recurring] = kfp.recurring_runs()
    uris = [finish_in_mlmd(kfp, mlmd, kfp.fire(recurring["recurring_run_id"])["run_id"]) for _ in range(2)]

    answers = deployment.at_once("on_kfp_poll")
    later = deployment.at_once("on_kfp_poll")

    assert [status for status, _ in answers + later] == [200] * 4, answers + later
    assert sum(body["started"] for _, body in answers + later) == 2, answers + later
    assert sorted(
        r["runtime_config"]["parameters"]["examples_location"] for r in training_runs(kfp)
    ) == sorted(uris)


def test_a_run_kfp_chain_run_started_starts_training_once(kube, kfp, mlmd, plain_kfp_env, deployment):
    apply_examples(kube)

    started = CliRunner().invoke(main, ["run", EXAMPLES_RC], env=plain_kfp_env)
    [run] = kfp.runs()
    uri = finish_in_mlmd(kfp, mlmd, run["run_id"])
    polled = CliRunner().invoke(main, ["poll", "-o", "json"], env=plain_kfp_env)
    again = deployment.post("on_kfp_poll")

    assert started.exit_code == 0 and run["run_id"] in started.output, started.output
    assert polled.exit_code == 0 and json.loads(polled.stdout)["started"] == 1, polled.output
    [training] = training_runs(kfp)
    assert training["runtime_config"]["parameters"] == {"examples_location": uri}
    assert latest_success(kube)["providerId"] == run["run_id"]
    assert again[1]["started"] == 0 and len(training_runs(kfp)) == 1


def test_a_run_started_by_hand_starts_training_only_under_adopt_runs(kube, kfp, mlmd, deployment):
    apply_examples(kube)
    pipeline, version = examples_pipeline(kfp)
    notebook = kfp.add_run("from a notebook", pipeline, version)
    finish_in_mlmd(kfp, mlmd, notebook)

    unadopted = deployment.post("on_kfp_poll")
    examples = kube.get(*EXAMPLES_STATUS)
    examples["metadata"].setdefault("annotations", {})["kfp-chain.io/adopt-runs"] = "true"
    kube.put(examples)
    by_hand = kfp.add_run("from a notebook, adopted", pipeline, version)
    uri = finish_in_mlmd(kfp, mlmd, by_hand)
    adopted = deployment.post("on_kfp_poll")
    again = deployment.post("on_kfp_poll")

    assert unadopted[0] == 200 and unadopted[1]["started"] == 0, unadopted
    assert adopted[0] == 200 and adopted[1]["started"] == 1, adopted
    [training] = training_runs(kfp)
    assert training["runtime_config"]["parameters"] == {"examples_location": uri}
    assert latest_success(kube)["providerId"] == by_hand
    assert again[1]["started"] == 0 and len(training_runs(kfp)) == 1


def test_editing_the_schedule_replaces_its_recurring_run_and_deleting_it_deletes_it(kube, kfp, deployment):
    apply_examples(kube)
    deployment.post("on_reconcile")
    [first] = kfp.recurring_runs()

    examples = kube.get(*EXAMPLES_STATUS)
    examples["spec"]["triggers"]["schedules"][0]["cronExpression"] = "30 6 * * *"
    kube.put(examples)
    edited = deployment.post("on_reconcile")
    [replacement] = kfp.recurring_runs()
    examples = kube.get(*EXAMPLES_STATUS)
    del examples["spec"]["triggers"]["schedules"]
    kube.put(examples)
    deleted = deployment.post("on_reconcile")

    assert edited[0] == 200, edited
    assert replacement["recurring_run_id"] != first["recurring_run_id"]
    assert replacement["trigger"]["cron_schedule"]["cron"] == "0 30 6 * * *"
    assert replacement["status"] == "ENABLED"
    assert kfp.most_enabled_at_once(f"kfp-chain.io/runconfiguration: {EXAMPLES_RC}") == 1
    assert deleted[0] == 200 and kfp.recurring_runs() == [], deleted
