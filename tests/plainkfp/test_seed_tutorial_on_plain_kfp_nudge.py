"""The seed tutorial on plain KFP, nudged: a scheduled examples run's Workflow reaches `on_run_completion`.

The examples run KFP fired from the recurring run `on_reconcile` made ends; its Argo Workflow (with
`pipeline/runid`) arrives as a Knative ApiServerSource CloudEvent. Training starts at once with the
examples artifact from ML Metadata, and the PingSource's next `on_kfp_poll` pass starts nothing more.
"""

from __future__ import annotations

from tests.nudge.workflows import apiserver_event, workflow
from tests.plainkfp.on_kfp import apply_examples
from tests.plainkfp.seed_story import deployment, finish_in_mlmd, plain_kfp_env, training_runs

__all__ = ["deployment", "plain_kfp_env"]  # fixtures this file uses


def test_a_workflow_nudge_starts_training_at_once_and_the_next_poll_pass_not_again(
    kube, kfp, mlmd, deployment, monkeypatch
):
    monkeypatch.setenv("KFP_CHAIN_INDEX", "list")
    apply_examples(kube)
    assert deployment.post("on_reconcile")[0] == 200
    [recurring] = kfp.recurring_runs()
    run_id = kfp.fire(recurring["recurring_run_id"])["run_id"]
    uri = finish_in_mlmd(kfp, mlmd, run_id)

    nudged = deployment.post("on_run_completion", apiserver_event(workflow(run_id=run_id)))
    right_away = training_runs(kfp)
    polled = deployment.post("on_kfp_poll")

    assert nudged[0] == 200 and nudged[1]["started"] == 1, nudged
    assert [r["runtime_config"]["parameters"] for r in right_away] == [{"examples_location": uri}]
    assert polled[0] == 200 and polled[1]["started"] == 0, polled
    assert polled[1]["results"] == {"already-handled": 1}, polled
    assert len(training_runs(kfp)) == 1
