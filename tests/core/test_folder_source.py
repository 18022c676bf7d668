"""The folder source: the same chain on YAML files, its status bookkeeping in SQLite."""

from __future__ import annotations

import shutil
import time

from kfp_chain.adapters.folder.ledger import SqliteLedger

from tests.builders import EXAMPLES_RC, TRAINING_RC, binary_event, event_data
from tests.support import SEED, run_concurrently


def folder_function(function_factory, kfp, tmp_path, **env):
    folder = tmp_path / "rcs"
    folder.mkdir(exist_ok=True)
    shutil.copy(SEED, folder / "seed.yaml")
    (folder / "not-an-rc.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    settings = {
        "RUNCONFIGURATIONS": str(folder),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_STATE_DB": str(tmp_path / "state.db"),
        **env,
    }
    return function_factory(**settings)


def test_the_seed_scenario_runs_from_a_folder_of_yaml(function_factory, kfp, tmp_path):
    function = folder_function(function_factory, kfp, tmp_path)

    status, body = function.post(binary_event(event_data()))

    assert status == 200, body
    [run] = kfp.runs()
    assert run["display_name"] == f"{TRAINING_RC} <- {EXAMPLES_RC} run 123"
    assert run["runtime_config"]["parameters"] == {"examples_location": "gs://bucket/examples/123"}
    [trigger] = SqliteLedger(tmp_path / "state.db").triggers()
    assert trigger["done"] == 1 and trigger["kfpRunId"] == run["run_id"]


def test_duplicates_are_suppressed_across_a_restart(function_factory, kfp, tmp_path):
    folder_function(function_factory, kfp, tmp_path).post(binary_event(event_data()))
    restarted = folder_function(function_factory, kfp, tmp_path)

    status, body = restarted.post(binary_event(event_data()))

    assert status == 200 and body["dependents"][0]["outcome"] == "duplicate"
    assert len(kfp.runs()) == 1


def test_four_threads_at_once_start_one_run(function_factory, kfp, tmp_path):
    function = folder_function(function_factory, kfp, tmp_path, KFP_CHAIN_RETRY_BUDGET_SECONDS="5")
    headers, body = binary_event(event_data())

    def deliver() -> int:
        """Redelivers a 503 as a broker does: after a backoff, until acknowledged or a deadline.

        A held claim is answered 503 at once, so a fixed number of immediate redeliveries raced
        the holder's find -> create -> complete and lost under load."""
        client = function.flask.test_client()
        deadline, pause = time.monotonic() + 60, 0.05
        while True:
            status = client.post("/", headers=headers, data=body).status_code
            if status != 503 or time.monotonic() >= deadline:
                return status
            time.sleep(pause)  # the broker's backoff between two attempts, not a synchronisation
            pause = min(2 * pause, 1.0)

    assert run_concurrently(deliver, 4) == [200] * 4
    assert len(kfp.runs()) == 1


def test_the_emitters_latest_run_feeds_a_reference_from_another_rc(function_factory, kfp, tmp_path):
    function = folder_function(function_factory, kfp, tmp_path)
    (tmp_path / "rcs" / "extra.yaml").write_text(
        """
apiVersion: pipelines.kubeflow.org/v1beta1
kind: RunConfiguration
metadata: {name: uses-both, namespace: dependant-namespace}
spec:
  run:
    provider: kubeflow/kfp
    pipeline: pipe
    parameters:
      - name: examples
        valueFrom: {runConfigurationRef: {name: base-namespace/penguin-pipeline-examples-rc, outputArtifact: examples}}
      - name: model
        valueFrom: {runConfigurationRef: {name: trainer, outputArtifact: model}}
  triggers:
    runConfigurations: [base-namespace/penguin-pipeline-examples-rc]
---
apiVersion: pipelines.kubeflow.org/v1beta1
kind: RunConfiguration
metadata: {name: trainer, namespace: dependant-namespace}
spec:
  run: {provider: kubeflow/kfp, pipeline: pipe}
"""
    )
    trainer_done = event_data(
        "dependant-namespace/trainer", run_id="t7", artifacts=[{"name": "model", "location": "gs://m/7"}]
    )
    assert function.post(binary_event(trainer_done))[0] == 200

    function.post(binary_event(event_data()))

    [run] = [r for r in kfp.runs() if r["display_name"].startswith("dependant-namespace/uses-both")]
    assert run["runtime_config"]["parameters"] == {
        "examples": "gs://bucket/examples/123",
        "model": "gs://m/7",
    }


def test_a_missing_folder_is_a_clear_start_up_error(monkeypatch, tmp_path):
    import pytest
    from kfp_chain.errors import ConfigurationError
    from kfp_chain.settings import Settings

    with pytest.raises(ConfigurationError, match="RUNCONFIGURATIONS"):
        Settings.from_env({"RUNCONFIGURATIONS": str(tmp_path / "nope")})
    with pytest.raises(ConfigurationError, match="RUNCONFIGURATIONS is not set"):
        Settings.from_env({})
