"""The poll of plain KFP: hear runs end, find their RunConfiguration, hand them to the chain.

Where it sits: `on_kfp_poll` (a PingSource's tick) and `kfp-chain poll` call `Poller.pass_once`; the
Workflow nudge calls `Poller.handle_run` for one run it heard of. Both end in `Chain.handle`, the
path every run-completion takes (the same claim, run name, find-before-create and `status`
records), so a run heard twice (overlapping passes, two pollers, a pass killed half-way, the event
path beside it) starts each dependent once.

One pass: load the mark (`watermark.py`), list every namespace's terminal runs with `finished_at >=
mark - lookback` oldest first, skip those the mark has handled, and for each of the rest:
- no owner (`ownership.owner`): skipped and counted by reason;
- FAILED or CANCELED: logged and counted, nothing starts (the CRD's `latestRuns` has only `succeeded`);
- SUCCEEDED: its outputs are read through the `ArtifactResolver`, the owner's declared artifacts
  picked out (`artifact_paths.select`), and a `RunCompletion` handed to the chain, which records
  `status.latestRuns.succeeded` and starts the dependents.
A temporary fault for one run (the artifact store down or not knowing the run yet, a dependent the
chain answers RETRY for) leaves that run waiting: the mark does not pass it and the next pass tries
again; the other runs go on. The mark is saved every `SAVE_EVERY` runs and at the end, merged with
whatever another poller saved meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..adapters.ports import ArtifactResolver, FinishedRun, IndexProvider, MarkStore, RunLister
from ..artifact_paths import select
from ..chain import Chain
from ..dependents import DependentsIndex
from ..errors import TemporaryError
from ..intake import RunCompletion, RunStatus
from ..ownership import Ownership, owner
from ..runconfiguration import RcKey, RunConfiguration
from ..watermark import Done, Mark, advance, listed_since, unhandled

__all__ = ["KfpRuns", "PollOptions", "PollReport", "Poller", "RunResult"]

log = logging.getLogger("kfp_chain.poll")
SAVE_EVERY = 100
WORKERS = 8  # owners handled at once: one owner's runs stay in order (latestRuns moves forward)
SOURCE = "kfp-chain/poll"


class KfpRuns(RunLister, Protocol):
    """A `RunLister` with the lookups the ownership rule needs (`adapters/kfp/runs.py`)."""

    def recurring_run_description(self, recurring_run_id: str) -> str | None: ...

    def pipeline_name(self, pipeline_id: str) -> str | None: ...

    def experiment_name(self, experiment_id: str) -> str | None: ...


class RunResult:
    """What a pass did with one listed run: the `result` label of `kfp_chain_poll_runs_total`."""

    HANDLED = "handled"  # a succeeded run handed to the chain
    FAILED = "failed"  # FAILED or CANCELED: nothing starts
    SKIPPED = "skipped"  # no owner (the reason says why)
    WAITING = "waiting"  # a temporary fault: the next pass tries again
    GIVEN_UP = "given-up"  # waited past `PollOptions.give_up`: logged as an error, the mark moves on
    ALREADY = "already-handled"  # the mark had it


@dataclass(frozen=True)
class PollOptions:
    lookback: timedelta = timedelta(seconds=900)
    give_up: timedelta = timedelta(hours=24)  # a run still waiting this long after it finished is given up
    multi_user: bool = False
    namespaces: tuple[str, ...] = ()  # RUNCONFIGURATION_NAMESPACES; empty: those of known RunConfigurations
    kfp_namespace: str | None = None
    default_experiment: str = "Default"
    budget_seconds: float = 50.0  # a pass decides no new run after this; the mark waits for the rest
    pipeline_of: Callable[[RunConfiguration], str] = lambda rc: rc.pipeline.partition(":")[0]


@dataclass
class PollReport:
    """One pass (or one nudged run): counts for the answer, the metrics and the CLI's exit status."""

    dry_run: bool = False
    nudge: bool = False  # one run the Workflow nudge named, not a pass
    seen: int = 0
    results: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    started: int = 0  # dependent runs the chain started
    fault: str | None = None  # what stopped the pass (listing or the mark), if anything
    runs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, result: str, reason: str | None = None) -> None:
        with self._lock:
            self.results[result] = self.results.get(result, 0) + 1
            if reason is not None and result == RunResult.SKIPPED:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def entry(self, run: FinishedRun) -> dict[str, Any]:
        entry: dict[str, Any] = {"runId": run.run_id, "state": run.state}
        with self._lock:
            self.runs.append(entry)
        return entry

    def done(self, entry: dict[str, Any], result: str, reason: str | None = None) -> str:
        entry["result"] = result
        if reason is not None:
            entry["reason"] = reason
        self.count(result, reason)
        return result

    def add_started(self, count: int) -> None:
        with self._lock:
            self.started += count

    def as_body(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "seen": self.seen,
            "results": self.results,
            "skipped": self.skipped,
            "started": self.started,
            "fault": self.fault,
            "seconds": round(self.seconds, 3),
            "runs": self.runs,
        }


