"""Copies of one event, sent at the same moment, settle within the shipped delivery window.

A publisher that re-publishes, or NATS redelivering, hands the broker two copies of one event at
once; Knative's backoff has no jitter, so every redelivery of the two comes at the same moment
too. Each copy carries out the same dependents, and on main as it was each copy held one
dependent's claim while it met the other's: both answered 503, both came back together, and so
on until the last retry, when both were dead-lettered although every run existed (issue 21).

What runs: two replicas of the trigger function and the dead-letter function as server processes
with the production overlay's env (`shipped.py`), and the broker (`broker.py`) on the rendered
Trigger's exact schedule (6 retries, exponential from 1 s, no jitter). One upstream with two
dependents succeeds every `PACE` seconds, so that an event's run is soon not the upstream's
latest any more (status.triggers keeps only the latest consumed run); KFP takes a moment to create
a run, so that the two copies of each event do meet each other's claims.

The verdict: every run exactly once, and no event dead-lettered whose runs all exist.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kfp_chain.adapters.kfp.launcher import pipeline_display_name

from tests.builders import event_data, rc, write_kubeconfig
from tests.reliability import summary
from tests.reliability.broker import Broker, Message
from tests.reliability.graph import Event, Node
from tests.reliability.killing_kfp import KillingKfp
from tests.reliability.processes import Deployment, EnvFor, PodMaker
from tests.reliability.shipped import delivery_policy, senders, service_environment
from tests.reliability.test_fault_injection import record_latest_run

NAMESPACE = "team-a"
UPSTREAM = Node(NAMESPACE, "up")
DEPENDENTS = ("first", "second")
RUNS = 10  # upstream runs, each published twice at the same moment
PACE = 0.3  # seconds between upstream runs: an event's run is soon not the latest
REPLICAS = 2
KFP = "/apis/v2beta1"


def runs_of(run_id: str) -> set[str]:
    return {f"{NAMESPACE}/{d} <- {UPSTREAM} run {run_id}" for d in DEPENDENTS}


@pytest.fixture
def deployed(kube: Any, tmp_path: Path):
    kube.put(rc(NAMESPACE, UPSTREAM.name))
    for name in DEPENDENTS:
        kube.put(rc(NAMESPACE, name, triggers=[UPSTREAM.name]))
    with KillingKfp() as kfp:
        trigger_env = service_environment("kfp-chain-trigger")
        naming = trigger_env.get("KFP_PIPELINE_NAME", "plain")
        kfp.add_pipeline(pipeline_display_name("pipe", NAMESPACE, naming)[0])
        common: dict[str, str | None] = {
            "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", kube.url)),
            "KFP_HOST": kfp.url,
            "KFP_TOKEN_FILE": None,
            "RECORD_LATEST_RUNS": "false",  # the test writes latestRuns, as kfp-operator's controller
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
        }
        logs = tmp_path / "logs"
        logs.mkdir()

        def deployment(service: str, target: str, env: dict[str, str], count: int, ready: str) -> Deployment:
            return Deployment(
                service, PodMaker(service, target, EnvFor(env, common, tmp_path / "home"), logs, ready), count
            )

        trigger = deployment("kfp-chain-trigger", "on_run_completion", trigger_env, REPLICAS, "/readyz")
        dead_letter = deployment(
            "kfp-chain-dead-letter",
            "on_dead_letter",
            service_environment("kfp-chain-dead-letter"),
            1,
            "/healthz",
        )
        try:
            trigger.start()
            dead_letter.start()
            yield kfp, trigger, dead_letter
        finally:
            trigger.stop()
            dead_letter.stop()


def test_two_copies_sent_at_once_settle_without_a_dead_letter(kube: Any, deployed: Any) -> None:
    kfp, trigger, dead_letter = deployed
    spec = delivery_policy()
    # A create and a lookup take a moment, as a real KFP's does: the other copy arrives while the claim is held.
    kfp.faults.add(method="POST", path=f"{KFP}/runs$", mode="delay", delay=0.3, times=None)
    kfp.faults.add(method="GET", path=f"{KFP}/runs$", mode="delay", delay=0.3, times=None)  # a lookup, too
    tokens = {
        role: kube.tokens.issue(s.username, [s.audience]) if s.audience else None
        for role, s in senders().items()
    }
    broker = Broker(
        spec,
        trigger.ready,
        dead_letter.ready,
        8,
        seed=21,
        tokens=(tokens["subscriber"], tokens["dead-letter"]),
    )
    experiment = kfp.add_experiment("upstream runs")
    events = []
    started = time.monotonic()
    for i in range(RUNS):
        run_id = kfp.add_succeeded_run(f"upstream {UPSTREAM} #{i}", experiment)
        artifacts = [{"name": "out", "location": f"gs://bucket/up/{i}/out"}]
        event = Event(UPSTREAM, run_id, event_data(str(UPSTREAM), run_id=run_id, artifacts=artifacts))
        events.append(event)
        record_latest_run(kube, event)
        for copy in range(2):
            broker.publish(Message.of(event, copy))  # both at once
        time.sleep(PACE)  # the upstream's next run, not a synchronisation
    broker.close_intake()
    settled = broker.wait_settled(timeout=RUNS * PACE + spec.backoff_total + 4 * (spec.timeout or 30) + 60)
    broker.stop()
    kfp.faults.clear()

    names = Counter(r["display_name"] for r in kfp.runs() if " <- " in r["display_name"])
    expected = {n for e in events for n in runs_of(e.run_id)}
    tally = broker.tally
    complete = [m for m in tally.dead_lettered if runs_of(m.event.run_id) <= set(names)]
    summary.table(
        f"copies at once: {RUNS} events x 2 copies, {len(DEPENDENTS)} dependents, {REPLICAS} replicas",
        [
            ("delivery (from the shipped Trigger)", f"retry {spec.retry}, waits {', '.join(f'{w:g}' for w in spec.waits())} s, no jitter"),
            ("deliveries / redeliveries", f"{tally.deliveries} / {tally.redeliveries}"),
            ("answers by status", dict(sorted(tally.answers.items()))),
            ("5xx reasons", dict(tally.reasons.most_common())),
            ("outcomes in 2xx answers", dict(tally.outcomes.most_common())),
            ("dead-lettered (of which all runs existed)", f"{len(tally.dead_lettered)} ({len(complete)})"),
            ("KFP run lookups / creates", f"{len(kfp.calls('GET', f'{KFP}/runs$'))} / {len(kfp.calls('POST', f'{KFP}/runs$'))}"),
            ("seconds", round(time.monotonic() - started, 1)),
        ],
    )  # fmt: skip

    assert settled, "the broker still had messages in flight"
    assert sorted(n for n, k in names.items() if k > 1) == [], "duplicate runs"
    assert sorted(expected - set(names)) == [], "lost runs"
    assert sorted(set(names) - expected) == [], "unexpected runs"
    trails = {
        (m.event.run_id, m.copy): [(a.status, round(a.at, 1), [(d.get("dependent"), d.get("outcome"), d.get("reason")) for d in a.body.get("dependents", [])]) for a in m.attempts]
        for m in complete[:3]
    }  # fmt: skip
    assert complete == [], f"dead-lettered although every run existed: {trails}"
