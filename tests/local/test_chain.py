"""The whole local chain through the real function: examples -> event -> training, exactly once.

Driven through `kfp_chain.demo.chain`, which starts `functions/main.py` with functions-framework as a
subprocess (as `make demo` and `make serve` do); the assertions read the state store and the
artifacts on disk themselves rather than trusting the demo's verdict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from kfp_chain.adapters.folder.ledger import SqliteLedger
from kfp_chain.adapters.local.runs import list_runs
from kfp_chain.demo import chain as demo

from tests.local.support import ROOT

EXAMPLES_RC = "base-namespace/penguin-pipeline-examples-rc"
TRAINING_RC = "dependant-namespace/penguin-pipeline-training-rc"


def _file(location: str) -> Path:
    parsed = urlparse(location)
    assert parsed.scheme == "file", location
    return Path(unquote(parsed.path))


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KFP_HOST", raising=False)
    return tmp_path


@pytest.mark.slow
def test_a_succeeded_examples_run_trains_exactly_once(in_repo: Path, pipelines_dir: Path) -> None:
    state = in_repo / "state"
    code = demo.main(["--pipelines-dir", str(pipelines_dir), "--state-dir", str(state), "--timeout", "90"])

    runs = list_runs(state / "state.db")
    examples = [r for r in runs if r.runconfiguration == EXAMPLES_RC]
    training = [r for r in runs if r.runconfiguration == TRAINING_RC]
    assert [r.status for r in examples] == ["succeeded"]
    assert len(training) == 1, f"exactly one training run, got {[r.display_name for r in training]}"
    (run,) = training
    assert run.status == "succeeded", run.error
    (source,) = examples[0].artifacts
    assert run.parameters == {"examples_location": source.location}
    # The exactly-once ledger links the training run to the examples run that triggered it.
    triggers = SqliteLedger(state / "state.db").triggers()
    assert [(t["dependent"], t["upstream"], t["runId"], t["kfpRunId"], t["done"]) for t in triggers] == [
        (TRAINING_RC, EXAMPLES_RC, examples[0].run_id, run.run_id, 1)
    ]
    artifacts = {a.name: _file(a.location) for a in run.artifacts}
    assert set(artifacts) == {"model", "metrics"}
    assert artifacts["model"].stat().st_size > 0
    accuracy = json.loads(artifacts["metrics"].read_text())["accuracy"]
    assert 0.8 <= accuracy <= 1.0
    assert all(r.event_status == 200 for r in runs), "every run reported its completion to the function"
    assert code == 0


@pytest.mark.slow
def test_a_failed_examples_run_starts_no_training(in_repo: Path, pipelines_dir: Path) -> None:
    # The examples RunConfiguration, pointed at a file that does not exist: its run fails for real.
    resources = in_repo / "resources"
    shutil.copytree(ROOT / "examples" / "resources", resources)
    rc_file = resources / "runconfiguration_examples.yaml"
    rc = yaml.safe_load(rc_file.read_text())
    rc["spec"]["run"]["pipeline"] = "penguin-pipeline-training"
    rc["spec"]["run"]["parameters"] = [
        {"name": "examples_location", "value": (in_repo / "missing.csv").as_uri()}
    ]
    rc_file.write_text(yaml.safe_dump(rc))
    state = in_repo / "state"

    code = demo.main(
        ["--pipelines-dir", str(pipelines_dir), "--resources", str(resources), "--state-dir", str(state)]
    )

    runs = list_runs(state / "state.db")
    assert [(r.runconfiguration, r.status, r.event_status) for r in runs] == [(EXAMPLES_RC, "failed", 200)]
    assert "missing.csv" in (Path(runs[0].run_dir) / "run.log").read_text()
    assert code == 1
