"""`kfp-chain explain`: the function's own plan, dry, with the ledger's memory of what already ran."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from kfp_fakes.kfp import FakeKfp

from tests.builders import binary_event, event_data
from tests.cli.support import EVENT, EXAMPLES_RC, PROBLEMS, TRAINING_RC, Cli, assert_golden
from tests.support import FunctionFactory


def test_explain_an_rc_with_an_artifact_shows_the_run_and_its_resolved_parameters(cli: Cli) -> None:
    result = cli(
        "explain", EXAMPLES_RC, "--artifact", "examples=gs://penguins/run-7/examples", "--run-id", "run-7"
    )

    assert result.exit_code == 0, result.output
    assert_golden("explain_seed.txt", result.output)


def test_explain_an_rc_without_artifacts_uses_its_declared_outputs_as_placeholders(cli: Cli) -> None:
    result = cli("explain", EXAMPLES_RC)

    assert result.exit_code == 0, result.output
    assert_golden("explain_placeholders.txt", result.output)


def test_explain_a_structured_cloudevent_file_as_json(cli: Cli) -> None:
    result = cli("explain", str(EVENT), "--output", "json")

    assert result.exit_code == 0, result.output
    assert_golden("explain_event.json", result.output)
    body = json.loads(result.output)
    assert body["dependents"][0]["parameters"]["examples_location"] == "gs://penguins/run-42/examples"


def test_explain_names_the_missing_artifact_of_a_dependent_that_would_not_start(cli: Cli) -> None:
    result = cli("explain", TRAINING_RC, "--artifact", "model=gs://m/1", "--run-id", "t-1", folder=PROBLEMS)

    assert result.exit_code == 0, result.output
    assert_golden("explain_skipped.txt", result.output)


def test_explain_shows_the_refused_edge_of_a_cycle(cli: Cli) -> None:
    forward = cli("explain", "loop/ping", "--run-id", "p-1", "-o", "json", folder=PROBLEMS)
    backward = cli("explain", "loop/pong", "--run-id", "q-1", folder=PROBLEMS)

    assert [d["outcome"] for d in json.loads(forward.output)["dependents"]] == ["would-start"]
    assert backward.exit_code == 0, backward.output
    assert_golden("explain_cycle.txt", backward.output)


def test_explain_of_a_failed_run_starts_nothing(cli: Cli) -> None:
    result = cli("explain", EXAMPLES_RC, "--status", "failed", "-o", "json")

    body = json.loads(result.output)
    assert (body["note"], body["dependents"]) == ("status failed: nothing starts", [])


def test_explain_of_an_rc_nothing_depends_on_says_so(cli: Cli) -> None:
    result = cli("explain", TRAINING_RC)

    assert result.exit_code == 0
    assert result.output.rstrip().endswith("nothing depends on this RunConfiguration")


def test_explain_refuses_a_malformed_artifact_and_a_malformed_name(cli: Cli) -> None:
    assert cli("explain", EXAMPLES_RC, "--artifact", "no-equals-sign").exit_code == 2
    assert cli("explain", "not a name/x/y").exit_code == 2


def test_explain_writes_no_state_store(cli: Cli, state_db: Path) -> None:
    cli("explain", EXAMPLES_RC, "--artifact", "examples=gs://x")
    cli("validate")
    cli("graph")

    assert not state_db.exists()
    assert not state_db.parent.exists()


def test_explain_after_the_function_ran_reports_the_trigger_as_already_done(
    cli: Cli, function_factory: FunctionFactory, kfp: FakeKfp, state_db: Path, tmp_path: Path
) -> None:
    from tests.cli.support import SEED

    function = function_factory(
        RUNCONFIGURATIONS=str(SEED), KFP_HOST=kfp.url, KFP_CHAIN_STATE_DB=str(state_db), KFP_CHAIN_HOLDER="t"
    )
    status, body = function.post(binary_event(event_data(run_id="run-1")))
    assert (status, body["dependents"][0]["outcome"]) == (200, "started")
    kfp_run_id = body["dependents"][0]["run_id"]
    rows_before = _claims(state_db)

    same = json.loads(
        cli("explain", EXAMPLES_RC, "--run-id", "run-1", "-a", "examples=gs://x", "-o", "json").output
    )
    other = json.loads(
        cli("explain", EXAMPLES_RC, "--run-id", "run-2", "-a", "examples=gs://x", "-o", "json").output
    )

    assert same["dependents"] == [
        {
            "dependent": TRAINING_RC,
            "outcome": "duplicate",
            "reason": "already-triggered",
            "detail": f"run run-1 of {EXAMPLES_RC} already triggered it",
            "displayName": f"{TRAINING_RC} <- {EXAMPLES_RC} run run-1",
            "parameters": {"examples_location": "gs://x", "epochs": "10"},
            "kfpRunId": kfp_run_id,
        }
    ]
    assert other["dependents"][0]["outcome"] == "would-start"
    assert _claims(state_db) == rows_before
    assert len(kfp.runs()) == 1


def _claims(state_db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(state_db) as db:
        return db.execute("SELECT * FROM claims ORDER BY dependent, upstream, run_id").fetchall()


def test_explain_skips_an_invalid_dependent_as_the_function_does(cli: Cli) -> None:
    result = cli("explain", EXAMPLES_RC, "-a", "examples=gs://x", "-o", "json", folder=PROBLEMS)

    decisions = json.loads(result.output)["dependents"]
    outcomes = sorted((d["dependent"], d["outcome"], d.get("reason")) for d in decisions)
    assert outcomes == [
        (TRAINING_RC, "would-start", None),
        ("dependant-namespace/threshold-rc", "skipped", "invalid-runconfiguration"),
    ]
