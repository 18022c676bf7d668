"""Exactly-once under redelivery, concurrency and faults: the function over HTTP, four replicas.

A generated graph of RunConfigurations lives in the Kubernetes fake; a stream of run-completion
events, every one delivered 1-3 times in shuffled order and mixed encodings, goes to four replicas
of the real function at once, while both fakes misbehave (see `FAULTS`), a background writer bumps
resourceVersions, and one replica dies between claiming a trigger and starting its run. The broker
redelivers whatever got a 5xx or no answer. At the end every expected downstream run exists in KFP
exactly once with its parameters, nothing else was started, `status.triggers` agrees with KFP and
no live claim is left.

Size: `SOAK_EVENTS` (default 60, `make soak` runs 1000); the figures are printed at the end.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
from collections import Counter
from typing import Any

import pytest

from tests.reliability import summary
from tests.reliability.broker import CrashingLedger, Replica, Tally, deliver, messages_for
from tests.reliability.graph import Graph, build_events, build_graph, expected_runs

SEED = int(os.environ.get("SOAK_SEED", "20261125"))
EVENTS = int(os.environ.get("SOAK_EVENTS", "60"))
REPLICAS = 4
LEASE_SECONDS = "3"  # the smallest the settings allow for a 1 s budget and 0.5 s calls is 3
CLAIM_PREFIX = "kfp-chain.io/claim."

KFP = "/apis/v2beta1"
RC_OBJECT = r"/apis/pipelines\.kubeflow\.org/v1beta1/namespaces/[^/]+/runconfigurations/[^/]+(/status)?$"
RC_LIST = r"/apis/pipelines\.kubeflow\.org/v1beta1/runconfigurations$"

# (server, label, Fault arguments). Probabilities are per matching request; the first that fires wins.
FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("kfp", "create run: 503", {"method": "POST", "path": f"{KFP}/runs$", "status": 503, "probability": 0.05}),
    ("kfp", "create run: dropped", {"method": "POST", "path": f"{KFP}/runs$", "mode": "drop", "probability": 0.03}),
    ("kfp", "create run: made, answer lost", {"method": "POST", "path": f"{KFP}/runs$", "mode": "after", "status": 0, "probability": 0.05}),
    ("kfp", "create run: made, then 500", {"method": "POST", "path": f"{KFP}/runs$", "mode": "after", "status": 500, "probability": 0.03}),
    ("kfp", "create run: 50 ms delay", {"method": "POST", "path": f"{KFP}/runs$", "mode": "delay", "delay": 0.05, "probability": 0.1}),
    ("kfp", "list runs: 500", {"method": "GET", "path": f"{KFP}/runs$", "status": 500, "probability": 0.05}),
    ("kfp", "list runs: dropped", {"method": "GET", "path": f"{KFP}/runs$", "mode": "drop", "probability": 0.03}),
    ("kfp", "list runs: 50 ms delay", {"method": "GET", "path": f"{KFP}/runs$", "mode": "delay", "delay": 0.05, "probability": 0.1}),
    ("kube", "patch: 409 conflict", {"method": "PATCH", "path": RC_OBJECT, "status": 409, "probability": 0.1}),
    ("kube", "patch: 500", {"method": "PATCH", "path": RC_OBJECT, "status": 500, "probability": 0.03}),
    ("kube", "patch: dropped", {"method": "PATCH", "path": RC_OBJECT, "mode": "drop", "probability": 0.02}),
    ("kube", "patch: written, answer lost", {"method": "PATCH", "path": RC_OBJECT, "mode": "after", "status": 0, "probability": 0.03}),
    ("kube", "get: 503", {"method": "GET", "path": RC_OBJECT, "status": 503, "probability": 0.03}),
    ("kube", "get: dropped", {"method": "GET", "path": RC_OBJECT, "mode": "drop", "probability": 0.02}),
    ("kube", "list: 500", {"method": "GET", "path": RC_LIST, "status": 500, "probability": 0.03}),
]  # fmt: skip


class Bumper:
    """A concurrent writer: bumps a random RunConfiguration's resourceVersion every few milliseconds."""

    def __init__(self, kube: Any, keys: list[tuple[str, str]], seed: int, interval: float = 0.02) -> None:
        self.kube, self.keys, self.interval = kube, keys, interval
        self.bumps = 0
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bumper", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.kube.bump(*self._random.choice(self.keys))
            self.bumps += 1

    def __enter__(self) -> Bumper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build_replicas(cluster_function: Any, count: int) -> list[Replica]:
    """Four separately built functions, as four pods: each its own module, App and holder name."""
    replicas = []
    for i in range(count):
        function = cluster_function(
            KFP_CHAIN_HOLDER=f"replica-{i}",
            KFP_CHAIN_CLAIM_LEASE_SECONDS=LEASE_SECONDS,
            KFP_CHAIN_RETRY_BUDGET_SECONDS="1",
            KFP_CHAIN_REQUEST_TIMEOUT_SECONDS="0.5",
            LOG_LEVEL="WARNING",
        )
        # functions-framework loads a fresh `main` module per create_app; build its App now, while
        # this replica's environment is the one set.
        app = sys.modules["main"].get_app()
        replicas.append(Replica(f"replica-{i}", function.flask, app))
    assert len({id(r.app) for r in replicas}) == count, "the replicas must not share one App"
    return replicas


