"""A burst on one dependent costs what spread events cost: no 409 storm among one replica's threads.

Every trigger of a dependent writes that dependent's object (claim, completion) under its
resourceVersion. Request threads of one process used to take their precondition from a copy
another thread had just made stale, pay a 409 and a re-read, and try again; `KubernetesLedger`
now serialises its writes per object, so each takes the previous one's answer and succeeds first
time. What is pinned: concurrent events of one upstream, each a new run, still start one run
each, in exactly the 4 Kubernetes and 2 KFP calls per run of the steady state, and without a 409.
"""

from __future__ import annotations

import itertools
import threading
import time

from kfp_chain.adapters.kubernetes.ledger import KeyedLocks
from kfp_chain.runconfiguration import RcKey

from tests.builders import binary_event, event_data, seed_objects
from tests.support import run_concurrently

THREADS = 8
ROUNDS = 3


def test_concurrent_events_on_one_dependent_cost_four_calls_per_run_and_no_conflict(
    cluster_function, kube, kfp
):
    for obj in seed_objects():
        kube.put(obj)
    function = cluster_function(KFP_CHAIN_INDEX="watch", KFP_CHAIN_RETRY_BUDGET_SECONDS="10")
    deadline = time.monotonic() + 10
    while function.get("/readyz")[0] != 200:
        assert time.monotonic() < deadline, "the watch index never filled"
        time.sleep(0.05)
    status, body = function.post(binary_event(event_data(run_id="warm")))
    assert status == 200 and body["dependents"][0]["outcome"] == "started", body
    kube.reset_log()
    kfp.reset_log()
    counter = itertools.count()
    lock = threading.Lock()

    def burst() -> list[str]:
        outcomes = []
        for _ in range(ROUNDS):
            with lock:
                run_id = f"burst-{next(counter)}"
            status, body = function.post(binary_event(event_data(run_id=run_id)))
            outcomes.append(body["dependents"][0]["outcome"] if status == 200 else f"HTTP {status}")
        return outcomes

    results = run_concurrently(burst, THREADS)

    events = THREADS * ROUNDS
    assert sorted(o for r in results for o in r) == ["started"] * events
    assert len(kfp.runs()) == events + 1
    writes = [c for c in kube.calls() if "watch" not in str(c.query)]
    assert [c for c in writes if c.status == 409] == []
    assert len(writes) == 4 * events, sorted((c.method, c.path.rsplit("/", 1)[-1]) for c in writes)
    assert len(kfp.calls()) == 2 * events


def test_keyed_locks_exclude_per_key_and_forget_keys_nobody_holds() -> None:
    locks = KeyedLocks()
    a, b = RcKey("ns", "a"), RcKey("ns", "b")
    inside, leave, entered = threading.Event(), threading.Event(), threading.Event()

    def hold_a() -> None:
        with locks.hold(a):
            inside.set()
            leave.wait(5)

    def wait_for_a() -> None:
        with locks.hold(a):
            entered.set()

    holder = threading.Thread(target=hold_a)
    holder.start()
    assert inside.wait(5)
    with locks.hold(b):  # another key is not blocked
        assert len(locks) == 2
    waiter = threading.Thread(target=wait_for_a)
    waiter.start()
    assert not entered.wait(0.2)  # the same key is
    assert len(locks) == 1
    leave.set()
    assert entered.wait(5)
    holder.join(5)
    waiter.join(5)
    assert len(locks) == 0  # nobody holds or waits: nothing kept
