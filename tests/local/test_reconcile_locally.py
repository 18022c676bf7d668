"""Reconcile on a laptop: the folder source, the SQLite ledger and KFP's local runner.

The examples run's run-completion event is lost (its sink is down past every retry), as a NATS or
broker outage would lose it in a cluster. The local runner recorded the success itself (as
kfp-operator's controller does), so `kfp-chain reconcile` finds the training trigger pending and
starts it once, with the examples run's artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kfp_chain.adapters.local.runs import list_runs
from kfp_chain.adapters.ports import Trigger
from kfp_chain.runconfiguration import RcKey

from tests.local.support import ROOT

EXAMPLES_RC = "base-namespace/penguin-pipeline-examples-rc"
TRAINING_RC = "dependant-namespace/penguin-pipeline-training-rc"


def kfp_chain(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "kfp-chain"
    return subprocess.run(
        [str(script), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )


@pytest.mark.slow
def test_a_lost_examples_event_still_trains_once_after_reconcile(tmp_path: Path, pipelines_dir: Path) -> None:
    resources = tmp_path / "resources"
    shutil.copytree(ROOT / "examples" / "resources", resources)
    env = {k: v for k, v in os.environ.items() if k != "KFP_HOST"} | {
        "HOME": str(tmp_path / "home"),
        "RUNCONFIGURATIONS": str(resources),
        "KFP_CHAIN_LOCAL_DIR": str(tmp_path / "local"),
        "KFP_CHAIN_PIPELINES_DIR": str(pipelines_dir),
        "KFP_CHAIN_EVENT_SINK": "http://127.0.0.1:9/",  # nothing listens: the event is lost
        "LOG_FORMAT": "text",
    }
    state = tmp_path / "local" / "state.db"

    examples = kfp_chain(env, "run", EXAMPLES_RC)
    assert examples.returncode == 1, examples.stderr  # the run finished; its event reached nobody
    assert "http://127.0.0.1:9/" in examples.stderr and "make serve" in examples.stderr
    pending = kfp_chain(env, "reconcile", "--dry-run", "-o", "json")
    first = kfp_chain(env, "reconcile", "-o", "json")
    second = kfp_chain(env, "reconcile", "-o", "json")

    assert pending.returncode == 0, pending.stderr
    [trigger] = json.loads(pending.stdout)["pending"]
    assert (trigger["dependent"], trigger["upstream"], trigger["would"]) == (
        TRAINING_RC,
        EXAMPLES_RC,
        "would-start",
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["started"] == 1
    assert second.returncode == 0 and json.loads(second.stdout)["pending"] == 0
    runs = list_runs(state)
    (source,) = [r for r in runs if r.runconfiguration == EXAMPLES_RC]
    assert source.status == "succeeded" and source.event_status is None, (
        "the examples event was never delivered"
    )
    (training,) = [r for r in runs if r.runconfiguration == TRAINING_RC]
    assert training.status == "succeeded", training.error
    assert training.parameters == {"examples_location": source.artifacts[0].location}
    trigger_of = Trigger(RcKey.parse(TRAINING_RC), RcKey.parse(EXAMPLES_RC), source.run_id)
    assert training.display_name == trigger_of.display_name
