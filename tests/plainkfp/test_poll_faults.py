"""A run seen twice starts each dependent once; a run that cannot be handled yet holds the mark.

Overlapping passes and two pollers at once (threads of one process, and two processes), a poller
SIGKILLed while it starts a run, a dependent that cannot start for a while, and a run whose
`finished_at` KFP learned late: all through the real wiring (`build_poll_app`, the CLI) on the fakes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kfp_chain.ownership import marker_line
from kfp_chain.runconfiguration import RcKey
from kfp_chain.service.app import build_poll_app, poll_pass
from kfp_chain.settings import Settings

from tests.builders import rc
from tests.support import ROOT, eventually, installed_cli, run_concurrently

MARK = ("kfp-chain", "kfp-chain-poll-mark", "configmaps")


def seed(kube, kfp, runs: int) -> list[str]:
    """a/up -> a/down, and `runs` finished runs of a/up started by kfp-chain."""
    kube.put(rc("a", "up", pipeline="upstream"))
    kube.put(rc("a", "down", triggers=["up"]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    ids = [kfp.add_run(f"up-{i}", pid, vid, description=marker_line(RcKey("a", "up"))) for i in range(runs)]
    for run_id in ids:
        kfp.finish_run(run_id, "SUCCEEDED")
    return ids


def started(kfp) -> Counter[str]:
    return Counter(r["display_name"] for r in kfp.runs() if r["display_name"].startswith("a/down <- "))


def stored_mark(kube) -> dict:
    return json.loads(kube.get(*MARK)["data"]["mark.json"])


def test_two_pollers_in_threads_start_each_dependent_once(cluster_env, kube, kfp, monkeypatch):
    ids = seed(kube, kfp, 12)
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    polls = [build_poll_app(Settings.from_env()) for _ in range(2)]
    turn = iter(polls)

    answers = run_concurrently(lambda: poll_pass(next(turn)), 2)
    after = [poll_pass(p) for p in polls]

    assert [status for status, _ in answers + after] == [200] * 4, answers
    assert started(kfp) == Counter({f"a/down <- a/up run {r}": 1 for r in ids})
    assert sum(body["started"] for _, body in answers) == 12
    assert all(body["results"] == {"already-handled": 12} for _, body in after), after
    assert {r for r, _ in stored_mark(kube)["handled"]} == set(ids)
    for poll in polls:
        poll.app.close()


def test_two_poller_processes_at_once_start_each_dependent_once(cluster_env, kube, kfp):
    ids = seed(kube, kfp, 12)

    results = run_concurrently(lambda: installed_cli(cluster_env, "poll", "-o", "json"), 2)

    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert started(kfp) == Counter({f"a/down <- a/up run {r}": 1 for r in ids})
    assert {r for r, _ in stored_mark(kube)["handled"]} == set(ids)


def test_a_poller_killed_while_it_starts_a_run_is_finished_by_the_next_pass_once(cluster_env, kube, kfp):
    ids = seed(kube, kfp, 3)
    env = {
        **os.environ,
        **cluster_env,
        "KFP_CHAIN_CLAIM_LEASE_SECONDS": "2",
        "KFP_CHAIN_REQUEST_TIMEOUT_SECONDS": "0.5",
    }
    held = kfp.faults.add(method="POST", path="/runs$", mode="hold", delay=30)
    script = Path(sys.executable).parent / "kfp-chain"
    poller = subprocess.Popen(
        [str(script), "poll"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert held.wait_arrived(1, timeout=60), "the poller never started a run"
        poller.send_signal(signal.SIGKILL)
        poller.wait(timeout=30)
    finally:
        held.release()
    assert eventually(lambda: len(kfp.runs()) == 4, timeout=10)  # the held create landed after the kill

    def all_handled() -> bool:
        status, body = poll_pass_cli(env)
        return status == 0 and "waiting" not in body["results"]

    assert eventually(all_handled, timeout=60)
    assert started(kfp) == Counter({f"a/down <- a/up run {r}": 1 for r in ids})


def poll_pass_cli(env: dict[str, str]) -> tuple[int, dict]:
    done = installed_cli(env, "poll", "-o", "json")
    return done.returncode, json.loads(done.stdout or "{}")


def test_a_dependent_that_cannot_start_holds_the_mark_until_it_can(poll_cli, kube, kfp):
    [run_id] = seed(kube, kfp, 1)
    kfp.faults.add(method="POST", path="/runs$", status=503, times=None)

    code, down = poll_cli()
    waiting = stored_mark(kube)
    kfp.faults.clear()
    healed_code, healed = poll_cli()
    _, quiet = poll_cli()

    assert code == 0 and down["results"] == {"waiting": 1} and down["started"] == 0, down
    assert [r for r, _ in waiting["waiting"]] == [run_id] and waiting["handled"] == []
    assert healed_code == 0 and healed["started"] == 1, healed
    assert quiet["results"] == {"already-handled": 1}
    assert started(kfp) == Counter({f"a/down <- a/up run {run_id}": 1})


def test_a_run_kfp_learns_late_is_handled_within_the_lookback(poll_cli, kube, kfp):
    [first] = seed(kube, kfp, 1)
    pid, (vid,) = kfp.add_pipeline("upstream-2")
    code, _ = poll_cli()
    late = kfp.add_run("late", pid, vid, description=marker_line(RcKey("a", "up")))
    too_late = kfp.add_run("too late", pid, vid, description=marker_line(RcKey("a", "up")))
    now = datetime.now(UTC)
    kfp.finish_run(late, "SUCCEEDED", finished_at=now - timedelta(seconds=600))
    kfp.finish_run(too_late, "SUCCEEDED", finished_at=now - timedelta(seconds=1200))

    again, body = poll_cli()

    assert code == again == 0
    assert body["results"] == {"already-handled": 1, "handled": 1}, body
    assert set(started(kfp)) == {f"a/down <- a/up run {first}", f"a/down <- a/up run {late}"}
    # handled later than `first`, but it finished earlier: latestRuns stays on the newer run
    assert kube.get("a", "up")["status"]["latestRuns"]["succeeded"]["providerId"] == first


def test_a_nudged_run_is_handled_at_once_and_the_next_pass_skips_it(cluster_env, kube, kfp, monkeypatch):
    [run_id] = seed(kube, kfp, 1)
    pid, (vid,) = kfp.add_pipeline("upstream-2")
    running = kfp.add_run("still running", pid, vid, description=marker_line(RcKey("a", "up")))
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    poll = build_poll_app(Settings.from_env())

    nudged = poll.poller.handle_run(run_id)
    again = poll.poller.handle_run(run_id)
    not_yet = poll.poller.handle_run(running)
    unknown = poll.poller.handle_run("00000000-0000-0000-0000-000000000000")
    _, passed = poll_pass(poll)
    poll.app.close()

    assert nudged.started == 1 and nudged.results == {"handled": 1}, nudged
    assert again.results == {"already-handled": 1}
    assert [r["result"] for r in not_yet.runs + unknown.runs] == ["not-finished", "unknown-run"]
    assert passed["results"] == {"already-handled": 1}, passed
    assert started(kfp) == Counter({f"a/down <- a/up run {run_id}": 1})


def test_a_run_still_waiting_past_the_give_up_is_reported_and_the_mark_moves_past_it(poll_cli, kube, kfp):
    # A run whose dependent never starts (or whose outputs ML Metadata never records) would hold the mark,
    # and make every pass list further back, for ever. Past KFP_CHAIN_POLL_GIVE_UP_SECONDS it is given up.
    kube.put(rc("a", "up", pipeline="upstream"))
    kube.put(rc("a", "down", triggers=["up"]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    old, recent = (
        kfp.add_run(n, pid, vid, description=marker_line(RcKey("a", "up"))) for n in ("old", "recent")
    )
    now = datetime.now(UTC)
    kfp.finish_run(old, "SUCCEEDED", finished_at=now - timedelta(seconds=600))
    kfp.finish_run(recent, "SUCCEEDED", finished_at=now - timedelta(seconds=60))
    kfp.faults.add(method="POST", path="/runs$", status=503, times=None)  # no dependent can start

    code, down = poll_cli(KFP_CHAIN_POLL_GIVE_UP_SECONDS="300")
    mark = stored_mark(kube)
    kfp.faults.clear()
    healed_code, healed = poll_cli(KFP_CHAIN_POLL_GIVE_UP_SECONDS="300")

    assert code == 0 and down["results"] == {"given-up": 1, "waiting": 1}, down
    given_up = {r["runId"]: r for r in down["runs"]}[old]
    assert (given_up["result"], given_up["reason"]) == ("given-up", "dependent-retry")
    assert [r for r, _ in mark["handled"]] == [old] and [r for r, _ in mark["waiting"]] == [recent]
    assert healed_code == 0 and healed["results"] == {"already-handled": 1, "handled": 1}, healed
    assert started(kfp) == Counter({f"a/down <- a/up run {recent}": 1})