def claims_left(kube: Any) -> list[dict[str, Any]]:
    found = []
    for obj in kube.objects():
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if key.startswith(CLAIM_PREFIX):
                claim = json.loads(value)
                claim["on"] = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
                found.append(claim)
    return found


def bookkeeping_mismatches(kube: Any, graph: Graph, runs_by_name: Counter[str]) -> list[str]:
    """`status.triggers.runConfigurations[U].providerId` must name an upstream run that started D, and
    every (D, U) with a run must have an entry."""
    problems = []
    for dependent in graph.dependents:
        obj = kube.get(dependent.node.namespace, dependent.node.name)
        entries = ((obj.get("status") or {}).get("triggers") or {}).get("runConfigurations") or {}
        for upstream in dependent.upstreams:
            prefix = f"{dependent.node} <- {upstream} run "
            run_ids = {name[len(prefix) :] for name in runs_by_name if name.startswith(prefix)}
            entry = entries.get(str(upstream))
            if run_ids and entry is None:
                problems.append(f"{dependent.node}: runs from {upstream} but no status.triggers entry")
            if entry is not None and entry.get("providerId") not in run_ids:
                problems.append(f"{dependent.node}: status names {upstream} run {entry} without a KFP run")
        for name in set(entries) - {str(u) for u in dependent.upstreams}:
            problems.append(f"{dependent.node}: status.triggers names {name}, which is not a trigger")
    return problems


def figures(
    tally: Tally,
    faults: dict[str, int],
    bumps: int,
    crashes: int,
    expected: int,
    runs: Counter[str],
    claims: int,
) -> list[tuple[str, object]]:
    fives = sum(n for status, n in tally.answers.items() if status >= 500)
    return [
        ("events (distinct upstream runs)", EVENTS),
        ("messages (1-3 copies per event)", tally.first_deliveries),
        ("deliveries (POSTs in all)", tally.deliveries),
        ("redeliveries", tally.redeliveries),
        ("broker rounds", tally.rounds),
        ("answers by status", dict(sorted(tally.answers.items()))),
        ("5xx answers", fives),
        ("no answer (replica died)", tally.answers.get(0, 0)),
        ("5xx reasons", dict(tally.reasons.most_common())),
        ("outcomes in 2xx answers", dict(tally.outcomes.most_common())),
        *((f"fault: {label}", hits) for label, hits in faults.items()),
        ("faults injected in all", sum(faults.values())),
        ("resourceVersion bumps", bumps),
        ("replica crashes after claim", crashes),
        ("runs expected", expected),
        ("runs found", sum(runs.values())),
        ("duplicate runs", sum(n - 1 for n in runs.values() if n > 1)),
        ("unacknowledged at the end", tally.unacknowledged),
        ("claims left (all on done triggers)", claims),
        ("seconds", round(tally.seconds, 1)),
        ("deliveries per second", round(tally.deliveries / tally.seconds, 1) if tally.seconds else 0),
    ]


