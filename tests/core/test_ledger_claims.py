"""The claim contract both ledgers keep, through their public methods against real storage.

The Kubernetes ledger runs against the Kubernetes fake (annotations guarded by resourceVersion), the
SQLite ledger against a file. What is pinned here is what exactly-once rests on besides the claim's
exclusivity (pinned by tests/reliability/test_races.py): a holder can only give up its own claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kfp_chain.adapters.folder.ledger import SqliteLedger
from kfp_chain.adapters.kubernetes.ledger import KubernetesLedger
from kfp_chain.adapters.kubernetes.source import KubernetesSource
from kfp_chain.adapters.ports import ClaimState, Trigger
from kfp_chain.runconfiguration import RcKey
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import rc

TRIGGER = Trigger(RcKey("a", "down"), RcKey("a", "up"), "run-1")
LEASE = timedelta(minutes=5)


@pytest.fixture(params=["kubernetes", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        yield SqliteLedger(tmp_path / "state.db")
        return
    with FakeKubernetes() as kube:
        kube.put(rc("a", "up"))
        kube.put(rc("a", "down", triggers=["up"]))
        yield KubernetesLedger(KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1"))


def test_release_by_another_holder_leaves_the_claim_in_place(ledger: Any) -> None:
    assert ledger.claim(TRIGGER, "replica-1/a", LEASE) is ClaimState.ACQUIRED

    ledger.release(TRIGGER, "replica-2/b")  # e.g. a holder whose claim expired and was taken over

    assert ledger.claim(TRIGGER, "replica-3/c", LEASE) is ClaimState.HELD


def test_release_by_its_holder_frees_the_trigger(ledger: Any) -> None:
    assert ledger.claim(TRIGGER, "replica-1/a", LEASE) is ClaimState.ACQUIRED

    ledger.release(TRIGGER, "replica-1/a")

    assert ledger.claim(TRIGGER, "replica-3/c", LEASE) is ClaimState.ACQUIRED


class StoppedClock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)  # a whole second: timestamp + lease stays exact

    def now(self) -> datetime:
        return self.at


@pytest.fixture(params=["kubernetes", "sqlite"])
def clocked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, StoppedClock]]:
    clock = StoppedClock()
    if request.param == "sqlite":
        yield SqliteLedger(tmp_path / "state.db", clock), clock
        return
    with FakeKubernetes() as kube:
        kube.put(rc("a", "up"))
        kube.put(rc("a", "down", triggers=["up"]))
        source = KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1")
        yield KubernetesLedger(source, clock), clock


def test_a_claim_is_expired_from_the_instant_its_lease_ends(clocked: tuple[Any, StoppedClock]) -> None:
    """The boundary, decided: a lease covers [claimed, expiresAt), so at expiresAt the claim is free.

    The delivery window's second rule (lease + clock skew <= the wait before the last retry) lets
    the last retry arrive exactly when an orphaned claim ends; counted live there, it would answer
    503 and the event would be dead-lettered.
    """
    ledger, clock = clocked
    assert ledger.claim(TRIGGER, "first", LEASE) is ClaimState.ACQUIRED
    clock.at += LEASE - timedelta(microseconds=1)
    assert ledger.claim(TRIGGER, "second", LEASE) is ClaimState.HELD
    clock.at += timedelta(microseconds=1)  # exactly its expiresAt
    assert ledger.claim(TRIGGER, "second", LEASE) is ClaimState.ACQUIRED


def test_a_join_is_done_when_any_of_its_runs_is_consumed_not_only_the_first(ledger: Any) -> None:
    """Each run is joined at most once: a set sharing a consumed run never starts, wherever in the
    set's order that run stands (here the second of two)."""
    down, up, up2 = RcKey("a", "down"), RcKey("a", "up"), RcKey("a", "up2")
    alone = Trigger(down, up2, "run-2")
    assert ledger.claim(alone, "first", LEASE) is ClaimState.ACQUIRED
    ledger.complete(alone, "first", "kfp-run-1")
    join = Trigger.fan_in(down, [(up2, "run-2"), (up, "run-1")])
    assert join.inputs[0] == (up, "run-1")  # the consumed run is not the first input

    assert ledger.claim(join, "second", LEASE) is ClaimState.DONE
