"""The orchestrating chain: one run-completion event -> at most one run per dependent.

The flow, in this order and only in this direction:
    intake (done by the caller) -> find dependents -> resolve parameters -> claim -> start run -> record

Finding dependents and resolving their parameters is `planning.plan`, pure, and shared with the CLI's
`explain` so that a dry run takes the function's own code path. This module holds only what needs
I/O and time: `handle` carries each plan out through the ports (claim -> start run -> record) and
answers with the values of `outcomes.py`.

Exactly-once protocol, per (dependent, upstream, upstream runId) trigger:
 1. claim it in the ledger (optimistic concurrency); DONE -> a duplicate, HELD -> 5xx and retry;
 2. the holder looks for a KFP run with the trigger's deterministic display name (a previous
    attempt may have created it and lost the answer), and only creates one when none exists;
 3. complete: record `status.triggers.runConfigurations[upstream].providerId = runId`, drop the claim;
 4. any failure releases the claim, so the next delivery starts from step 1.
A claim whose holder died expires after the lease and is taken over; step 2 makes that safe.
`delivery.py` keeps the lease short enough for the broker's last retry to take it over.

A delivery that meets another holder's live claim waits briefly for that holder's outcome
(`ChainOptions.holder_wait_seconds`, inside the delivery's budget) and, still held, asks KFP whether
the trigger's run exists: copies of one event settle in one attempt instead of answering 503 to
each other until the broker dead-letters them (docs/reliability.md, "Copies of one event").

`reconcile` is the level-triggered twin of `handle`: it reads every dependent's
`status.triggers` against its upstreams' `status.latestRuns.succeeded` and carries out each
difference through the very same claim -> find -> create -> complete steps, under the same
trigger identity, so the event path and reconcile can race on any number of replicas and still
start each trigger once. Only the latest success of an upstream is ever looked at: reconcile
catches up, it never replays history.

A fan-in dependent (`kfp-chain.io/trigger-policy: all`, `fan_in.py`) is planned as one trigger over
a set of upstream runs; everything after planning is the same protocol.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import TypeVar

from .adapters.ports import ClaimState, IndexProvider, Launcher, Ledger, Trigger
from .attempts import Delivery, retrying
from .dependents import DependentsIndex
from .errors import CycleRefused, PermanentError, TemporaryError, TriggerInProgress
from .fan_in import Lookup
from .intake import RunCompletion
from .joins import check_input_ages, settle_unrecorded
from .on_change import Change
from .outcomes import ONE_OFF_NOTE, Observer, Outcome, OutcomeKind, Report, Via
from .planning import Plan, plan, plan_one
from .reconcile import ReconcileReport, pending_triggers
from .settings import InitialTrigger

__all__ = ["Chain", "ChainOptions"]

log = logging.getLogger("kfp_chain")
REFUSAL_RECHECK_SECONDS = 600.0  # a refusal nothing visible has changed is decided again this often
MAX_REPLANS = 2  # a join superseded while it was carried out is planned again at most this often
T = TypeVar("T")


@dataclass(frozen=True)
class ChainOptions:
    """The chain's knobs as plain values, so that it never reads the environment (`app` maps settings)."""

    holder: str
    default_experiment: str = "Default"
    claim_lease: timedelta = timedelta(seconds=120)
    retry_budget_seconds: float = 20.0
    record_latest_runs: bool = True
    allows: Callable[[str], bool] = lambda namespace: True
    initial_trigger: InitialTrigger = "run"  # see docs/reliability.md
    reconcile_budget_seconds: float = 40.0  # a pass starts no new trigger after this; the rest wait
    fence_seconds: float = 16.0  # one call's timeouts + clock skew: what a claim must still hold at a create
    holder_wait_seconds: float = 3.0  # an event's wait for a live holder's outcome (docs/reliability.md)


