"""Schedules become KFP recurring runs: created, replaced on an edit, deleted with their entry.

A reconcile pass with KFP_CHAIN_SCHEDULES=true keeps one recurring run per `triggers.schedules`
entry in the KFP fake, each marked with its RunConfiguration; recurring runs nobody marked are
never touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.builders import ref, succeeded
from tests.plainkfp.on_kfp import apply_examples, cron, kfp_env, owned_by, reconcile, scheduled

__all__ = ["kfp_env", "reconcile"]  # fixtures this file uses

EXAMPLES = "base-namespace/penguin-pipeline-examples-rc"


def test_the_seed_tutorial_gets_one_recurring_run_firing_hourly_at_minute_0(kube, kfp, reconcile):
    apply_examples(kube)

    code, body = reconcile()
    again, second = reconcile()

    assert code == 0 and body["schedules"]["created"] == 1, body
    [recurring] = kfp.recurring_runs()
    assert recurring["trigger"] == {
        "cron_schedule": {
            "cron": "0 0 * * * *",
            "start_time": "2024-01-01T00:00:00Z",
            "end_time": "2030-12-31T23:59:59Z",
        }
    }
    assert recurring["status"] == "ENABLED" and recurring["mode"] == "ENABLE"
    assert recurring["no_catchup"] is True and recurring["max_concurrency"] == "1"
    assert recurring["description"].startswith(f"kfp-chain.io/runconfiguration: {EXAMPLES}\n")
    [examples] = [p for p in kfp._pipelines.values() if p["display_name"] == "penguin-pipeline-examples"]
    assert recurring["pipeline_version_reference"] == {
        "pipeline_id": examples["pipeline_id"]
    }  # latest at each firing
    assert again == 0
    assert {k: second["schedules"][k] for k in ("inStep", "created", "enabled", "deleted")} == {
        "inStep": 1,
        "created": 0,
        "enabled": 0,
        "deleted": 0,
    }
    assert kfp.recurring_runs() == [recurring]


def test_a_run_the_recurring_run_starts_names_it_and_runs_the_latest_version(kube, kfp, reconcile):
    apply_examples(kube)
    reconcile()
    [recurring] = kfp.recurring_runs()
    [examples] = [p for p in kfp._pipelines.values() if p["display_name"] == "penguin-pipeline-examples"]
    newer = kfp.add_version(examples["pipeline_id"], "v2")

    run = kfp.fire(recurring["recurring_run_id"])

    assert run["recurring_run_id"] == recurring["recurring_run_id"]
    assert run["pipeline_version_reference"]["pipeline_version_id"] == newer
    assert run["description"] == ""  # KFP gives spawned runs none: the poll reads the recurring run's


def test_editing_the_cron_replaces_the_recurring_run_starting_no_earlier_than_the_edit(kube, kfp, reconcile):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *", start="2024-01-01T00:00:00Z")))
    reconcile()
    [old] = kfp.recurring_runs()
    kube.put(scheduled("a", "nightly", cron("30 2 * * *", start="2024-01-01T00:00:00Z")))
    before = datetime.now(UTC).replace(microsecond=0)

    code, body = reconcile()

    [new] = kfp.recurring_runs()
    assert code == 0 and body["schedules"] | {"failed": []} == body["schedules"], body
    assert new["recurring_run_id"] != old["recurring_run_id"]
    assert new["trigger"]["cron_schedule"]["cron"] == "0 30 2 * * *"
    assert new["status"] == "ENABLED"
    assert kfp.most_enabled_at_once("kfp-chain.io/runconfiguration: a/nightly") == 1
    # the old one already fired the last tick: the new one must not fire it again at once
    assert datetime.fromisoformat(new["trigger"]["cron_schedule"]["start_time"]) >= before


def test_editing_parameters_or_pinning_a_version_replaces_it(kube, kfp, reconcile):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *"), parameters=[{"name": "lr", "value": "0.1"}]))
    reconcile()
    [first] = kfp.recurring_runs()
    kube.put(scheduled("a", "nightly", cron("0 2 * * *"), parameters=[{"name": "lr", "value": "0.2"}]))
    reconcile()
    [second] = kfp.recurring_runs()
    kube.put(
        scheduled(
            "a", "nightly", cron("0 2 * * *"), pipeline="penguin-pipeline-training:v1",
            parameters=[{"name": "lr", "value": "0.2"}],
        )
    )  # fmt: skip
    reconcile()
    [third] = kfp.recurring_runs()

    assert first["runtime_config"]["parameters"] == {"lr": "0.1"}
    assert second["runtime_config"]["parameters"] == {"lr": "0.2"}
    assert len({first["recurring_run_id"], second["recurring_run_id"], third["recurring_run_id"]}) == 3
    [training] = [p for p in kfp._pipelines.values() if p["display_name"] == "penguin-pipeline-training"]
    [v1] = [v for v in kfp._versions[training["pipeline_id"]].values() if v["display_name"] == "v1"]
    assert third["pipeline_version_reference"] == {
        "pipeline_id": training["pipeline_id"],
        "pipeline_version_id": v1["pipeline_version_id"],
    }


def test_a_value_from_an_upstream_is_resolved_and_a_new_upstream_success_replaces_it(kube, kfp, reconcile):
    kube.put(scheduled("a", "up", status=succeeded("r1", model="gs://b/r1/model")))
    kube.put(scheduled("a", "down", cron("0 * * * *"), parameters=[ref("up", "model", param="model")]))
    reconcile()
    [first] = owned_by(kfp, "a/down")
    kube.put(scheduled("a", "up", status=succeeded("r2", model="gs://b/r2/model")))

    reconcile()

    [second] = owned_by(kfp, "a/down")
    assert first["runtime_config"]["parameters"] == {"model": "gs://b/r1/model"}
    assert second["runtime_config"]["parameters"] == {"model": "gs://b/r2/model"}


def test_removing_an_entry_or_the_runconfiguration_deletes_its_recurring_runs(kube, kfp, reconcile):
    kube.put(scheduled("a", "twice", cron("0 2 * * *"), cron("0 14 * * *")))
    kube.put(scheduled("a", "gone", cron("0 3 * * *")))
    reconcile()
    assert len(owned_by(kfp, "a/twice")) == 2 and len(owned_by(kfp, "a/gone")) == 1
    kube.put(scheduled("a", "twice", cron("0 14 * * *")))
    kube.delete("a", "gone")

    code, body = reconcile()

    assert code == 0 and body["schedules"]["deleted"] == 2, body
    [left] = kfp.recurring_runs()
    assert left["trigger"]["cron_schedule"]["cron"] == "0 0 14 * * *"


def test_recurring_runs_kfp_chain_did_not_create_are_never_touched(kube, kfp, reconcile):
    [pipeline_id] = [p["pipeline_id"] for p in kfp._pipelines.values() if p["display_name"] == "pipe"]
    foreign = {
        "display_name": "someone's nightly",
        "description": "made by hand; mentions kfp-chain.io/runconfiguration only in passing",
        "pipeline_version_reference": {"pipeline_id": pipeline_id},
        "max_concurrency": "1",
        "mode": "ENABLE",
        "trigger": {"cron_schedule": {"cron": "0 0 1 * * *"}},
    }
    kfp.add_recurring_run(foreign)
    other_namespace = {
        **foreign,
        "description": "kfp-chain.io/runconfiguration: elsewhere/rc\nkfp-chain.io/schedule: 0",
    }
    kfp.add_recurring_run(other_namespace)
    kube.put(scheduled("a", "nightly", cron("0 2 * * *")))
    before = kfp.recurring_runs()

    reconcile(RUNCONFIGURATION_NAMESPACES="a")
    kube.delete("a", "nightly")
    reconcile(RUNCONFIGURATION_NAMESPACES="a")

    assert kfp.recurring_runs() == before


def test_schedules_stay_off_unless_asked(kube, kfp, reconcile):
    apply_examples(kube)

    code, body = reconcile(KFP_CHAIN_SCHEDULES="false")

    assert code == 0 and "schedules" not in body
    assert kfp.recurring_runs() == []


def test_a_runconfiguration_made_invalid_keeps_its_recurring_runs(kube, kfp, reconcile):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *")))
    reconcile()
    before = kfp.recurring_runs()
    broken = scheduled("a", "nightly", cron("0 2 * * *"))
    broken["spec"]["run"]["pipeline"] = 42  # the index skips it until it is fixed
    kube.put(broken, validate=False)

    code, body = reconcile()

    assert code == 0 and body["schedules"]["deleted"] == 0, body
    assert kfp.recurring_runs() == before


def test_schedules_without_a_kfp_stop_the_start_with_one_line(tmp_path):
    from kfp_chain.errors import ConfigurationError
    from kfp_chain.settings import Settings

    with pytest.raises(ConfigurationError, match="KFP_CHAIN_SCHEDULES=true needs KFP_HOST"):
        Settings.from_env({"RUNCONFIGURATIONS": str(tmp_path), "KFP_CHAIN_SCHEDULES": "true"})


def test_the_text_summary_says_what_the_schedules_pass_did(kube, kfp, kfp_env):
    from click.testing import CliRunner
    from kfp_chain.cli import main

    apply_examples(kube)

    result = CliRunner().invoke(main, ["reconcile"], env=kfp_env)

    assert result.exit_code == 0, result.output
    assert "schedules: 1 created, 0 deleted, 0 skipped, 0 failed; onChange: 0 started" in result.output