@pytest.fixture
def scenario(cluster_function: Any, kube: Any, kfp: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any):
    monkeypatch.setenv("HOME", str(tmp_path))
    graph = build_graph(emitter_count=max(4, min(12, EVENTS // 50)), seed=SEED)
    for obj in graph.objects:
        kube.put(obj)
    # Made up front: four replicas creating it at once race, and the loser's 409 drops a trigger
    # (test_races.py pins that bug; remove this line once it is fixed).
    kfp.add_experiment("Default")
    return graph, build_replicas(cluster_function, REPLICAS)


def test_every_expected_run_starts_exactly_once_through_faults_redelivery_and_a_crash(scenario, kube, kfp):
    graph, replicas = scenario
    crashing = CrashingLedger(
        replicas[-1].app.chain.ledger, probability=0.05, limit=max(3, EVENTS // 50), seed=SEED
    )
    replicas[-1].app.chain.ledger = crashing
    events = build_events(graph, EVENTS, SEED)
    expected = expected_runs(graph, events)
    messages = messages_for(events, SEED)
    injected = {}
    for server, label, arguments in FAULTS:
        fake = kfp if server == "kfp" else kube
        injected[f"{server} {label}"] = fake.faults.add(times=None, **arguments)
    kube.faults._random.seed(SEED)
    kfp.faults._random.seed(SEED + 1)

    keys = [(d.node.namespace, d.node.name) for d in graph.dependents]
    with Bumper(kube, keys, SEED) as bumper:
        tally = deliver(replicas, messages, max_rounds=40, pause=0.2, seed=SEED)
    kube.faults.clear()
    kfp.faults.clear()

    runs = Counter(r["display_name"] for r in kfp.runs())
    hits = {label: fault.hits for label, fault in injected.items()}
    left = claims_left(kube)
    summary.table(
        f"fault injection: {EVENTS} events, {REPLICAS} replicas",
        figures(tally, hits, bumper.bumps, crashing.crashes, len(expected), runs, len(left)),
    )
    assert tally.surprises == []
    assert tally.dead_lettered == [], tally.dead_lettered[:3]
    assert tally.unacknowledged == 0, f"still 5xx after {tally.rounds} rounds"
    assert [name for name, n in runs.items() if n > 1] == [], "duplicate runs"
    assert sorted(set(runs) - set(expected)) == [], "unexpected runs"
    lost = sorted(set(expected) - set(runs))
    assert lost == [], f"lost triggers: {lost}; answers: {[tally.trail[n.rpartition(' ')[2]] for n in lost]}"
    parameters = {r["display_name"]: r["runtime_config"]["parameters"] for r in kfp.runs()}
    assert [n for n in expected if parameters[n] != expected[n]] == []
    assert bookkeeping_mismatches(kube, graph, runs) == []
    # A claim whose release failed after `complete` wrote status stays on the object (live until its
    # lease runs out, then expired): the trigger is done and later deliveries answer DONE without
    # touching it. Harmless, but garbage. A claim on a trigger that never started would be a bug.
    undone = [c for c in left if f"{c['on']} <- {c['upstream']} run {c['runId']}" not in runs]
    assert undone == [], "a claim is left on a trigger that never started"
    # The suite must have exercised what it claims to: every fault kind fired, and a replica died.
    assert crashing.crashes > 0
    assert [label for label, n in hits.items() if n == 0] == []
    assert tally.redeliveries > 0 and bumper.bumps > 0
