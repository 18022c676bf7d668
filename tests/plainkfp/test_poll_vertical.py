"""The poll of plain KFP, end to end on the fakes: a run ends in KFP, one pass starts its dependents.

No kfp-operator and no event: the upstream's run is found by ListRuns, mapped to its
RunConfiguration by the marker kfp-chain wrote into its description, and handed to the chain,
which records `status.latestRuns.succeeded` and starts the dependent once.
"""

from __future__ import annotations

from kfp_chain.ownership import marker_line
from kfp_chain.runconfiguration import RcKey

from tests.builders import rc


def seed_chain(kube, kfp):
    kube.put(rc("a", "up", pipeline="upstream"))
    kube.put(rc("a", "down", triggers=["up"], parameters=[{"name": "mode", "value": "fast"}]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    return pid, vid


def test_a_marked_run_that_succeeds_starts_its_dependent_once(poll_cli, kube, kfp):
    pid, vid = seed_chain(kube, kfp)
    run_id = kfp.add_run("up-run", pid, vid, description=marker_line(RcKey("a", "up")))
    kfp.finish_run(run_id, "SUCCEEDED")

    code, first = poll_cli()
    again, second = poll_cli()

    assert code == 0, first
    assert first["started"] == 1 and first["results"] == {"handled": 1}, first
    [started] = kfp.runs_named(f"a/down <- a/up run {run_id}")
    assert started["runtime_config"]["parameters"] == {"mode": "fast"}
    assert kube.get("a", "up")["status"]["latestRuns"]["succeeded"]["providerId"] == run_id
    assert again == 0 and second["started"] == 0 and second["results"] == {"already-handled": 1}, second
    assert len(kfp.runs_named(f"a/down <- a/up run {run_id}")) == 1


def test_a_failed_run_and_a_run_of_nobody_start_nothing_and_are_counted(poll_cli, kube, kfp):
    pid, vid = seed_chain(kube, kfp)
    failed = kfp.add_run("up-run", pid, vid, description=marker_line(RcKey("a", "up")))
    stranger = kfp.add_run("notebook", pid, vid)
    kfp.finish_run(failed, "FAILED")
    kfp.finish_run(stranger, "SUCCEEDED")

    code, body = poll_cli()

    assert code == 0
    assert body["results"] == {"failed": 1, "skipped": 1} and body["skipped"] == {"unowned": 1}, body
    assert [r["display_name"] for r in kfp.runs()] == ["up-run", "notebook"]


def test_a_dry_run_maps_runs_and_writes_nothing(poll_cli, kube, kfp):
    pid, vid = seed_chain(kube, kfp)
    run_id = kfp.add_run("up-run", pid, vid, description=marker_line(RcKey("a", "up")))
    kfp.finish_run(run_id, "SUCCEEDED")

    code, body = poll_cli("--dry-run")

    assert code == 0
    assert [(r["runId"], r["runConfiguration"], r["rule"]) for r in body["runs"]] == [
        (run_id, "a/up", "marker")
    ]
    assert len(kfp.runs()) == 1 and kube.get("kfp-chain", "kfp-chain-poll-mark", "configmaps") is None
    assert "latestRuns" not in (kube.get("a", "up").get("status") or {})


def test_kfp_down_stops_the_pass_with_exit_1(poll_cli, kube, kfp):
    seed_chain(kube, kfp)
    kfp.faults.add(method="GET", path="/runs$", status=503, times=10)

    code, body = poll_cli()

    assert code == 1 and body["fault"], body
