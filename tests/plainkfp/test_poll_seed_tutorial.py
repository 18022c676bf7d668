"""The seed tutorial on plain KFP, end to end with no kfp-operator: examples -> training.

kfp-chain starts an examples run (its launcher writes the marker into the run's description); the
run finishes in the KFP fake with its `CsvExampleGen` task's `examples` output, read from ML Metadata
over gRPC (the default, KFP <= 2.18) or through KFP's native task API (KFP_CHAIN_ARTIFACT_SOURCE=kfp);
one poll pass starts exactly one training run with `examples_location` = that artifact and records
the examples RunConfiguration's latest success. An artifact store that is down, or does not know the
run yet, starts nothing and holds the mark; once it answers, training starts once.
"""

from __future__ import annotations

import pytest
from kfp_chain.adapters.kfp.launcher import KfpLauncher
from kfp_chain.adapters.ports import RunRequest
from kfp_chain.runconfiguration import RcKey

from tests.builders import EXAMPLES_RC, TRAINING_RC, seed_objects
from tests.plainkfp.seed_story import EXAMPLES_STATUS, finish_in_mlmd, training_runs

EXAMPLES = "gs://penguin/examples/run-1/CsvExampleGen/examples"


def examples_run(kfp) -> str:
    """An examples run as kfp-chain starts one (trigger, reconcile, `kfp-chain run`): marked."""
    launcher = KfpLauncher(kfp.client)
    request = RunRequest(
        RcKey.parse(EXAMPLES_RC), "examples by kfp-chain", "penguin-pipeline-examples", None, {}
    )
    return launcher.start_run(request)


def finish_with_examples(kfp, run_id: str) -> None:
    tasks = pytest.importorskip("kfp_fakes.kfp.tasks", reason="the KFP fake's native task API")
    kfp.add_tasks(run_id, [tasks.FakeTask("CsvExampleGen", outputs={"examples": [EXAMPLES]})])
    kfp.finish_run(run_id, "SUCCEEDED")


def test_an_examples_run_that_ends_in_kfp_starts_training_once_with_its_examples(poll_cli, kube, kfp):
    for obj in seed_objects():
        kube.put(obj)
    run_id = examples_run(kfp)
    finish_with_examples(kfp, run_id)

    code, body = poll_cli(KFP_CHAIN_ARTIFACT_SOURCE="kfp")
    again, second = poll_cli(KFP_CHAIN_ARTIFACT_SOURCE="kfp")

    assert code == 0 and body["started"] == 1, body
    [training] = training_runs(kfp)
    assert training["display_name"].startswith(f"{TRAINING_RC} <- {EXAMPLES_RC} run ")
    assert training["runtime_config"]["parameters"] == {"examples_location": EXAMPLES}
    latest = kube.get("base-namespace", "penguin-pipeline-examples-rc")["status"]["latestRuns"]["succeeded"]
    assert latest == {"providerId": run_id, "artifacts": [{"name": "examples", "location": EXAMPLES}]}
    assert again == 0 and second["started"] == 0 and len(training_runs(kfp)) == 1


def test_an_artifact_store_down_for_a_while_starts_nothing_then_training_once(poll_cli, kube, kfp):
    for obj in seed_objects():
        kube.put(obj)
    run_id = examples_run(kfp)
    finish_with_examples(kfp, run_id)
    kfp.faults.add(method="GET", path="/tasks$", status=503, times=None)

    down = [poll_cli(KFP_CHAIN_ARTIFACT_SOURCE="kfp") for _ in range(2)]
    nothing = training_runs(kfp)
    status = kube.get("base-namespace", "penguin-pipeline-examples-rc").get("status") or {}
    kfp.faults.clear()
    code, healed = poll_cli(KFP_CHAIN_ARTIFACT_SOURCE="kfp")

    assert [(c, b["results"]) for c, b in down] == [(0, {"waiting": 1})] * 2, down
    assert nothing == []
    assert "latestRuns" not in status
    assert code == 0 and healed["started"] == 1, healed
    [training] = training_runs(kfp)
    assert training["runtime_config"]["parameters"] == {"examples_location": EXAMPLES}


def test_the_seed_tutorial_with_artifacts_from_ml_metadata(poll_cli, kube, kfp, mlmd):
    for obj in seed_objects():
        kube.put(obj)
    run_id = examples_run(kfp)
    uri = finish_in_mlmd(kfp, mlmd, run_id)

    code, body = poll_cli(KFP_CHAIN_MLMD_ADDRESS=mlmd.address)
    again, second = poll_cli(KFP_CHAIN_MLMD_ADDRESS=mlmd.address)

    assert code == 0 and body["started"] == 1, body
    [training] = training_runs(kfp)
    assert training["runtime_config"]["parameters"] == {"examples_location": uri}
    latest = kube.get(*EXAMPLES_STATUS)["status"]["latestRuns"]["succeeded"]
    assert latest == {"providerId": run_id, "artifacts": [{"name": "examples", "location": uri}]}
    assert again == 0 and second["started"] == 0 and len(training_runs(kfp)) == 1


@pytest.mark.parametrize(
    "fault", [{"mode": "status", "status": 14}, {"mode": "unknown"}], ids=["down", "unknown-run"]
)
def test_ml_metadata_down_or_not_knowing_the_run_yet_holds_the_mark_then_training_once(
    poll_cli, kube, kfp, mlmd, fault
):
    for obj in seed_objects():
        kube.put(obj)
    run_id = examples_run(kfp)
    uri = finish_in_mlmd(kfp, mlmd, run_id)
    mlmd.faults.add(path="GetContextByTypeAndName", times=None, **fault)

    down = [poll_cli(KFP_CHAIN_MLMD_ADDRESS=mlmd.address) for _ in range(2)]
    nothing, status = training_runs(kfp), kube.get(*EXAMPLES_STATUS).get("status") or {}
    mlmd.faults.clear()
    code, healed = poll_cli(KFP_CHAIN_MLMD_ADDRESS=mlmd.address)

    assert [(c, b["results"]) for c, b in down] == [(0, {"waiting": 1})] * 2, down
    assert nothing == [] and "latestRuns" not in status
    assert code == 0 and healed["started"] == 1, healed
    [training] = training_runs(kfp)
    assert training["runtime_config"]["parameters"] == {"examples_location": uri}
