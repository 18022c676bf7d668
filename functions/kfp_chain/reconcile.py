"""Which triggers are pending: the level-triggered reading of the RunConfigurations' status.

Pure. A trigger (dependent D, upstream U, U's run R) is pending when R is U's
`status.latestRuns.succeeded.providerId` and D's `status.triggers.runConfigurations[U].providerId`
is not R — kfp-operator's own rule for when a dependent is due. `Chain.reconcile` carries each one
out as if R's run-completion event had just arrived (`Pending.event`), so the parameters come from
U's latest succeeded artifacts, exactly what the event would have carried.

Only U's latest success is ever pending: an older run that D never consumed is history, and
reconcile does not replay it.

A fan-in dependent (trigger policy `all`) has at most one pending trigger: the set of every
upstream's latest success, pending when each of them is new to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .adapters.ports import Trigger
from .dependents import DependentsIndex
from .intake import RunCompletion, RunStatus
from .outcomes import Outcome, OutcomeKind
from .runconfiguration import RcKey, RunConfiguration

__all__ = ["RECONCILE_SOURCE", "Pending", "ReconcileReport", "pending_triggers"]

RECONCILE_SOURCE = "kfp-chain/reconcile"
# The outcomes after which a trigger is no longer pending: its run exists, or it is adopted.
CONSUMED = frozenset({OutcomeKind.STARTED, OutcomeKind.DUPLICATE, OutcomeKind.ADOPTED})


@dataclass(frozen=True)
class Pending:
    dependent: RunConfiguration
    upstream: RunConfiguration  # for a fan-in, the first upstream of the set (the order is stable)
    consumed: str | None  # the upstream run the dependent last consumed; None: never one
    joined: tuple[tuple[RcKey, str], ...] = ()  # fan-in: every (upstream, latest run) of the set

    @property
    def run_id(self) -> str:
        assert self.upstream.latest_succeeded_run is not None
        return self.upstream.latest_succeeded_run

    @property
    def trigger(self) -> Trigger:
        if self.joined:
            return Trigger.fan_in(self.dependent.key, self.joined)
        return Trigger(self.dependent.key, self.upstream.key, self.run_id)

    def event(self) -> RunCompletion:
        """The run-completion event this trigger would have come with."""
        return RunCompletion(
            run_configuration=self.upstream.key,
            status=RunStatus.SUCCEEDED,
            run_id=self.run_id,
            artifacts=self.upstream.latest_succeeded_artifacts,
            provider=self.upstream.provider,
            event_id=f"reconcile:{self.trigger.claim_id}",
            source=RECONCILE_SOURCE,
        )

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "dependent": str(self.dependent.key),
            "upstream": str(self.upstream.key),
            "runId": self.run_id,
            "consumed": self.consumed,
            "displayName": self.trigger.display_name,
        }
        if self.joined:
            body["joins"] = {str(u): r for u, r in self.joined}
        return body


def pending_triggers(index: DependentsIndex, allows: Callable[[str], bool] = lambda _: True) -> list[Pending]:
    """Every pending trigger in `index`, in a stable order (dependent, then upstream)."""
    return sorted(_pending(index, allows), key=lambda p: (p.dependent.key, p.upstream.key))


def _pending(index: DependentsIndex, allows: Callable[[str], bool]) -> Iterator[Pending]:
    for dependent in index.all():
        if not allows(dependent.key.namespace):
            continue
        if dependent.fan_in:
            yield from _pending_join(index, dependent)
            continue
        for upstream_key in dependent.triggered_by:
            upstream = index.get(upstream_key)
            if upstream is None or upstream.latest_succeeded_run is None:
                continue
            consumed = dependent.triggers_consumed.get(upstream_key)
            if consumed != upstream.latest_succeeded_run:
                yield Pending(dependent, upstream, consumed)


def _pending_join(index: DependentsIndex, dependent: RunConfiguration) -> Iterator[Pending]:
    upstreams = []
    for key in sorted(dependent.triggered_by):
        upstream = index.get(key)
        if upstream is None or upstream.latest_succeeded_run is None:
            return  # an upstream without a success: nothing to join yet
        if dependent.triggers_consumed.get(key) == upstream.latest_succeeded_run:
            return  # not every upstream has a new success
        upstreams.append(upstream)
    if not upstreams:
        return
    consumed = dependent.triggers_consumed.get(upstreams[0].key)
    never = all(dependent.triggers_consumed.get(u.key) is None for u in upstreams)
    joined = tuple((u.key, u.latest_succeeded_run) for u in upstreams if u.latest_succeeded_run)
    yield Pending(dependent, upstreams[0], None if never else (consumed or ""), joined)


@dataclass(frozen=True)
class ReconcileReport:
    pending: tuple[Pending, ...] = ()
    outcomes: tuple[Outcome, ...] = field(default=())

    def count(self, kind: OutcomeKind) -> int:
        return sum(1 for o in self.outcomes if o.outcome == kind)

    @property
    def remaining(self) -> int:
        """Triggers still pending after this pass: not reached, refused for now, or hit a fault."""
        return len(self.pending) - sum(1 for o in self.outcomes if o.outcome in CONSUMED)

    @property
    def faulted(self) -> bool:
        """A backend refused our credentials: the pass answers 5xx so the failure is seen."""
        return any(o.outcome == OutcomeKind.RETRY and o.reason == "deployment-fault" for o in self.outcomes)

    def as_body(self) -> dict[str, object]:
        retries = [o for o in self.outcomes if o.outcome == OutcomeKind.RETRY]
        held = sum(1 for o in retries if o.reason == "trigger-in-progress")
        return {
            "pending": len(self.pending),
            "started": self.count(OutcomeKind.STARTED),
            "duplicates": self.count(OutcomeKind.DUPLICATE),
            "adopted": self.count(OutcomeKind.ADOPTED),
            "skipped": self.count(OutcomeKind.SKIPPED),
            "held": held,
            "failed": len(retries) - held,
            "remaining": self.remaining,
            "triggers": [o.as_json() for o in self.outcomes],
        }
