"""Races between replicas that the soak suite found, each pinned down deterministically.

Both were bugs of the core, found by the soak suite and fixed: the loser of two concurrent
experiment creations took KFP's 409 as permanent and dropped its trigger; and a holder slower than
its lease could create after another replica had taken the claim over.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from kfp_chain.errors import ConfigurationError

from tests.conftest import binary_event, event_data, rc

KFP = "/apis/v2beta1"


def replicas(cluster_function: Any, count: int, **env: str) -> list[Any]:
    made = []
    for i in range(count):
        function = cluster_function(KFP_CHAIN_HOLDER=f"replica-{i}", **env)
        assert function.get("/healthz")[0] == 200  # built now, with this replica's settings
        function.module = sys.modules["main"]  # functions-framework loads a fresh `main` per app
        made.append(function)
    return made


def redeliver_until_acknowledged(function: Any, request: tuple[dict[str, str], bytes]) -> list[int]:
    client = function.flask.test_client()
    statuses: list[int] = []
    for _ in range(10):
        status = client.post("/", headers=request[0], data=request[1]).status_code
        statuses.append(status)
        if status < 500:
            break
    return statuses


def test_two_replicas_making_the_same_experiment_at_once_both_start_their_runs(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "one", triggers=["up"]))
    kube.put(rc("b", "two", triggers=["a/up"]))
    first, second = replicas(cluster_function, 2, KFP_CHAIN_RETRY_BUDGET_SECONDS="2")
    # Both look the experiment up before either creates it (as two pods on a first event would).
    kfp.faults.add(method="GET", path=f"{KFP}/experiments$", mode="delay", delay=0.3, times=2)
    barrier = threading.Barrier(2)
    results: dict[str, list[int]] = {}

    def deliver(function: Any, run_id: str) -> None:
        barrier.wait()
        results[run_id] = redeliver_until_acknowledged(
            function, binary_event(event_data("a/up", run_id=run_id))
        )

    threads = [threading.Thread(target=deliver, args=(f, r)) for f, r in ((first, "1"), (second, "2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert all(r[-1] == 200 for r in results.values()), results
    assert sorted(r["display_name"] for r in kfp.runs()) == [
        "a/one <- a/up run 1",
        "a/one <- a/up run 2",
        "b/two <- a/up run 1",
        "b/two <- a/up run 2",
    ]


def test_a_lease_that_cannot_outlast_a_create_is_refused_at_start_up(cluster_function, kube):
    # It was possible, and the soak found it: a holder slower than its lease was taken over and both
    # replicas created the run. The settings now refuse a lease shorter than one call + clock skew (the
    # claim is renewed right before the create), kfp_chain.delivery's first rule.
    with pytest.raises(ConfigurationError, match=r"claim lease 0\.5s is shorter than one call"):
        cluster_function(KFP_CHAIN_CLAIM_LEASE_SECONDS="0.5", KFP_CHAIN_RETRY_BUDGET_SECONDS="3")


def test_a_holder_paused_past_its_lease_does_not_create_after_a_takeover(cluster_function, kube, kfp):
    # No call can outlast the lease any more, but a process can still stall (GC, CPU starvation, a
    # frozen pod) between its lookup and its create. The stall is modelled by pausing the slow
    # replica's lookup; meanwhile the fast replica takes the expired claim over and creates the run.
    # The slow one renews its claim before creating, finds it taken, and creates nothing.
    kube.put(rc("a", "up"))
    kube.put(rc("a", "down", triggers=["up"]))
    kfp.add_experiment("Default")
    env = {
        "KFP_CHAIN_CLAIM_LEASE_SECONDS": "1.5",
        "KFP_CHAIN_RETRY_BUDGET_SECONDS": "0.3",
        "KFP_CHAIN_REQUEST_TIMEOUT_SECONDS": "0.2",
    }
    slow, fast = replicas(cluster_function, 2, **env)
    slow_chain = slow.module.get_app().chain  # this replica's own App
    lookup, paused = slow_chain.launcher.find_run, threading.Event()

    def stalled_lookup(display_name: str) -> str | None:
        found = lookup(display_name)
        paused.set()
        threading.Event().wait(2.0)  # the stall, past the 1.5 s lease
        return found

    slow_chain.launcher.find_run = stalled_lookup
    request = binary_event(event_data("a/up"))
    first = threading.Thread(target=redeliver_until_acknowledged, args=(slow, request))
    first.start()
    assert paused.wait(5)
    threading.Event().wait(1.6)  # the slow replica's claim has expired
    assert redeliver_until_acknowledged(fast, request)[-1] == 200
    first.join(30)

    assert len(kfp.runs_named("a/down <- a/up run 123")) == 1