class Chain:
    """Carries plans out through the ports; the only flow code that holds state (what it has told)."""

    def __init__(
        self,
        index: IndexProvider,
        ledger: Ledger,
        launcher: Launcher,
        options: ChainOptions,
        observers: Sequence[Observer] = (),
        sleep: Callable[[float], None] = time.sleep,
        fresh: Lookup | None = None,
    ) -> None:
        self.index = index
        self.ledger = ledger
        self.launcher = launcher
        self.options = options
        self.observers = list(observers)
        self._sleep = sleep
        self.fresh = fresh  # a read of one RunConfiguration straight from its source (fan-in)
        # Reconcile refusals already reported (claim id, reason), so that a trigger refused on
        # every pass (a missing artifact) makes one Event and one count, not one a minute.
        self._skips_told: set[str] = set()
        self._told_lock = threading.Lock()
        # Reconcile refusals by claim id (which names the upstream runs), with the dependent's uid and
        # generation they were decided on and when: a permanent refusal (an unknown pipeline) is decided
        # again once the dependent's spec changed, or after REFUSAL_RECHECK_SECONDS (a pipeline uploaded
        # since changes no RunConfiguration), not on every pass. Status writes (claims) bump no generation.
        self._refused: dict[str, tuple[tuple[object, ...], float, Outcome]] = {}

    def handle(self, event: RunCompletion) -> Report:
        """Carries one event through; raises only `TemporaryError` for faults before any dependent."""
        if event.one_off:
            return Report(event, note=ONE_OFF_NOTE)
        if not event.succeeded:
            log.info(
                "upstream run did not succeed: nothing starts",
                extra={"emitter": str(event.run_configuration), "runId": event.run_id, "outcome": "ignored"},
            )
            return Report(event, note=f"status {event.status}: nothing starts")
        index = self.index.current()
        if self.options.record_latest_runs and event.run_configuration in index:
            self._retrying(
                lambda: self.ledger.record_succeeded(event.run_configuration, event.run_id, event.artifacts),
                deadline=time.monotonic() + self.options.retry_budget_seconds,
            )
        plans = [self._fresh_fan_in(index, event, p) for p in plan(index, event, self.options.allows)]
        if not plans:
            return Report(event, note="nothing depends on this RunConfiguration")
        deadline = time.monotonic() + self.options.retry_budget_seconds
        replan = partial(self._fresh_fan_in, index, event)
        outcomes = tuple(self._carry_out(event, p, deadline, replan=replan) for p in plans)
        return Report(event, outcomes)

    def _fresh_fan_in(self, index: DependentsIndex, event: RunCompletion, planned: Plan) -> Plan:
        """A fan-in is planned again on fresh reads of the dependent and its upstreams.

        The index may lag (a watch, or the list a reconcile pass started with). A join planned on
        an older latest success would start a set of runs older than one already joined (the fault
        suite found it), and when the last two upstreams succeed at the same moment on two replicas
        each must see the other's success: each replica records its own emitter's success before it
        plans, so with fresh reads at least one of them sees both.
        """
        if self.fresh is None or not planned.dependent.fan_in or isinstance(planned.refusal, CycleRefused):
            return planned
        fresh = self.fresh
        try:
            dependent = fresh(planned.dependent.key) or planned.dependent
            return plan_one(index, event, dependent, lambda key: fresh(key) or index.get(key))
        except TemporaryError as exc:  # planning a join on stale reads is what this avoids: retry instead
            return replace(planned, refusal=exc)

    def reconcile(self, index: DependentsIndex) -> ReconcileReport:
        """One level-triggered pass: every pending trigger in `index`, carried out like an event.

        `index` should be freshly read from the source: what it says is only a hint, since each
        claim re-reads the dependent and answers DONE for a trigger completed meanwhile.
        """
        found = pending_triggers(index, self.options.allows)
        pass_deadline = time.monotonic() + self.options.reconcile_budget_seconds
        pending_ids = {p.trigger.claim_id for p in found}
        with self._told_lock:  # forget refusals of triggers no longer pending
            self._skips_told = {t for t in self._skips_told if t.partition(":")[0] in pending_ids}
            self._refused = {k: v for k, v in self._refused.items() if k in pending_ids}
        outcomes: list[Outcome] = []
        for item in found:
            if time.monotonic() >= pass_deadline:
                break  # the rest stay pending: the next pass starts where this one could not
            version = (item.dependent.uid, item.dependent.generation)
            with self._told_lock:
                refused = self._refused.get(item.trigger.claim_id)
            if (
                refused is not None
                and refused[0] == version
                and item.dependent.generation is not None
                and time.monotonic() < refused[1] + REFUSAL_RECHECK_SECONDS
            ):
                outcomes.append(refused[2])  # nothing changed since it was refused: not asked again
                continue
            deadline = min(pass_deadline, time.monotonic() + self.options.retry_budget_seconds)
            event = item.event()
            if item.consumed is None and self.options.initial_trigger == "skip":
                outcomes.append(self._adopt(event, item.trigger, deadline))
            else:
                outcome = self._carry_out(
                    event,
                    self._fresh_fan_in(index, event, plan_one(index, event, item.dependent)),
                    deadline,
                    "reconcile",
                    partial(self._fresh_fan_in, index, event),
                )
                if outcome.outcome == OutcomeKind.SKIPPED:
                    with self._told_lock:
                        self._refused[item.trigger.claim_id] = (
                            version,
                            time.monotonic(),
                            replace(outcome, repeat=True),
                        )
                outcomes.append(outcome)
        return ReconcileReport(tuple(found), tuple(outcomes))

    # -- one dependent ---------------------------------------------------------------
    def _carry_out(
        self,
        event: RunCompletion,
        plan: Plan,
        deadline: float,
        via: Via | None = None,
        replan: Callable[[Plan], Plan] | None = None,
    ) -> Outcome:
        """One plan carried out; a join answered "already triggered" is planned again on fresh reads.

        For a join, DONE also means "superseded": another join was recorded after this one was
        planned, so its runs may still be new, beside the other join's (`replan`, at most
        `MAX_REPLANS` times; the same set planned on the same record again ends it).
        """
        wait = self.options.holder_wait_seconds if via is None else 0.0  # a pass moves on; the next retries
        try:
            outcome = self._attempts(event, plan, deadline, wait)
            for _ in range(MAX_REPLANS):
                if replan is None or not (plan.trigger.joined and outcome.reason == "already-triggered"):
                    break
                fresh = replan(plan)
                if (fresh.trigger, fresh.trigger.planned_on) == (plan.trigger, plan.trigger.planned_on):
                    break  # the same set on the same record: a duplicate indeed
                plan = fresh
                outcome = self._attempts(event, plan, deadline, wait)
            outcome = replace(outcome, via=via)
        except (TemporaryError, PermanentError) as exc:
            outcome = self._made_by_holder(plan, exc, via) or Outcome(
                plan.dependent.key,
                OutcomeKind.RETRY if isinstance(exc, TemporaryError) else OutcomeKind.SKIPPED,
                reason=exc.reason,
                detail=str(exc),
                display_name=plan.trigger.display_name,
                parameters=plan.parameters,
                via=via,
                backend=getattr(exc, "backend", None),
            )
            if via is not None and isinstance(exc, PermanentError):
                told = f"{plan.trigger.claim_id}:{exc.reason}"
                with self._told_lock:
                    outcome = replace(outcome, repeat=told in self._skips_told)
                    self._skips_told.add(told)
        self._tell(event, outcome)
        return outcome

    def _attempts(self, event: RunCompletion, plan: Plan, deadline: float, wait: float) -> Outcome:
        """Every attempt of one plan within the delivery's budget, under one holder.

        One holder per delivery and plan, not per process and not per attempt: two threads of one
        replica handling the same redelivered event exclude each other as two replicas do, while
        this delivery's own in-request retries find the claim they left and carry on with it.
        """
        if plan.refusal is not None:
            raise plan.refusal
        holder = f"{self.options.holder}/{uuid.uuid4().hex[:12]}"
        delivery = Delivery()
        return self._retrying(lambda: self._trigger(plan, holder, delivery, event), deadline, wait)

    def on_change(self, changes: Sequence[Change], lookup: Lookup) -> tuple[Outcome, ...]:
        """onChange triggers (`on_change.py`), each carried out like a pending trigger of reconcile:
        the same claim -> find -> create -> complete, and first sight as KFP_CHAIN_INITIAL_TRIGGER says."""
        outcomes = []
        for change in changes:
            deadline = time.monotonic() + self.options.retry_budget_seconds
            event = change.event()
            if change.consumed is None and self.options.initial_trigger == "skip":
                outcomes.append(self._adopt(event, change.trigger, deadline, "on-change"))
            else:
                outcomes.append(self._carry_out(event, change.plan(lookup), deadline, "on-change"))
        return tuple(outcomes)

    def _made_by_holder(
        self, plan: Plan, exc: TemporaryError | PermanentError, via: Via | None
    ) -> Outcome | None:
        """A trigger still held after the wait whose run exists: a duplicate, not a 503.

        The holder made the run and is recording it, or has recorded it where this delivery cannot
        see it: `status.triggers` keeps only the latest run consumed per upstream, so an older
        trigger's completion leaves only its claim, live until the lease runs out. Without this
        lookup every copy meeting that claim answered 503 for a whole lease. A fan-in's pairs must
        be recorded before its run counts, and reconcile simply comes back: neither asks.
        """
        if not isinstance(exc, TriggerInProgress) or via is not None or plan.trigger.joined:
            return None
        try:
            run_id = self.launcher.find_run(plan.trigger.display_name)
        except (TemporaryError, PermanentError):
            return None
        if run_id is None:
            return None
        return Outcome(
            plan.dependent.key,
            OutcomeKind.DUPLICATE,
            reason="run-already-existed",
            run_id=run_id,
            display_name=plan.trigger.display_name,
            parameters=plan.parameters,
        )

    def _adopt(
        self, event: RunCompletion, trigger: Trigger, deadline: float, via: Via = "reconcile"
    ) -> Outcome:
        """First sight with KFP_CHAIN_INITIAL_TRIGGER=skip (an upstream's success, a change): record, run nothing."""
        holder = f"{self.options.holder}/{uuid.uuid4().hex[:12]}"

        def adopt() -> Outcome:
            state = self.ledger.claim(trigger, holder, self.options.claim_lease)
            if state is ClaimState.HELD:
                raise TriggerInProgress(f"{trigger.display_name!r} is being started by another replica")
            if state is ClaimState.ACQUIRED:
                try:
                    self.ledger.complete(trigger, holder, None)
                except Exception:
                    self._release(trigger, holder)
                    raise
            return Outcome(
                trigger.dependent,
                OutcomeKind.ADOPTED,
                reason="initial-trigger-skipped",
                display_name=trigger.display_name,
            )

        try:
            outcome = replace(self._retrying(adopt, deadline), via=via)
        except TemporaryError as exc:
            outcome = Outcome(
                trigger.dependent, OutcomeKind.RETRY, reason=exc.reason, detail=str(exc), via=via
            )
        self._tell(event, outcome)
        return outcome

    def _tell(self, event: RunCompletion, outcome: Outcome) -> None:
        """Reports a decision to every observer; the decision stands whatever an observer does."""
        for observer in self.observers:
            try:
                observer.on_outcome(event, outcome)
            except Exception:  # an observer must never turn a handled event into a failure
                log.exception("observer failed", extra={"observer": type(observer).__name__})

    def _trigger(
        self, plan: Plan, holder: str, delivery: Delivery, event: RunCompletion | None = None
    ) -> Outcome:
        """claim -> find -> create -> complete for one trigger; every way out leaves the claim done or free
        (or, for a join whose run may exist, held until a retry or a takeover records it)."""
        trigger = plan.trigger
        claimed = time.monotonic()  # before the write: the claim's expiresAt is at least this + lease
        state = self.ledger.claim(trigger, holder, self.options.claim_lease)
        if state is ClaimState.DONE:
            return Outcome(
                plan.dependent.key,
                OutcomeKind.DUPLICATE,
                reason="already-triggered",
                display_name=trigger.display_name,
            )
        if state is ClaimState.HELD:
            raise TriggerInProgress(f"{trigger.display_name!r} is being started by another replica")
        try:
            if trigger.joined and settle_unrecorded(self.ledger, self.launcher, trigger, holder):
                self._release(trigger, holder)  # planned before the join just recorded: superseded
                return Outcome(
                    plan.dependent.key,
                    OutcomeKind.DUPLICATE,
                    reason="already-triggered",
                    detail="another join of this dependent, left unrecorded by its holder, was recorded first",
                    display_name=trigger.display_name,
                )
            if plan.dependent.fan_in_max_age is not None and trigger.joined:
                check_input_ages(self.launcher, plan, plan.dependent.fan_in_max_age, event)
            run_id = self.launcher.find_run(trigger.display_name)
            found = run_id is not None
            delivery.run_may_exist |= found
            if run_id is None:
                if (
                    time.monotonic() - claimed
                    > self.options.claim_lease.total_seconds() - self.options.fence_seconds
                ):
                    self._renew(trigger, holder)
                delivery.run_may_exist = True
                run_id = self.launcher.start_run(plan.request(self.options.default_experiment))
            self.ledger.complete(trigger, holder, run_id)
        except Exception:  # whatever happened, the next delivery must be able to claim it
            # ... except a fan-in's, once its run may exist: until this delivery's retry (same
            # holder) or a takeover after the lease finds the run and records its pairs, the claim
            # is all that keeps another set sharing one of them from starting (the fault suite found
            # a run made, its answer lost, the claim released, and an overlapping set started). Any
            # attempt of this delivery counts: a retry whose lookup fails has made nothing itself, but
            # the run an earlier attempt made may exist all the same (the soak found that gap too).
            if not (trigger.joined and delivery.run_may_exist):
                self._release(trigger, holder)
            raise
        return Outcome(
            plan.dependent.key,
            OutcomeKind.DUPLICATE if found else OutcomeKind.STARTED,
            reason="run-already-existed" if found else None,
            run_id=run_id,
            display_name=trigger.display_name,
            parameters=plan.parameters,
        )

    def _renew(self, trigger: Trigger, holder: str) -> None:
        """Extends the claim right before the create, and stops if it is no longer ours.

        Only when the lookup was slow: a create must start with at least one call's timeouts (and
        the clock skew) of lease ahead of it, or a replica that took the claim over could create the
        same run. A claim written moments ago has that already, and skipping the write saves a
        round trip per run (settings enforce that a fresh lease outlasts one create).
        """
        state = self.ledger.claim(trigger, holder, self.options.claim_lease)
        if state is ClaimState.DONE:
            raise TriggerInProgress(f"{trigger.display_name!r} was completed by another replica meanwhile")
        if state is ClaimState.HELD:
            raise TriggerInProgress(f"the claim on {trigger.display_name!r} expired and was taken over")

    def _release(self, trigger: Trigger, holder: str) -> None:
        try:
            self.ledger.release(trigger, holder)
        except TemporaryError as exc:  # the lease will expire; the next delivery takes it over
            log.warning("could not release claim", extra={"trigger": trigger.display_name, "error": str(exc)})

    def _retrying(self, work: Callable[[], T], deadline: float, holder_wait: float = 0.0) -> T:
        return retrying(work, deadline, holder_wait, self._sleep)
