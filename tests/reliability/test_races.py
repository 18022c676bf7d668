"""Races between replicas that the soak suite found, each pinned down deterministically.

Both were bugs of the core, found by the soak suite and fixed: the loser of two concurrent
experiment creations took KFP's 409 as permanent and dropped its trigger; and a holder slower than
its lease could create after another replica had taken the claim over.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest
from kfp_chain.errors import ConfigurationError

from tests.builders import binary_event, event_data, rc

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
    for attempt in range(10):
        status = client.post("/", headers=request[0], data=request[1]).status_code
        statuses.append(status)
        if status < 500:
            break
        time.sleep(min(0.05 * 2**attempt, 1.0))  # the broker's backoff: a held claim is answered at once
    return statuses


def test_two_replicas_making_the_same_experiment_at_once_both_start_their_runs(
    cluster_function, kube, kfp, capsys
):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "one", triggers=["up"]))
    kube.put(rc("b", "two", triggers=["a/up"]))
    first, second = replicas(cluster_function, 2, KFP_CHAIN_RETRY_BUDGET_SECONDS="2")
    # Both creations are held at KFP until both have arrived: they are in flight at the same time,
    # so one of them must get KFP's 409. Anything that serialised the replicas (a process-wide lock
    # around KFP calls) would keep the second from arriving, and the wait below would fail.
    creations = kfp.faults.add(method="POST", path=f"{KFP}/experiments$", mode="hold", times=2)
    results: dict[str, list[int]] = {}

    def deliver(function: Any, run_id: str) -> None:
        results[run_id] = redeliver_until_acknowledged(
            function, binary_event(event_data("a/up", run_id=run_id))
        )

    threads = [threading.Thread(target=deliver, args=(f, r)) for f, r in ((first, "1"), (second, "2"))]
    for thread in threads:
        thread.start()
    both_in_flight = creations.wait_arrived(2, timeout=10)
    creations.release()
    for thread in threads:
        thread.join(30)

    assert both_in_flight, "the two experiment creations never were in flight together"
    assert [c.status for c in kfp.calls("POST", f"{KFP}/experiments$")].count(409) == 1
    assert all(r[-1] == 200 for r in results.values()), results
    assert sorted(r["display_name"] for r in kfp.runs()) == [
        "a/one <- a/up run 1",
        "a/one <- a/up run 2",
        "b/two <- a/up run 1",
        "b/two <- a/up run 2",
    ]
    assert "details" not in capsys.readouterr().out  # kfp.Client's links stay out of the log


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


def test_a_claim_written_from_a_stale_read_loses_to_the_claim_written_meanwhile(cluster_function, kube, kfp):
    # Claim exclusivity rests on the resourceVersion precondition of the claim patch. Replica 1 reads
    # the dependent and sends its claim, which the API server holds; meanwhile replica 2 claims the
    # same trigger and gets as far as KFP's create, which is held too. Replica 1's patch, carrying the
    # now stale resourceVersion, must be refused (409) so that it re-reads and sees replica 2's live
    # claim. Were it accepted, replica 1 would overwrite that claim, find no run (replica 2's create
    # has not landed) and create a second one.
    kube.put(rc("a", "up"))
    kube.put(rc("a", "down", triggers=["up"]))
    kfp.add_experiment("Default")
    slow, fast = replicas(cluster_function, 2, KFP_CHAIN_RETRY_BUDGET_SECONDS="1")
    stale_claim = kube.faults.add(method="PATCH", path=r"/runconfigurations/down$", mode="hold")
    held_create = kfp.faults.add(method="POST", path=f"{KFP}/runs$", mode="hold")
    request = binary_event(event_data("a/up"))
    answers: dict[str, int] = {}

    def deliver(name: str, function: Any) -> None:  # one delivery each: no redelivery yet
        answers[name] = (
            function.flask.test_client().post("/", headers=request[0], data=request[1]).status_code
        )

    first = threading.Thread(target=deliver, args=("slow", slow))
    first.start()
    assert stale_claim.wait_arrived(1)
    second = threading.Thread(target=deliver, args=("fast", fast))
    second.start()
    assert held_create.wait_arrived(1)
    stale_claim.release()
    first.join(30)  # answered while replica 2's create is still held
    held_create.release()
    second.join(30)

    assert len(kfp.runs_named("a/down <- a/up run 123")) == 1
    assert answers["fast"] == 200
    assert answers["slow"] >= 500  # it found the trigger held, and asked to be retried
    assert redeliver_until_acknowledged(slow, request) == [200]  # the redelivery: a duplicate
    assert len(kfp.runs()) == 1
