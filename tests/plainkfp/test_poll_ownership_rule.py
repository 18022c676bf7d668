"""The ownership rule itself (`ownership.owner`, pure): first match wins, renaming changes nothing.

The lookups are KFP's answers as plain tables (a recurring run's description, pipeline and
experiment names by id); the adapter that asks KFP for them is exercised in test_poll_ownership.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kfp_chain.adapters.ports import FinishedRun
from kfp_chain.ownership import Ownership, Rule, Skip, marker_line, owner
from kfp_chain.runconfiguration import RcKey, parse_runconfiguration

from tests.builders import rc

UP, DOWN = RcKey("a", "up"), RcKey("a", "down")
RECURRING = {"rr-1": f"nightly\n{marker_line(UP)}", "rr-2": "someone else's schedule"}
PIPELINES = {"p-1": "upstream"}
EXPERIMENTS = {"e-1": "Default", "e-2": "nightly"}


def known(*objs):
    rcs = {x.key: x for x in (parse_runconfiguration(o) for o in objs)}
    return rcs


def decide(run: FinishedRun, rcs, multi_user: bool = False) -> Ownership:
    return owner(
        run, rcs.get, list(rcs.values()), RECURRING.get, PIPELINES.get, EXPERIMENTS.get,
        lambda r: r.pipeline, multi_user=multi_user,
    )  # fmt: skip


def run(**fields) -> FinishedRun:
    base = {"run_id": "r", "state": "SUCCEEDED", "finished_at": datetime(2026, 12, 1, tzinfo=UTC)}
    return FinishedRun(**{**base, **fields})


def adopting(namespace: str, name: str):
    obj = rc(namespace, name, pipeline="upstream")
    obj["metadata"]["annotations"] = {"kfp-chain.io/adopt-runs": "true"}
    return obj


def test_the_first_matching_rule_names_the_owner():
    rcs = known(rc("a", "up", pipeline="upstream"), rc("a", "down"))
    ko = {"runconfiguration-namespace": "a", "runconfiguration-name": "down"}

    assert decide(run(description=marker_line(UP), recurring_run_id="rr-2", parameters=ko), rcs) == Ownership(
        UP, Rule.MARKER
    )
    assert decide(run(recurring_run_id="rr-1", parameters=ko), rcs) == Ownership(UP, Rule.RECURRING_RUN)
    assert decide(run(recurring_run_id="rr-2", parameters=ko), rcs) == Ownership(DOWN, Rule.KFP_OPERATOR)
    assert (
        decide(run(display_name=marker_line(UP), pipeline_id="p-1", experiment_id="e-1"), rcs).skip
        is Skip.UNOWNED
    )


def test_a_marker_naming_no_runconfiguration_is_skipped_not_adopted():
    rcs = known(adopting("a", "adopter"))

    assert (
        decide(run(description=marker_line(UP), pipeline_id="p-1"), rcs).skip is Skip.UNKNOWN_RUNCONFIGURATION
    )
    assert decide(
        run(description="kfp-chain.io/runconfiguration: not-a-key", pipeline_id="p-1"), rcs
    ) == Ownership(RcKey("a", "adopter"), Rule.ADOPTED)


def test_adoption_in_multi_user_kfp_needs_the_runconfigurations_namespace():
    rcs = known(adopting("a", "adopter"), adopting("b", "adopter"))
    by_hand = run(pipeline_id="p-1", experiment_id="e-1", namespace="b")

    assert decide(by_hand, rcs, multi_user=True) == Ownership(RcKey("b", "adopter"), Rule.ADOPTED)
    assert decide(by_hand, rcs).skip is Skip.AMBIGUOUS
    assert (
        decide(run(pipeline_id="p-1", experiment_id="e-1", namespace="c"), rcs, multi_user=True).skip
        is Skip.UNOWNED
    )
