"""What the claim annotations and `status.triggers` of one RunConfiguration object say.

Pure reads of the object as the API server returned it, shared by the ledger (which decides on
them) and `kfp-chain explain` (which shows them). A claim is the annotation
`kfp-chain.io/claim.<digest of upstream and runId>` holding `{upstream, runId, holder, expiresAt}`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ...runconfiguration import RcKey
from ..ports import CHANGE_PREFIX, ClaimInfo, Trigger

__all__ = [
    "CLAIM_PREFIX",
    "claim_value",
    "claims_in",
    "consumed",
    "consumed_runs",
    "done",
    "done_claims",
    "expired",
    "join_in_flight",
    "moved_since_planned",
    "unsettled_joins",
]

CLAIM_PREFIX = "kfp-chain.io/claim."


def moved_since_planned(obj: dict[str, Any], trigger: Trigger) -> bool:
    """A join whose upstreams' consumed runs are no longer what its plan saw has been superseded."""
    return bool(trigger.planned_on) and consumed_runs(obj, trigger) != dict(trigger.planned_on)


def consumed_runs(obj: dict[str, Any], trigger: Trigger) -> dict[str, str | None]:
    """The run `status.triggers` records as consumed for each of the trigger's upstreams (None: none)."""
    entries = ((obj.get("status") or {}).get("triggers") or {}).get("runConfigurations") or {}
    found: dict[str, str | None] = {}
    for upstream, _ in trigger.inputs:
        names = [str(upstream)] + (
            [upstream.name] if upstream.namespace == trigger.dependent.namespace else []
        )
        found[str(upstream)] = next(
            (str(e["providerId"]) for n in names if (e := entries.get(n) or {}).get("providerId")), None
        )
    return found


def done_claims(obj: dict[str, Any]) -> list[str]:
    """Claim annotations whose trigger `status.triggers` already records as consumed (leftovers)."""
    key = RcKey(
        str((obj.get("metadata") or {}).get("namespace")), str((obj.get("metadata") or {}).get("name"))
    )
    done = []
    for annotation in (obj.get("metadata") or {}).get("annotations") or {}:
        if annotation.startswith(CLAIM_PREFIX):
            trigger = _claimed_trigger(key, claim_value(obj, annotation) or {})
            if trigger is not None and consumed(obj, trigger):
                done.append(annotation)
    return done


def _claimed_trigger(dependent: RcKey, claim: dict[str, Any]) -> Trigger | None:
    """The trigger a claim's value names (`upstream` and `runId`, joined by `+` for a fan-in, with the
    `plannedOn` its holder planned it on, so that whoever settles it records it under the same rule)."""
    upstream = str(claim.get("upstream", ""))
    if upstream.startswith(CHANGE_PREFIX):  # onChange: the dependent's own change, by version
        return Trigger.on_change(dependent, upstream.removeprefix(CHANGE_PREFIX), str(claim.get("runId", "")))
    upstreams, runs = upstream.split("+"), str(claim.get("runId", "")).split("+")
    if len(upstreams) != len(runs):
        return None
    try:
        pairs = [(RcKey.parse(u), r) for u, r in zip(upstreams, runs, strict=True)]
    except ValueError:
        return None
    if len(pairs) == 1:
        return Trigger(dependent, *pairs[0])
    planned = claim.get("plannedOn")
    planned_on = (
        [(str(u), None if r is None else str(r)) for u, r in planned.items()]
        if isinstance(planned, dict)
        else []
    )
    return Trigger.fan_in(dependent, pairs, planned_on)


def _other_joins(obj: dict[str, Any], mine: str) -> list[tuple[dict[str, Any], Trigger]]:
    """The dependent's claims on joins other than `mine` that `status.triggers` does not record yet."""
    key = RcKey(str(obj["metadata"].get("namespace")), str(obj["metadata"].get("name")))
    found = []
    for annotation in sorted((obj.get("metadata") or {}).get("annotations") or {}):
        if not annotation.startswith(CLAIM_PREFIX) or annotation == mine:
            continue
        claim = claim_value(obj, annotation) or {}
        other = _claimed_trigger(key, claim)
        if other is not None and other.joined and not consumed(obj, other):
            found.append((claim, other))
    return found


