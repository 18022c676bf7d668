"""Schedules under races and failures: two passes at once, a pass killed halfway, bad entries.

Two reconcile replicas syncing one RunConfiguration at the same moment end with one recurring run,
and never two enabled; a pass that dies between its writes is finished by the next; a bad schedule
is a counted skip with one Warning Event, a finding in `validate`, and the others sync.
"""

from __future__ import annotations

import json
import threading

from click.testing import CliRunner
from kfp_chain.cli import main
from kfp_chain.service.app import reconcile_pass

from tests.plainkfp.on_kfp import cron, kfp_env, owned_by, reconcile, reconcile_apps, scheduled
from tests.support import run_concurrently

__all__ = ["kfp_env", "reconcile", "reconcile_apps"]  # fixtures this file uses

CREATE = r"/apis/v2beta1/recurringruns$"


def test_two_passes_at_once_end_with_one_enabled_recurring_run(kube, kfp, reconcile_apps):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *")))
    apps = [reconcile_apps(), reconcile_apps()]
    held = kfp.faults.add(method="POST", path=CREATE, mode="hold", times=2, delay=30)
    arrived: list[bool] = []

    def both_create() -> None:
        arrived.append(held.wait_arrived(2, timeout=30))  # both listed none and sent a create
        held.release()

    releaser = threading.Thread(target=both_create)
    releaser.start()
    results = run_concurrently(lambda: reconcile_pass(apps.pop()), workers=2)
    releaser.join(timeout=30)

    assert arrived == [True]

    assert [status for status, _ in results] == [200, 200], results
    assert sum(body["schedules"]["created"] for _, body in results) == 2  # the race happened
    [kept] = kfp.recurring_runs()
    assert kept["status"] == "ENABLED"
    assert kfp.most_enabled_at_once("kfp-chain.io/runconfiguration: a/nightly") == 1
    creates = [r for r in kfp.requests if r.method == "POST" and r.path.endswith("/recurringruns")]
    assert len(creates) == 2


def test_a_pass_that_dies_before_creating_the_replacement_is_finished_by_the_next(kube, kfp, reconcile):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *")))
    reconcile()
    [old] = kfp.recurring_runs()
    kube.put(scheduled("a", "nightly", cron("0 3 * * *")))
    kfp.faults.add(method="POST", path=CREATE, status=503, times=None)

    code, body = reconcile()

    assert code == 0 and body["schedules"]["failed"], body
    [still] = kfp.recurring_runs()
    assert still["recurring_run_id"] == old["recurring_run_id"] and still["status"] == "DISABLED"
    kfp.faults.clear()

    reconcile()

    [new] = kfp.recurring_runs()
    assert new["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *" and new["status"] == "ENABLED"
    assert kfp.most_enabled_at_once("kfp-chain.io/runconfiguration: a/nightly") == 1


def test_a_create_whose_answer_was_lost_is_kept_not_repeated(kube, kfp, reconcile):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *")))
    kfp.faults.add(method="POST", path=CREATE, mode="after", status=0)  # stored, answer lost

    first, _ = reconcile()
    reconcile()

    [made] = kfp.recurring_runs()
    assert first == 0 and made["status"] == "ENABLED"
    creates = [r for r in kfp.requests if r.method == "POST" and r.path.endswith("/recurringruns")]
    assert len(creates) == 1


def test_a_pass_that_dies_before_deleting_the_old_one_is_finished_by_the_next(kube, kfp, reconcile):
    kube.put(scheduled("a", "nightly", cron("0 2 * * *")))
    reconcile()
    kube.put(scheduled("a", "nightly", cron("0 3 * * *")))
    kfp.faults.add(method="DELETE", path=r"/recurringruns/", status=503, times=None)

    reconcile()
    enabled = [r for r in kfp.recurring_runs() if r["status"] == "ENABLED"]
    kfp.faults.clear()
    reconcile()

    assert [r["trigger"]["cron_schedule"]["cron"] for r in enabled] == ["0 0 3 * * *"]
    [left] = kfp.recurring_runs()
    assert left["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"


BAD = {
    "cron": scheduled("a", "bad-cron", cron("@hourly")),
    "window": scheduled("a", "bad-window", cron("0 2 * * *", "2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z")),
    "sunday": scheduled("a", "sunday-seven", cron("0 2 * * 7")),
    "pipeline": scheduled("a", "no-pipeline", cron("0 2 * * *"), pipeline="nobody-uploaded-this"),
}


def test_bad_schedules_are_skipped_and_told_once_while_the_others_sync(kube, kfp, reconcile_apps):
    for obj in BAD.values():
        kube.put(obj)
    kube.put(scheduled("a", "good", cron("0 2 * * *")))
    app = reconcile_apps()  # the on_reconcile function's App: one per process, a pass per tick

    code, body = reconcile_pass(app)
    reconcile_pass(app)

    assert code == 200, body
    assert len(owned_by(kfp, "a/good")) == 1 and len(kfp.recurring_runs()) == 1
    skipped = {s["runConfiguration"]: s["reason"] for s in body["schedules"]["skipped"]}
    assert skipped == {
        "a/bad-cron": "bad-schedule",
        "a/bad-window": "bad-schedule",
        "a/sunday-seven": "bad-schedule",
        "a/no-pipeline": "unknown-pipeline",
    }
    warnings = [e for e in kube.events("a") if e["reason"] == "ScheduleSkipped"]
    assert sorted(e["involvedObject"]["name"] for e in warnings) == sorted(k.split("/")[1] for k in skipped)
    [sunday] = [e for e in warnings if e["involvedObject"]["name"] == "sunday-seven"]
    assert "write 0 (or sun) for Sunday" in sunday["message"] and sunday["type"] == "Warning"


def test_validate_finds_the_schedules_kfp_cannot_run(kube, kfp, kfp_env):
    for obj in BAD.values():
        kube.put(obj)

    result = CliRunner().invoke(main, ["validate", "-o", "json"], env=kfp_env)

    findings = {(f["subject"], f["code"]) for f in json.loads(result.stdout)["findings"]}
    assert result.exit_code == 1
    assert {
        ("a/bad-cron", "bad-schedule"),
        ("a/bad-window", "bad-schedule"),
        ("a/sunday-seven", "bad-schedule"),
        ("a/no-pipeline", "unknown-pipeline"),
    } <= findings
