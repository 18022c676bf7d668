"""`make demo-ensemble`'s verdict on one round (`kfp_chain.demo.ensemble.judge`), on hand-made runs.

The real runs are in test_ensemble.py; here each way a round can go wrong is staged as rows of the
`local_runs` table would read, with real metrics files, to show the verdict names it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from kfp_chain.adapters.local.runs import LocalRun
from kfp_chain.demo.ensemble import judge
from kfp_chain.runconfiguration import Artifact

EXAMPLES_RC = "base-namespace/penguin-pipeline-examples-rc"
TRAINER_A_RC = "dependant-namespace/penguin-pipeline-training-rc"
TRAINER_B_RC = "dependant-namespace/penguin-pipeline-training-logreg-rc"
ENSEMBLE_RC = "dependant-namespace/penguin-pipeline-ensemble-rc"
SPLIT = "0123456789abcdef"


def _run(
    rc: str, run_id: str, artifacts: dict[str, str], parameters: dict[str, str] | None = None
) -> LocalRun:
    return LocalRun(
        run_id=run_id,
        display_name=f"{rc} {run_id}",
        runconfiguration=rc,
        pipeline="p",
        parameters=parameters or {},
        status="succeeded",
        created_at="2026-11-26T07:00:00.000Z",
        started_at=None,
        finished_at=None,
        run_dir="/nowhere",
        artifacts=tuple(Artifact(name, location) for name, location in artifacts.items()),
        error=None,
        event_status=200,
    )


def _metrics(folder: Path, name: str, scores: dict[str, object]) -> str:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(scores))
    return path.as_uri()


@pytest.fixture
def good_round(tmp_path: Path) -> list[LocalRun]:
    examples = _run(EXAMPLES_RC, "e1", {"examples": "file:///e1/examples"})
    a = _run(
        TRAINER_A_RC,
        "a1",
        {
            "model": "file:///a1/model",
            "metrics": _metrics(tmp_path, "a1", {"accuracy": 0.975, "eval_split": SPLIT}),
        },
    )
    b = _run(
        TRAINER_B_RC,
        "b1",
        {
            "model": "file:///b1/model",
            "metrics": _metrics(tmp_path, "b1", {"accuracy": 1.0, "eval_split": SPLIT}),
        },
    )
    scores = {
        "accuracy": 0.9875,
        "model_a_accuracy": 0.975,
        "model_b_accuracy": 1.0,
        "eval_rows": 80,
        "model_a": "RandomForestClassifier",
        "model_b": "LogisticRegression",
        "eval_split": SPLIT,
    }
    ensemble = _run(
        ENSEMBLE_RC,
        "x1",
        {"metrics": _metrics(tmp_path, "x1", scores)},
        {
            "examples_location": "file:///e1/examples",
            "model_a_location": "file:///a1/model",
            "model_b_location": "file:///b1/model",
        },
    )
    return [examples, a, b, ensemble]


def test_a_round_with_one_ensemble_on_this_rounds_models_passes(good_round: list[LocalRun]) -> None:
    result = judge(good_round)

    assert result.ok, result.problems
    assert result.ensemble_runs == 1
    assert result.accuracies == {"A": 0.975, "B": 1.0, "ensemble": 0.9875}
    assert result.models == {"A": "RandomForestClassifier", "B": "LogisticRegression"}
    assert result.eval_rows == 80


def test_a_second_ensemble_run_fails_the_round(good_round: list[LocalRun]) -> None:
    extra = replace(good_round[-1], run_id="x2", display_name="second")

    result = judge([*good_round, extra])

    assert not result.ok
    assert result.ensemble_runs == 2
    assert "expected exactly one ensemble run, found 2" in result.problems


def test_no_ensemble_run_fails_the_round(good_round: list[LocalRun]) -> None:
    result = judge(good_round[:-1])

    assert (result.ok, result.ensemble_runs) == (False, 0)


def test_an_ensemble_on_a_stale_model_fails_the_round(good_round: list[LocalRun]) -> None:
    # What policy `any` does on a retrain: the first fresh model is paired with the other's old one.
    ensemble = good_round[-1]
    stale = replace(ensemble, parameters={**ensemble.parameters, "model_b_location": "file:///b0/model"})

    result = judge([*good_round[:-1], stale])

    assert not result.ok
    assert any("model_b_location is file:///b0/model" in p for p in result.problems), result.problems


def _with_metrics(run: LocalRun, folder: Path, scores: dict[str, object]) -> LocalRun:
    metrics = Artifact("metrics", _metrics(folder, f"{run.run_id}-changed", scores))
    return replace(run, artifacts=(*[a for a in run.artifacts if a.name != "metrics"], metrics))


def test_a_trainer_scored_on_other_rows_fails_the_round(good_round: list[LocalRun], tmp_path: Path) -> None:
    # Same accuracy, other rows: on a small eval split two splits can score alike.
    other = _with_metrics(good_round[2], tmp_path, {"accuracy": 1.0, "eval_split": "fedcba9876543210"})

    result = judge([good_round[0], good_round[1], other, good_round[3]])

    assert not result.ok
    assert result.problems == (
        f"trainer B scored eval rows fedcba9876543210, the ensemble {SPLIT}: the splits differ",
    )


def test_a_trainer_without_its_split_digest_fails_the_round(
    good_round: list[LocalRun], tmp_path: Path
) -> None:
    unknown = _with_metrics(good_round[1], tmp_path, {"accuracy": 0.975})

    result = judge([good_round[0], unknown, good_round[2], good_round[3]])

    assert not result.ok
    assert any("trainer A scored eval rows None" in p for p in result.problems), result.problems


def test_a_trainer_whose_accuracy_the_ensemble_cannot_reproduce_fails_the_round(
    good_round: list[LocalRun], tmp_path: Path
) -> None:
    other = _with_metrics(good_round[2], tmp_path, {"accuracy": 0.96, "eval_split": SPLIT})

    result = judge([good_round[0], good_round[1], other, good_round[3]])

    assert not result.ok
    assert any("trainer B reported accuracy 0.9600" in p and "splits differ" in p for p in result.problems)


def test_a_failed_ensemble_run_fails_the_round(good_round: list[LocalRun]) -> None:
    failed = replace(good_round[-1], status="failed", error="ValueError: the models disagree")

    result = judge([*good_round[:-1], failed])

    assert not result.ok
    assert result.problems == ("the ensemble run failed: ValueError: the models disagree",)
