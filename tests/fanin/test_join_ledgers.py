"""Both ledgers keep "each upstream run is joined at most once" however late a join's claim or completion is.

`status.triggers` keeps one run per upstream and no order: the cluster ledger records a join only if
no newer one was recorded since its claim (a compare-and-swap on the resourceVersion); the SQLite ledger
keeps every join, so a set sharing a run with a recorded one is answered DONE.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from kfp_chain.adapters.folder.ledger import SqliteLedger
from kfp_chain.adapters.kubernetes.ledger import KubernetesLedger
from kfp_chain.adapters.kubernetes.source import KubernetesSource
from kfp_chain.adapters.ports import ClaimState, Trigger
from kfp_chain.runconfiguration import RcKey

from tests.builders import rc

LEASE = timedelta(seconds=20)
DEP, A, B = RcKey("a", "join"), RcKey("a", "one"), RcKey("a", "two")


def join(a: str, b: str) -> Trigger:
    return Trigger.fan_in(DEP, [(A, a), (B, b)])


@pytest.fixture
def cluster_ledger(kube) -> KubernetesLedger:
    kube.put(rc("a", "one"))
    kube.put(rc("a", "two"))
    obj = rc("a", "join", triggers=["one", "two"])
    obj["metadata"]["annotations"] = {"kfp-chain.io/trigger-policy": "all"}
    kube.put(obj)
    return KubernetesLedger(KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1"))


def consumed(kube) -> dict[str, str]:
    entries = kube.get("a", "join")["status"]["triggers"]["runConfigurations"]
    return {k: v["providerId"] for k, v in entries.items()}


def test_a_join_completed_after_a_newer_one_does_not_write_its_runs_back(cluster_ledger, kube) -> None:
    # A slow holder's older set outlived its claim (while it is live, no other join is claimed at all);
    # the event path joined the newer set meanwhile. The record is a compare-and-swap all the same.
    older, newer = join("a1", "b1"), join("a2", "b2")
    assert cluster_ledger.claim(older, "slow/1", timedelta(0)) is ClaimState.ACQUIRED  # expires at once
    assert cluster_ledger.claim(newer, "fast/1", LEASE) is ClaimState.ACQUIRED
    cluster_ledger.complete(newer, "fast/1", "run-2")

    cluster_ledger.complete(older, "slow/1", "run-1")

    assert consumed(kube) == {"a/one": "a2", "a/two": "b2"}, "the newer join's runs would look unconsumed"
    # So a set reusing one of the newer runs is refused, as it must be.
    assert cluster_ledger.claim(join("a2", "b3"), "late/1", LEASE) is ClaimState.DONE


def test_a_join_whose_upstreams_did_not_move_is_recorded(cluster_ledger, kube) -> None:
    first = join("a1", "b1")
    assert cluster_ledger.claim(first, "h/1", LEASE) is ClaimState.ACQUIRED
    kube.bump("a", "join")  # someone else wrote the object meanwhile (not its status.triggers)

    cluster_ledger.complete(first, "h/1", "run-1")

    assert consumed(kube) == {"a/one": "a1", "a/two": "b1"}


def test_the_sqlite_ledger_refuses_a_set_sharing_a_run_with_a_recorded_join(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "state.db")
    first = join("a1", "b1")
    assert ledger.claim(first, "h/1", LEASE) is ClaimState.ACQUIRED
    ledger.complete(first, "h/1", "run-1")
    ledger.record_succeeded(B, "b2", ())
    later = join("a3", "b2")
    assert ledger.claim(later, "h/2", LEASE) is ClaimState.ACQUIRED
    ledger.complete(later, "h/2", "run-2")

    # A late plan that pairs a1 (joined in the first set) with b4 never starts, even though the consumed
    # table's latest entry for a/one (a3) no longer names a1.
    assert ledger.claim(join("a1", "b4"), "h/3", LEASE) is ClaimState.DONE


def test_the_sqlite_ledger_holds_a_set_sharing_a_run_with_a_live_claim(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "state.db")
    assert ledger.claim(join("a1", "b1"), "h/1", LEASE) is ClaimState.ACQUIRED

    assert ledger.claim(join("a1", "b2"), "h/2", LEASE) is ClaimState.HELD
    assert ledger.claim(join("a3", "b3"), "h/2", LEASE) is ClaimState.ACQUIRED


def test_a_join_planned_before_a_newer_one_was_recorded_is_not_claimed(cluster_ledger, kube) -> None:
    # Planned on a lagging view (nothing consumed yet); meanwhile a1+b1 was joined and recorded. a0+b0 are
    # runs older than those: claiming them would start a set older than one already joined.
    recorded = join("a1", "b1")
    assert cluster_ledger.claim(recorded, "fast/1", LEASE) is ClaimState.ACQUIRED
    cluster_ledger.complete(recorded, "fast/1", "run-1")
    stale = Trigger.fan_in(DEP, [(A, "a0"), (B, "b0")], [("a/one", None), ("a/two", None)])

    assert cluster_ledger.claim(stale, "slow/1", LEASE) is ClaimState.DONE
    assert consumed(kube) == {"a/one": "a1", "a/two": "b1"}


def test_a_join_planned_on_a_newer_view_than_the_ledgers_copy_is_claimed_not_called_superseded(
    cluster_ledger, kube
) -> None:
    # This replica's ledger last wrote the dependent before another replica recorded the join a0+b0, so
    # its copy still shows nothing consumed; the new join was planned on a fresh read showing a0+b0.
    # "Moved since planned" on that older copy is the copy's age, not a newer join: re-read, then claim.
    # (The two-replica fan-in test lost a run to this once: answered "duplicate", no run started.)
    assert cluster_ledger.claim(join("x0", "y0"), "here/1", timedelta(0)) is ClaimState.ACQUIRED  # a copy
    obj = kube.get("a", "join")
    obj["status"] = {
        "triggers": {"runConfigurations": {"a/one": {"providerId": "a0"}, "a/two": {"providerId": "b0"}}}
    }
    kube.put(obj)  # the other replica's completion, unseen by this ledger

    planned = Trigger.fan_in(DEP, [(A, "a1"), (B, "b1")], planned_on=[("a/one", "a0"), ("a/two", "b0")])

    assert cluster_ledger.claim(planned, "here/2", LEASE) is ClaimState.ACQUIRED


def test_the_sqlite_ledger_lists_an_expired_join_sharing_a_run_as_unsettled(tmp_path: Path) -> None:
    # Its holder may have made its run and died: a set sharing a run must settle it before starting.
    ledger = SqliteLedger(tmp_path / "state.db")
    assert ledger.claim(join("a1", "b1"), "dead/1", timedelta(0)) is ClaimState.ACQUIRED

    assert ledger.unsettled(join("a1", "b2")) == ((join("a1", "b1"), "dead/1"),)
    assert ledger.unsettled(join("a3", "b3")) == (), "SQLite keeps every join: a disjoint one is harmless"
    ledger.complete(join("a1", "b1"), "h/2", "run-1")
    assert ledger.unsettled(join("a1", "b2")) == ()
