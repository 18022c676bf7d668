"""The claim contract both ledgers keep, through their public methods against real storage.

The Kubernetes ledger runs against the Kubernetes fake (annotations guarded by resourceVersion), the
SQLite ledger against a file. What is pinned here is what exactly-once rests on besides the claim's
exclusivity (pinned by tests/reliability/test_races.py): a holder can only give up its own claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
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