def join_in_flight(obj: dict[str, Any], mine: str, holder: str, now: datetime) -> bool:
    """Another holder's live claim on any join of this dependent: one join is in flight at a time.

    Two sets that share a run, planned a moment apart, would each pass their own claim and consume
    that run twice; two disjoint sets would both start, and the one recorded last is not
    necessarily the newer: `status.triggers` keeps one run per upstream, so the newer join's runs
    would look unconsumed and be joined again (the fault-injection suite found both). Our claim is
    written guarded by the resourceVersion we checked, so of two claimants one sees the other. A
    recorded join's leftover claim does not count.
    """
    return any(
        claim.get("holder") != holder and not expired(claim, now) for claim, _ in _other_joins(obj, mine)
    )


def unsettled_joins(obj: dict[str, Any], mine: str, now: datetime) -> list[tuple[Trigger, str]]:
    """Other joins whose claim expired unrecorded, each with its holder: their run may exist.

    A holder that made a join's run and then died (or lost every answer) leaves only its claim. Its
    event's redelivery may plan a newer set, whose own lookup cannot find that run, so the next
    join claimed on this dependent settles these first (`Chain`): finds the run, records it or
    drops the claim.
    """
    return [
        (other, str(claim.get("holder", "?")))
        for claim, other in _other_joins(obj, mine)
        if expired(claim, now)
    ]


def done(obj: dict[str, Any], trigger: Trigger) -> bool:
    """The rule behind the ledger's DONE: the trigger is consumed, or (a join) superseded since its
    plan. `KubernetesLedger.claim` decides on it and `KubernetesLedger.consumed` reports it."""
    return consumed(obj, trigger) or moved_since_planned(obj, trigger)


def consumed(obj: dict[str, Any], trigger: Trigger) -> bool:
    """The trigger's run is recorded as consumed; for a fan-in, any of its runs is.

    A fan-in set one of whose runs another join has consumed can never start: the dependent waits
    for a new success of that upstream (and a fully consumed set is a plain duplicate).
    """
    triggers = (obj.get("status") or {}).get("triggers") or {}
    if trigger.change is not None:  # onChange: `status.triggers.<change>.version`, as the CRD has it
        return (triggers.get(trigger.change) or {}).get("version") == trigger.upstream_run_id
    entries = triggers.get("runConfigurations") or {}
    return any(_consumed_one(entries, trigger.dependent, u, r) for u, r in trigger.inputs)


def _consumed_one(entries: dict[str, Any], dependent: RcKey, upstream: RcKey, run_id: str) -> bool:
    for name in (str(upstream), upstream.name):
        if (entries.get(name) or {}).get("providerId") == run_id:
            if name == upstream.name and upstream.namespace != dependent.namespace:
                continue
            return True
    return False


def claims_in(obj: dict[str, Any]) -> list[ClaimInfo]:
    """The claims an object carries on triggers not done yet, live or expired, read without the API."""
    metadata = obj.get("metadata") or {}
    key = RcKey(str(metadata.get("namespace") or "default"), str(metadata.get("name") or ""))
    found = []
    done = set(done_claims(obj))
    for annotation in sorted(metadata.get("annotations") or {}):
        if not annotation.startswith(CLAIM_PREFIX) or annotation in done:
            continue
        value = claim_value(obj, annotation) or {}
        try:
            expires: datetime | None = datetime.fromisoformat(str(value.get("expiresAt")))
        except ValueError:
            expires = None
        found.append(
            ClaimInfo(
                key,
                str(value.get("upstream", "?")),
                str(value.get("runId", "?")),
                str(value.get("holder", "?")),
                expires,
            )
        )
    return found


def claim_value(obj: dict[str, Any], annotation: str) -> dict[str, Any] | None:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(annotation)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"holder": "?", "expiresAt": "1970-01-01T00:00:00+00:00"}  # unreadable: treat as expired
    return value if isinstance(value, dict) else None


def expired(claim: dict[str, Any], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(claim.get("expiresAt"))) <= now
    except ValueError:
        return True
