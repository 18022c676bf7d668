"""The broker model and the replicas: at-least-once delivery of a shuffled stream to 4 replicas.

What a Knative broker does with a run-completion event, reduced to what matters for exactly-once:
every message is delivered (here: 1-3 copies of each event, shuffled), a 2xx acknowledges it, a
4xx dead-letters it, and a 5xx or a lost answer (a replica that died mid-request) makes it
redeliver that message in a later round, a bounded number of times.

A replica is the real function (`functions/main.py` through functions-framework) built with its
own `KFP_CHAIN_HOLDER`. One of them may be made to die between claiming a trigger and starting
its run: `CrashingLedger` wraps the replica's real Kubernetes ledger and raises `ReplicaCrashed`,
a `BaseException`, right after a successful claim. Nothing in the chain catches it (as nothing in
a process survives SIGKILL), so the claim annotation stays behind until its lease expires.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kfp_chain.ports import ClaimState, Ledger, Trigger
from kfp_chain.runconfiguration import Artifact, RcKey

from tests.conftest import binary_event, plain_event, structured_event
from tests.reliability.graph import Event

ENCODINGS = (binary_event, structured_event, plain_event)


class ReplicaCrashed(BaseException):
    """The process died: not an `Exception`, so no `except Exception` in the chain sees it."""


class CrashingLedger:
    """The replica's real ledger, except that the process dies right after some successful claims."""

    def __init__(self, ledger: Ledger, probability: float, limit: int, seed: int) -> None:
        self.ledger = ledger
        self.probability, self.limit = probability, limit
        self.crashes = 0
        self.crashed_triggers: list[Trigger] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def claim(self, trigger: Trigger, holder: str, lease: timedelta) -> ClaimState:
        state = self.ledger.claim(trigger, holder, lease)
        if state is ClaimState.ACQUIRED:
            with self._lock:
                die = self.crashes < self.limit and self._random.random() < self.probability
                if die:
                    self.crashes += 1
                    self.crashed_triggers.append(trigger)
            if die:
                raise ReplicaCrashed(f"replica died holding the claim on {trigger.display_name!r}")
        return state

    def complete(self, trigger: Trigger, holder: str, run_id: str) -> None:
        self.ledger.complete(trigger, holder, run_id)

    def release(self, trigger: Trigger, holder: str) -> None:
        self.ledger.release(trigger, holder)

    def record_succeeded(self, key: RcKey, run_id: str, artifacts: tuple[Artifact, ...]) -> None:
        self.ledger.record_succeeded(key, run_id, artifacts)


@dataclass
class Replica:
    name: str
    flask: Any  # the functions-framework Flask app
    app: Any  # its kfp_chain App, to swap the ledger


@dataclass
class Message:
    event: Event
    copy: int
    encoding: int
    attempts: int = 0


@dataclass
class Tally:
    deliveries: int = 0  # every POST, first deliveries and redeliveries
    first_deliveries: int = 0
    redeliveries: int = 0
    answers: Counter[int] = field(default_factory=Counter)  # status -> count; 0 = no answer (crash)
    reasons: Counter[str] = field(default_factory=Counter)  # why a 5xx: the dependents' retry reasons
    outcomes: Counter[str] = field(default_factory=Counter)  # started/duplicate/skipped over 2xx answers
    surprises: list[dict[str, Any]] = field(
        default_factory=list
    )  # skipped for a reason the graph did not plan
    trail: dict[str, list[tuple[str, int, dict[str, Any]]]] = field(default_factory=dict)  # runId -> answers
    dead_lettered: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rounds: int = 0
    unacknowledged: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def messages_for(events: list[Event], seed: int) -> list[Message]:
    """Every event 1-3 times, in a shuffled order, each copy in one of the three encodings."""
    rng = random.Random(seed)
    messages = [
        Message(event, copy, rng.randrange(len(ENCODINGS)))
        for event in events
        for copy in range(rng.randint(1, 3))
    ]
    rng.shuffle(messages)
    return messages


def deliver(
    replicas: list[Replica], messages: list[Message], max_rounds: int, pause: float, seed: int
) -> Tally:
    """Rounds of concurrent delivery, one worker thread per replica, until all is acknowledged."""
    tally = Tally(first_deliveries=len(messages))
    rng = random.Random(seed)
    started = time.monotonic()
    pending = list(messages)
    while pending and tally.rounds < max_rounds:
        if tally.rounds:
            time.sleep(pause)  # the broker's back-off between redelivery rounds
            rng.shuffle(pending)
        tally.rounds += 1
        work: queue.Queue[Message] = queue.Queue()
        for message in pending:
            work.put(message)
        retry: list[Message] = []
        threads = [
            threading.Thread(target=_worker, args=(replica, work, retry, tally), name=replica.name)
            for replica in replicas
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pending = retry
    tally.unacknowledged = len(pending)
    tally.seconds = time.monotonic() - started
    return tally


def _worker(replica: Replica, work: queue.Queue[Message], retry: list[Message], tally: Tally) -> None:
    client = replica.flask.test_client()
    while True:
        try:
            message = work.get_nowait()
        except queue.Empty:
            return
        headers, body = ENCODINGS[message.encoding](message.event.data)
        try:
            response = client.post("/", headers=headers, data=body)
            status, answer = response.status_code, response.get_json(silent=True) or {}
        except ReplicaCrashed:
            status, answer = 0, {}
        with tally.lock:
            tally.deliveries += 1
            if message.attempts:
                tally.redeliveries += 1
            message.attempts += 1
            tally.answers[status] += 1
            tally.trail.setdefault(message.event.run_id, []).append((replica.name, status, answer))
            if 200 <= status < 300:
                for d in answer.get("dependents", []):
                    tally.outcomes[d["outcome"] + (f" ({d['reason']})" if d.get("reason") else "")] += 1
                    if d["outcome"] == "skipped" and d.get("reason") != "missing-artifact":
                        tally.surprises.append(d)
            elif 400 <= status < 500:
                tally.dead_lettered.append((status, answer))
            else:
                tally.reasons.update(
                    d.get("reason", "?") for d in answer.get("dependents", []) if d["outcome"] == "retry"
                )
                if "error" in answer:
                    tally.reasons[answer["error"]] += 1
                if status == 0:
                    tally.reasons["replica-crashed"] += 1
                retry.append(message)