class _Snapshot:
    """One index for a whole pass: a list index would re-read every RunConfiguration per run."""

    def __init__(self, index: DependentsIndex) -> None:
        self.index = index

    def current(self) -> DependentsIndex:
        return self.index

    def ready(self) -> bool:
        return True


class Poller:
    def __init__(
        self,
        chain: Chain,
        runs: KfpRuns,
        marks: MarkStore,
        resolver: Callable[[], ArtifactResolver],
        options: PollOptions,
        observe: Callable[[PollReport], None] = lambda report: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.chain, self.runs, self.marks = chain, runs, marks
        self._resolver, self._resolved = resolver, None  # made on first use: a SUCCEEDED run with artifacts
        self.options, self.observe, self.clock = options, observe, clock

    @property
    def index(self) -> IndexProvider:
        return self.chain.index

    @property
    def resolver(self) -> ArtifactResolver:
        if self._resolved is None:
            self._resolved = self._resolver()  # type: ignore[assignment]
        assert self._resolved is not None
        return self._resolved

    # -- entry points -----------------------------------------------------------------------------
    def pass_once(self, dry_run: bool = False) -> PollReport:
        """One pass; never raises for a fault of KFP, the store or the index (`report.fault` says)."""
        started = time.monotonic()
        report = PollReport(dry_run=dry_run)
        try:
            self._pass(report, started)
        except TemporaryError as exc:
            report.fault = f"{exc.reason}: {exc}"
            log.warning("poll pass stopped by a fault: %s", exc)
        report.seconds = time.monotonic() - started
        self.observe(report)
        return report

    def handle_run(self, run_id: str, namespace: str | None = None) -> PollReport:
        """One run heard of by the nudge, handled now through the same path as a pass."""
        started = time.monotonic()
        report = PollReport(nudge=True)
        try:
            run = self.runs.get(run_id, namespace)
            if run is None or not run.terminal or run.finished_at is None:
                report.runs.append({"runId": run_id, "result": "not-finished" if run else "unknown-run"})
            else:
                report.seen = 1
                mark = self.marks.load()
                index = self.index.current()
                done: Done = (run.run_id, run.finished_at)
                if not unhandled(mark, [done], self.options.lookback):
                    report.count(RunResult.ALREADY)
                else:
                    result = self._decide(run, index, mark, report, dry_run=False)
                    waiting = [done] if result == RunResult.WAITING else []
                    handled = [] if waiting else [done]
                    self.marks.save(advance(mark, [], handled, waiting, self.options.lookback))
        except TemporaryError as exc:
            report.fault = f"{exc.reason}: {exc}"
        report.seconds = time.monotonic() - started
        self.observe(report)
        return report

    # -- a pass -----------------------------------------------------------------------------------
    def _pass(self, report: PollReport, started: float) -> None:
        mark = self.marks.load()
        index: DependentsIndex | None = None
        if self.options.multi_user and not self.options.namespaces:
            index = self.index.current()  # the namespaces to list are those of the RunConfigurations
        since = listed_since(mark, self.options.lookback, self.clock())
        found: dict[Done, FinishedRun] = {}
        for namespace in self._namespaces(index):
            for run in self.runs.finished_since(since, namespace):
                if run.finished_at is not None:
                    found.setdefault((run.run_id, run.finished_at), run)
        report.seen = len(found)
        todo = unhandled(mark, found, self.options.lookback)
        for _ in range(len(found) - len(todo)):
            report.count(RunResult.ALREADY)
        if not todo:  # nothing new: no RunConfiguration read, no mark written
            return
        if index is None:
            index = self.index.current()
        adopters = [rc for rc in index.all() if rc.adopt_runs]
        listed: list[Done] = [d for d in found if d not in todo]
        deadline = started + self.options.budget_seconds
        for first in range(0, len(todo), SAVE_EVERY):
            chunk = todo[first : first + SAVE_EVERY]
            results = self._chunk([found[d] for d in chunk], index, adopters, mark, report, deadline)
            handled = [d for d in chunk if results.get(d) not in (None, RunResult.WAITING)]
            waiting = [d for d in chunk if d not in handled]  # a fault, or out of time: the mark waits
            mark = advance(mark, listed + chunk, handled, waiting, self.options.lookback)
            listed = []
            if not report.dry_run:
                mark = self.marks.save(mark)
            if time.monotonic() > deadline:
                log.warning(
                    "poll pass out of time: %d runs left for the next pass", len(todo) - first - len(chunk)
                )
                break

    def _chunk(
        self,
        runs: list[FinishedRun],
        index: DependentsIndex,
        adopters: list[RunConfiguration],
        mark: Mark,
        report: PollReport,
        deadline: float,
    ) -> dict[Done, str]:
        """Decides `runs`: owners first, then each owner's runs oldest first, owners in parallel."""
        results: dict[Done, str] = {}
        groups: dict[RcKey, list[tuple[FinishedRun, dict[str, Any]]]] = {}
        for run in runs:
            assert run.finished_at is not None
            key, result, entry = self._classify(run, index, adopters, report)
            if key is None or report.dry_run:
                results[(run.run_id, run.finished_at)] = result
            else:
                groups.setdefault(key, []).append((run, entry))

        def one_owner(items: list[tuple[FinishedRun, dict[str, Any]]]) -> None:
            for run, entry in items:
                if time.monotonic() > deadline:
                    return
                assert run.finished_at is not None
                results[(run.run_id, run.finished_at)] = self._hand(run, index, mark, report, entry)

        if len(groups) <= 1:
            for items in groups.values():
                one_owner(items)
        else:
            with ThreadPoolExecutor(min(WORKERS, len(groups)), thread_name_prefix="kfp-chain-poll") as pool:
                for future in [pool.submit(one_owner, items) for items in groups.values()]:
                    future.result()
        return results

    def _namespaces(self, index: DependentsIndex | None) -> list[str | None]:
        """Multi-user KFP lists runs per namespace: those served, else those of known RunConfigurations."""
        if not self.options.multi_user:
            return [None]
        names = set(self.options.namespaces)
        if not names and index is not None:
            names = {rc.key.namespace for rc in index.all()}
        if self.options.kfp_namespace:
            names.add(self.options.kfp_namespace)
        return [*sorted(names)]

    def _decide(
        self, run: FinishedRun, index: DependentsIndex, mark: Mark, report: PollReport, dry_run: bool
    ) -> str:
        """What becomes of one run not handled yet; the result says whether the mark may pass it."""
        adopters = [rc for rc in index.all() if rc.adopt_runs]
        key, result, entry = self._classify(run, index, adopters, report)
        if key is None or dry_run:
            return result
        return self._hand(run, index, mark, report, entry)

    def _classify(
        self, run: FinishedRun, index: DependentsIndex, adopters: list[RunConfiguration], report: PollReport
    ) -> tuple[RcKey | None, str, dict[str, Any]]:
        """(the owner of a SUCCEEDED run, or None with the result for every other run; the report entry)."""
        entry = report.entry(run)
        try:
            ownership = self._owner(run, index, adopters)
        except TemporaryError as exc:
            return None, self._waits(run, entry, report, exc.reason), entry
        if ownership.key is None:
            return None, report.done(entry, RunResult.SKIPPED, str(ownership.skip)), entry
        entry.update(runConfiguration=str(ownership.key), rule=str(ownership.rule))
        if run.state != "SUCCEEDED":
            log.info(
                "upstream run did not succeed: nothing starts",
                extra={"emitter": str(ownership.key), "runId": run.run_id, "state": run.state},
            )
            return None, report.done(entry, RunResult.FAILED), entry
        if report.dry_run:
            return ownership.key, report.done(entry, RunResult.HANDLED), entry
        return ownership.key, RunResult.HANDLED, entry

    def _hand(
        self, run: FinishedRun, index: DependentsIndex, mark: Mark, report: PollReport, entry: dict[str, Any]
    ) -> str:
        """A SUCCEEDED run to the chain as its owner's run-completion; WAITING on a temporary fault."""
        rc = index.get(RcKey.parse(entry["runConfiguration"]))
        assert rc is not None  # ownership.owner checked it exists
        try:
            event = self._completion(run, rc)
            answer = self._chain(index, rc, run, mark).handle(event)
        except TemporaryError as exc:
            log.warning("run waits for the next pass: %s", exc, extra={"runId": run.run_id})
            return self._waits(run, entry, report, exc.reason)
        entry["dependents"] = [o.as_json() for o in answer.outcomes]
        report.add_started(sum(1 for o in answer.outcomes if o.outcome == "started"))
        if answer.retry:
            return self._waits(run, entry, report, "dependent-retry")
        entry["artifacts"] = len(event.artifacts)
        return report.done(entry, RunResult.HANDLED)

    def _waits(self, run: FinishedRun, entry: dict[str, Any], report: PollReport, reason: str) -> str:
        """WAITING, or GIVEN_UP once the run finished longer than `give_up` ago.

        A waiting run holds the mark, and every pass lists from it: one run whose outputs ML Metadata
        never records (its context lost, a v1 run) or whose dependent never starts would hold the
        poll for ever and make each pass list more. Past `give_up` it is reported as an error, counted
        (`kfp_chain_poll_runs_total{result="given-up"}`), and the mark moves on.
        """
        assert run.finished_at is not None
        waited = self.clock() - run.finished_at
        if waited <= self.options.give_up:
            return report.done(entry, RunResult.WAITING, reason)
        log.error(
            "gave up on a run that could not be handled since it finished: its dependents do not start",
            extra={
                "runId": run.run_id,
                "finishedAt": _iso(run.finished_at),
                "reason": reason,
                "waitedSeconds": round(waited.total_seconds()),
            },
        )
        return report.done(entry, RunResult.GIVEN_UP, reason)

    def _owner(self, run: FinishedRun, index: DependentsIndex, adopters: list[RunConfiguration]) -> Ownership:
        return owner(
            run,
            index.get,
            adopters,
            self.runs.recurring_run_description,
            self.runs.pipeline_name,
            self.runs.experiment_name,
            self.options.pipeline_of,
            self.options.default_experiment,
            self.options.multi_user,
        )

    def _completion(self, run: FinishedRun, rc: RunConfiguration) -> RunCompletion:
        """The run-completion kfp-operator's provider would have sent for this run."""
        artifacts: tuple[Any, ...] = ()
        if rc.artifacts:
            found, missing = select(rc.artifacts, self.resolver.outputs(run.run_id))
            if missing:
                log.warning(
                    "declared artifacts not among the run's outputs",
                    extra={"emitter": str(rc.key), "runId": run.run_id, "missing": list(missing)},
                )
            artifacts = found
        return RunCompletion(
            run_configuration=rc.key,
            status=RunStatus.SUCCEEDED,
            run_id=run.run_id,
            run_name=run.display_name or None,
            pipeline=rc.pipeline,
            artifacts=artifacts,
            provider="kfp",
            run_start_time=_iso(run.created_at),
            run_end_time=_iso(run.finished_at),
            source=SOURCE,
        )

    def _chain(self, index: DependentsIndex, rc: RunConfiguration, run: FinishedRun, mark: Mark) -> Chain:
        """The chain for one run, on the pass's index; it records `latestRuns.succeeded` only forward.

        A run handled again (its mark entry lost) must not move `latestRuns.succeeded` back to it
        when the RunConfiguration already records a run the mark knows finished later.
        """
        options = self.chain.options
        latest = rc.latest_succeeded_run
        finished = run.finished_at
        if (
            latest
            and latest != run.run_id
            and finished is not None
            and any(r == latest and f > finished for r, f in mark.handled)
        ):
            options = replace(options, record_latest_runs=False)
        return Chain(
            _Snapshot(index),
            self.chain.ledger,
            self.chain.launcher,
            options,
            self.chain.observers,
            fresh=self.chain.fresh,
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
