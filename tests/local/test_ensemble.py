"""The ensemble (fan-in) example end to end through the real function: `make demo-ensemble`.

Two rounds, as the demo plays them: examples -> trainers A and B -> ensemble, then the examples
again, so both trainers retrain one after the other. With `kfp-chain.io/trigger-policy: all` each
examples run yields exactly one ensemble run, on that round's examples and both of that round's
models; the default `any` would start a second one in round 2, pairing trainer B's new model with
trainer A's old one. The assertions read the state store and the artifacts themselves rather than
trusting the demo's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from kfp_chain.adapters.local.runs import LocalRun, list_runs
from kfp_chain.demo import ensemble as demo_ensemble

from tests.local.support import ROOT

EXAMPLES_RC = "base-namespace/penguin-pipeline-examples-rc"
TRAINER_A_RC = "dependant-namespace/penguin-pipeline-training-rc"
TRAINER_B_RC = "dependant-namespace/penguin-pipeline-training-logreg-rc"
ENSEMBLE_RC = "dependant-namespace/penguin-pipeline-ensemble-rc"


def _artifact(run: LocalRun, name: str) -> str:
    return next(a.location for a in run.artifacts if a.name == name)


def _scores(run: LocalRun) -> dict[str, object]:
    location = urlparse(_artifact(run, "metrics"))
    assert location.scheme == "file", location
    scores = json.loads(Path(unquote(location.path)).read_text())
    assert isinstance(scores, dict)
    return scores


@pytest.mark.slow
def test_each_examples_run_yields_exactly_one_ensemble_on_both_fresh_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pipelines_dir: Path
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KFP_HOST", raising=False)
    state = tmp_path / "state"

    code = demo_ensemble.main(
        [
            "--pipelines-dir",
            str(pipelines_dir),
            "--state-dir",
            str(state),
            "--rounds",
            "2",
            "--timeout",
            "150",
        ]
    )

    runs = list_runs(state / "state.db")
    by_rc = {
        rc: [r for r in runs if r.runconfiguration == rc] for rc in (EXAMPLES_RC, TRAINER_A_RC, TRAINER_B_RC)
    }
    ensembles = [r for r in runs if r.runconfiguration == ENSEMBLE_RC]
    assert {rc: [r.status for r in found] for rc, found in by_rc.items()} == {
        rc: ["succeeded", "succeeded"] for rc in by_rc
    }
    assert len(ensembles) == 2, [r.parameters for r in ensembles]
    for examples in by_rc[EXAMPLES_RC]:
        source = _artifact(examples, "examples")
        (a,) = [r for r in by_rc[TRAINER_A_RC] if r.parameters == {"examples_location": source}]
        (b,) = [r for r in by_rc[TRAINER_B_RC] if r.parameters == {"examples_location": source}]
        this_round = [r for r in ensembles if r.parameters["examples_location"] == source]
        assert len(this_round) == 1, f"one ensemble run per examples run, got {len(this_round)}"
        (ensemble,) = this_round
        assert ensemble.status == "succeeded", ensemble.error
        assert ensemble.parameters == {
            "examples_location": source,
            "model_a_location": _artifact(a, "model"),
            "model_b_location": _artifact(b, "model"),
        }
        scores = _scores(ensemble)
        for key in ("accuracy", "model_a_accuracy", "model_b_accuracy"):
            assert 0.7 <= float(scores[key]) <= 1.0, (key, scores)  # type: ignore[arg-type]
        # The same eval split: the same rows, and each trainer's own report is the ensemble's recomputation.
        assert _scores(a)["eval_split"] == _scores(b)["eval_split"] == scores["eval_split"]
        assert scores["model_a_accuracy"] == pytest.approx(_scores(a)["accuracy"], abs=1e-9)
        assert scores["model_b_accuracy"] == pytest.approx(_scores(b)["accuracy"], abs=1e-9)
        assert (scores["model_a"], scores["model_b"]) == ("RandomForestClassifier", "LogisticRegression")
    assert all(r.event_status == 200 for r in runs), "every run reported its completion to the function"
    assert code == 0
