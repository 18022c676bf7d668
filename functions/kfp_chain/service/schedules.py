"""The schedules pass: KFP's recurring runs brought in step with every RunConfiguration's schedules.

Where it sits: the second half of a reconcile pass (`app.reconcile_pass`) when KFP_CHAIN_SCHEDULES
is true. `schedules.py` says what should exist and what to do; this module does it through the
`ScheduleStore` port, one RunConfiguration at a time, so that one that cannot be synced (a bad cron,
endTime before startTime, a pipeline KFP does not know, a missing artifact for a `valueFrom`) is a
counted skip with one Warning Event per cause, and every other is synced.

Order of the writes for one RunConfiguration, and why (docs/plain-kfp.md, "Schedules and onChange"):
1. take `now`, then disable the recurring runs that are no longer wanted (stale) when new ones must
   be made;
2. create each missing recurring run disabled, starting no earlier than `now` when it replaces one;
3. list again; of the copies of one wanted recurring run keep the oldest (`schedules.sync_steps`),
   delete the others, then enable the one kept;
4. delete the stale ones.
Two passes at once can both create a copy, but only the copy every pass agrees to keep is ever
enabled after the others are deleted, so two copies are never both enabled. A pass killed anywhere
leaves what the next pass finishes: a stale one (disabled or not) is still stale, a disabled kept
copy is enabled, an extra copy is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..adapters.ports import Clock, RecurringRun, RecurringRunSpec, ScheduleStore, SystemClock
from ..dependents import DependentsIndex
from ..errors import BadSchedule, DeploymentFault, PermanentError, TemporaryError, UnknownPipeline
from ..observability.metrics import Metrics
from ..parameters import Lookup, resolve_latest
from ..runconfiguration import RcKey, RunConfiguration
from ..schedules import desired, owner_of, replacement_start, schedule_problems, sync_steps
from ..settings import Settings

if TYPE_CHECKING:
    from ..adapters.kfp.launcher import KfpLauncher

__all__ = ["ScheduleReport", "ScheduleSync", "Warn", "build_schedule_sync", "schedules_pass"]

log = logging.getLogger("kfp_chain.schedules")

Warn = Callable[[RcKey, str, str], None]  # (RunConfiguration, Event reason, message): a Warning Event
SKIPPED_REASON = "ScheduleSkipped"


@dataclass
class ScheduleReport:
    """What one schedules pass did; `as_body` is the `schedules` part of a reconcile answer."""

    in_step: int = 0  # RunConfigurations whose recurring runs needed nothing
    created: int = 0
    enabled: int = 0
    disabled: int = 0
    deleted: int = 0
    skipped: list[tuple[RcKey, str, str]] = field(default_factory=list)  # (key, reason, detail)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (what, reason, detail): temporary
    deployment_fault: bool = False

    def as_body(self) -> dict[str, Any]:
        return {
            "inStep": self.in_step,
            "created": self.created,
            "enabled": self.enabled,
            "disabled": self.disabled,
            "deleted": self.deleted,
            "skipped": [{"runConfiguration": str(k), "reason": r, "detail": d} for k, r, d in self.skipped],
            "failed": [{"what": w, "reason": r, "detail": d} for w, r, d in self.failed],
        }


class ScheduleSync:
    """Carries `schedules.sync_steps` out for every RunConfiguration; the only schedules code doing I/O."""

    def __init__(
        self,
        store: ScheduleStore,
        default_experiment: str = "Default",
        allows: Callable[[str], bool] = lambda namespace: True,
        clock: Clock | None = None,
        warn: Warn | None = None,
    ) -> None:
        self.store = store
        self.default_experiment = default_experiment
        self.allows = allows
        self.clock = clock or SystemClock()
        self.warn = warn
        self._told: set[tuple[RcKey, str, str]] = set()  # skips already reported by an Event

    def run(
        self, runconfigurations: Iterable[RunConfiguration], lookup: Lookup, keep: Iterable[RcKey] = ()
    ) -> ScheduleReport:
        """One pass. `keep`: RunConfigurations that exist but could not be read as valid: their
        recurring runs are left alone (a typo must not delete a schedule). Raises TemporaryError only
        when KFP's recurring runs cannot be listed at all."""
        report = ScheduleReport()
        by_owner: dict[RcKey, list[RecurringRun]] = {}
        for run in self.store.marked():
            owner = owner_of(run)
            if owner is not None:
                by_owner.setdefault(owner, []).append(run)
        skipped: set[tuple[RcKey, str, str]] = set()
        for rc in sorted(runconfigurations, key=lambda r: r.key):
            if not self.allows(rc.key.namespace):
                continue
            existing = by_owner.pop(rc.key, [])
            if not rc.schedules and not existing:
                continue
            try:
                wanted = self._wanted(rc, lookup) if rc.schedules else ()
                self._apply(rc.key, wanted, existing, report)
            except PermanentError as exc:
                skip = (rc.key, exc.reason, str(exc))
                skipped.add(skip)
                report.skipped.append(skip)
                self._tell(skip)
            except TemporaryError as exc:
                self._failed(report, str(rc.key), exc)
        kept = set(keep)
        for owner, runs in sorted(by_owner.items()):
            if owner in kept or not self.allows(owner.namespace):
                continue
            for run in runs:  # its RunConfiguration is gone: so are its schedules
                try:
                    self.store.delete(run.recurring_run_id)
                    report.deleted += 1
                except TemporaryError as exc:
                    self._failed(report, str(owner), exc)
        self._told &= skipped  # a cause fixed and back later is told again
        return report

    def _wanted(self, rc: RunConfiguration, lookup: Lookup) -> tuple[RecurringRunSpec, ...]:
        problems = schedule_problems(rc)
        if problems:
            raise BadSchedule("; ".join(problems))
        if not rc.pipeline:
            raise UnknownPipeline(f"{rc.key} names no pipeline in spec.run.pipeline")
        parameters = resolve_latest(rc, lookup).values
        pipeline = self.store.pipeline(rc.pipeline, rc.key)
        experiment = self.store.experiment(rc.experiment or self.default_experiment)
        return desired(rc, pipeline, experiment, parameters)

    def _apply(
        self,
        key: RcKey,
        wanted: tuple[RecurringRunSpec, ...],
        existing: list[RecurringRun],
        report: ScheduleReport,
    ) -> None:
        steps = sync_steps(wanted, existing)
        if steps.idle:
            report.in_step += 1
            return
        if steps.create:
            now = _whole_second(self.clock.now())
            replacing = bool(steps.stale)
            for run in steps.stale:
                if run.enabled:
                    self.store.disable(run.recurring_run_id)
                    report.disabled += 1
            for spec in steps.create:
                self.store.create(spec, replacement_start(spec, replacing, now), enabled=False)
                report.created += 1
                log.info(
                    "created a recurring run",
                    extra={"runConfiguration": str(key), "cron": spec.cron, "digest": spec.digest},
                )
            steps = sync_steps(wanted, [r for r in self.store.marked() if owner_of(r) == key])
        for recurring_run_id in steps.extras:
            self.store.delete(recurring_run_id)
            report.deleted += 1
        for recurring_run_id in steps.enable:
            self.store.enable(recurring_run_id)
            report.enabled += 1
        for run in steps.stale:
            self.store.delete(run.recurring_run_id)
            report.deleted += 1

    def _tell(self, skip: tuple[RcKey, str, str]) -> None:
        key, reason, detail = skip
        log.warning(
            "schedules not synced", extra={"runConfiguration": str(key), "reason": reason, "error": detail}
        )
        if self.warn is None or skip in self._told:
            return
        self._told.add(skip)
        try:
            self.warn(key, SKIPPED_REASON, f"triggers.schedules not synced to KFP ({reason}): {detail}")
        except Exception:  # an Event is a report; it must never stop the pass
            log.exception("could not report a skipped schedule")

    @staticmethod
    def _failed(report: ScheduleReport, what: str, exc: TemporaryError) -> None:
        log.warning("schedules pass hit a temporary fault", extra={"what": what, "error": str(exc)})
        report.failed.append((what, exc.reason, str(exc)))
        report.deployment_fault |= exc.reason == "deployment-fault"


def build_schedule_sync(settings: Settings, launcher: KfpLauncher, warn: Warn | None) -> ScheduleSync:
    """The schedules part of the reconcile App (KFP_CHAIN_SCHEDULES=true), on the launcher's client."""
    from ..adapters.kfp.recurring import KfpScheduleStore

    return ScheduleSync(KfpScheduleStore(launcher), settings.default_experiment, settings.allows, warn=warn)


def schedules_pass(
    sync: ScheduleSync, index: DependentsIndex, keep: Iterable[RcKey], metrics: Metrics
) -> ScheduleReport:
    """The schedules part of a pass, counted; a KFP that cannot list recurring runs fails only this part."""
    try:
        report = sync.run(index.all(), index.get, keep)
    except TemporaryError as exc:
        log.warning("schedules pass could not list KFP's recurring runs: %s", exc)
        report = ScheduleReport(failed=[("recurring runs", exc.reason, str(exc))])
        report.deployment_fault = isinstance(exc, DeploymentFault)
    changes = {"created": report.created, "enabled": report.enabled, "disabled": report.disabled}
    metrics.observe_schedules(changes | {"deleted": report.deleted}, [r for _, r, _ in report.skipped])
    return report


def _whole_second(now: datetime) -> datetime:
    """KFP keeps times in whole seconds: round up, so that the start is never before `now`."""
    return now.replace(microsecond=0) + (timedelta(seconds=1) if now.microsecond else timedelta())
