"""Prometheus metrics: what the function did, in numbers a dashboard and an alert can use.

Where it sits: the HTTP boundary (`app.respond`) counts every request it answers and times it;
`MetricsObserver` hears every per-dependent decision of the chain; `MeasuredIndex` (or an index
provider itself, through `Metrics.observe_index`) reports the index's size and age. `functions/
main.py` serves `GET /metrics` in the Prometheus text format from the App's own registry.

Each App owns a `CollectorRegistry` of its own rather than the process-global default one, so
two Apps in one test process never share counts and nothing else in the process (kfp, gunicorn)
leaks series into our scrape. Labels are bounded on purpose: outcome, reason and namespace, never
run ids or RunConfiguration names, so the series count does not grow with traffic.
The metric names are listed in docs/operability.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..adapters.ports import IndexProvider
from ..dependents import DependentsIndex
from ..intake import RunCompletion
from ..outcomes import Outcome, OutcomeKind

__all__ = [
    "CONTENT_TYPE_LATEST",
    "AnswerClass",
    "MeasuredIndex",
    "Metrics",
    "MetricsObserver",
    "PassResult",
    "PollMetrics",
]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class AnswerClass(StrEnum):
    """The outcome label of a request: what the broker does next, not the exact status code."""

    HANDLED = "handled"  # 2xx: done, never redelivered
    REJECTED = "rejected"  # 4xx: unusable, never redelivered
    RETRY = "retry"  # 503: a temporary fault, redelivered
    ERROR = "error"  # any other 5xx: a bug, redelivered


class PassResult(StrEnum):
    """The result label of a reconcile pass; `PARTIAL` is normal, `FAILED` needs someone."""

    CLEAN = "clean"  # nothing left pending
    PARTIAL = "partial"  # some triggers still pending: the next pass takes them
    FAILED = "failed"  # the RunConfigurations could not be read


def answer_class(http_status: int) -> AnswerClass:
    """Four classes, not the status code: the broker acts on the class, and the series stay bounded."""
    if http_status < 300:
        return AnswerClass.HANDLED
    if http_status < 500:
        return AnswerClass.REJECTED
    return AnswerClass.RETRY if http_status == 503 else AnswerClass.ERROR


class Metrics:
    """Every kfp-chain series, in one registry per App."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._by_request: dict[tuple[str, str], tuple[Any, Any]] = {}
        r = self.registry
        self.events_received = Counter(
            "kfp_chain_events_received",
            "Requests answered at the HTTP boundary, by event status and by what the broker is told.",
            ["status", "outcome"],
            registry=r,
        )
        self.events_rejected = Counter(
            "kfp_chain_events_rejected",
            "Requests refused as unusable (4xx, never redelivered), by HTTP status code.",
            ["code"],
            registry=r,
        )
        self.handling_seconds = Histogram(
            "kfp_chain_event_handling_seconds",
            "Time from request to answer, parsing and every dependent included.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.triggers_started = Counter(
            "kfp_chain_triggers_started",
            "Dependent runs started, by the dependent's namespace.",
            ["namespace"],
            registry=r,
        )
        self.duplicates = Counter(
            "kfp_chain_duplicates_suppressed",
            "Triggers not started again because this upstream run already triggered them.",
            ["reason"],
            registry=r,
        )
        self.skipped = Counter(
            "kfp_chain_triggers_skipped",
            "Triggers that cannot start whatever is retried (acknowledged), by reason.",
            ["reason"],
            registry=r,
        )
        self.failures = Counter(
            "kfp_chain_trigger_failures",
            "Triggers that hit a temporary fault (the event is answered 503 and redelivered), by reason.",
            ["reason"],
            registry=r,
        )
        self.deployment_faults = Counter(
            "kfp_chain_deployment_faults",
            "Calls KFP or Kubernetes refused with 401/403 (or 422 on our write): an expired token or a "
            "missing RBAC verb. Each leaves its trigger pending and answers 5xx; alert on any increase.",
            ["backend"],
            registry=r,
        )
        self.pending_triggers = Gauge(
            "kfp_chain_pending_triggers",
            "Triggers the last reconcile pass found pending (an upstream's latest success a dependent "
            "has not consumed), and those still pending after it.",
            ["when"],
            registry=r,
        )
        self.reconcile_passes = Counter(
            "kfp_chain_reconcile_passes",
            "Reconcile passes, by result: clean (nothing left), partial (some triggers still pending) "
            "or failed (the pass could not read the RunConfigurations).",
            ["result"],
            registry=r,
        )
        self.reconcile_started = Counter(
            "kfp_chain_reconcile_runs_started",
            "Runs started by reconcile rather than by an event: each one is a trigger the event path missed.",
            ["namespace"],
            registry=r,
        )
        self.schedule_changes = Counter(
            "kfp_chain_schedule_changes",
            "KFP recurring runs kfp-chain created, enabled, disabled or deleted to follow triggers.schedules.",
            ["action"],
            registry=r,
        )
        self.schedules_skipped = Counter(
            "kfp_chain_schedules_skipped",
            "RunConfigurations whose schedules a reconcile pass could not sync (bad cron, endTime before "
            "startTime, unknown pipeline, ...), by reason; the others are synced.",
            ["reason"],
            registry=r,
        )
        self.index_size = Gauge(
            "kfp_chain_index_runconfigurations",
            "RunConfigurations in the dependents index.",
            registry=r,
        )
        self.index_staleness = Gauge(
            "kfp_chain_index_staleness_seconds",
            "Seconds since the dependents index was last confirmed by its source (+Inf before the first "
            "list; always 0 in list mode, which reads the source on every event).",
            registry=r,
        )
        # Sender authentication and upstream verification (auth.py, upstream.py). Labelled by code and
        # reason only: never by token, sender or run id.
        self.refused = Counter(
            "kfp_chain_requests_refused",
            "Requests refused before any run could start: 401 (no valid token for this audience), 403 (a "
            "sender not allowed, or an upstream run KFP does not confirm), by code and reason.",
            ["code", "reason"],
            registry=r,
        )
        self.token_reviews = Counter(
            "kfp_chain_token_reviews",
            "Kubernetes TokenReviews sent, by result (authenticated, unauthenticated, error); cached "
            "answers are not counted here; shared: a request answered by the review another request "
            "with the same token had in flight (none sent).",
            ["result"],
            registry=r,
        )
        # Plain KFP (workflow_events.py): Argo Workflow events reaching the trigger function.
        self.workflow_events = Counter(
            "kfp_chain_workflow_events",
            "Argo Workflow events answered by the trigger function, by result: nudged (a finished KFP run "
            "looked up and handed on), retry (503: KFP or ML Metadata did not answer yet), or why it was "
            "ignored (not-kfp, not-finished, deleted, not-a-workflow; acknowledged).",
            ["result"],
            registry=r,
        )

        self.invalid_runconfigurations = Gauge(
            "kfp_chain_invalid_runconfigurations",
            "RunConfigurations skipped because they break the CRD schema or kfp-chain's rules (each is "
            "logged once, with the reason, and gets a Kubernetes Event in a cluster).",
            registry=r,
        )

    # -- the HTTP boundary ------------------------------------------------------------------
    def observe_request(self, event_status: str | None, http_status: int, seconds: float) -> None:
        outcome = answer_class(http_status)
        received, handling = self._request_series(event_status or "unknown", outcome)
        received.inc()
        if outcome == AnswerClass.REJECTED:
            self.events_rejected.labels(str(http_status)).inc()
        handling.observe(seconds)

    def _request_series(self, status: str, outcome: AnswerClass) -> tuple[Any, Any]:
        """The two series every request touches, looked up once per label pair (a handful in all):
        `labels()` takes a lock and builds a key each time, on the path every event takes."""
        series = self._by_request.get((status, outcome))
        if series is None:
            series = self.events_received.labels(status, outcome), self.handling_seconds.labels(outcome)
            self._by_request[(status, outcome)] = series
        return series

    def observe_reconcile(self, found: int, remaining: int, result: PassResult) -> None:
        self.pending_triggers.labels("found").set(found)
        self.pending_triggers.labels("remaining").set(remaining)
        self.reconcile_passes.labels(result).inc()

    def observe_schedules(self, changes: dict[str, int], skipped: list[str]) -> None:
        """One schedules pass: how many recurring runs each action touched, and each skip's reason."""
        for action, count in changes.items():
            if count:
                self.schedule_changes.labels(action).inc(count)
        for reason in skipped:
            self.schedules_skipped.labels(reason).inc()

    # -- the index --------------------------------------------------------------------------
    def observe_index(self, size: int, staleness_seconds: float = 0.0) -> None:
        """For index providers that push: the index holds `size` objects, confirmed that long ago."""
        self.index_size.set(size)
        self.index_staleness.set(staleness_seconds)

    def track_index(self, provider: object) -> bool:
        """Reads size and staleness (and the invalid count) from the provider at every scrape, when it offers them.

        A long-lived index (the watch) knows when its source last confirmed it; reading that at
        scrape time rather than per event is what lets the gauge grow while no event arrives and
        the watch is down. Returns False when the provider offers neither (it then pushes).
        """
        invalid = getattr(provider, "invalid_count", None)
        if callable(invalid):
            self.invalid_runconfigurations.set_function(invalid)
        size, staleness = getattr(provider, "size", None), getattr(provider, "staleness_seconds", None)
        if not callable(size) or not callable(staleness):
            return False
        self.index_size.set_function(size)
        self.index_staleness.set_function(staleness)
        return True

    # -- exposition -------------------------------------------------------------------------
    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's value (0 when absent): for tests and `kfp-chain` diagnostics."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else float(found)


class MetricsObserver:
    """Counts each per-dependent decision the chain makes (one call per dependent per event)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_outcome(self, event: RunCompletion, outcome: Outcome) -> None:
        if outcome.repeat:  # reconcile refusing again what it already refused: counted once
            return
        reason = outcome.reason or "unknown"
        if outcome.outcome == OutcomeKind.STARTED:
            self.metrics.triggers_started.labels(outcome.dependent.namespace).inc()
            if outcome.via == "reconcile":
                self.metrics.reconcile_started.labels(outcome.dependent.namespace).inc()
        elif outcome.outcome == OutcomeKind.DUPLICATE:
            self.metrics.duplicates.labels(reason).inc()
        elif outcome.outcome == OutcomeKind.SKIPPED:
            self.metrics.skipped.labels(reason).inc()
        elif outcome.outcome == OutcomeKind.RETRY:
            self.metrics.failures.labels(reason).inc()
            if outcome.backend is not None:
                self.metrics.deployment_faults.labels(outcome.backend).inc()


class MeasuredIndex:
    """Wraps an index provider so that its size and staleness reach the metrics.

    A provider with `size()` and `staleness_seconds()` (the watch) is read at scrape time; any
    other (`ListIndex`, rebuilt from the source per event, so never stale) reports the size of
    the index each event was planned on. Every other attribute is the wrapped provider's.
    """

    def __init__(self, inner: IndexProvider, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self._pushes = not metrics.track_index(inner)

    def current(self) -> DependentsIndex:
        index = self.inner.current()
        if self._pushes:
            self.metrics.observe_index(len(index))
        return index

    def ready(self) -> bool:
        return self.inner.ready()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["inner"], name)


class PollMetrics:
    """The poll's series (`service/poll.py`), in the App's registry: what each pass saw and did.

    `kfp_chain_poll_runs_total{result, reason}`: runs a pass or the nudge decided (`handled`,
    `failed`, `skipped` with the ownership reason, `waiting` on a temporary fault, `given-up` after waiting past
    KFP_CHAIN_POLL_GIVE_UP_SECONDS, `already-handled`);
    `kfp_chain_poll_passes_total{result}` (`clean`, `partial`: some runs wait, `failed`: a fault
    stopped it); `kfp_chain_poll_pass_seconds`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "kfp_chain_poll_runs", "KFP runs the poll decided, by result and skip reason.",
            ["result", "reason"], registry=registry,
        )  # fmt: skip
        self.passes = Counter(
            "kfp_chain_poll_passes", "Poll passes, by result.", ["result"], registry=registry
        )
        self.seconds = Histogram(
            "kfp_chain_poll_pass_seconds",
            "Time of one poll pass.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, report: Any) -> None:
        """One PollReport (typed loosely: observability does not import the service)."""
        for result, count in report.results.items():
            if result != "skipped":
                self.runs.labels(result, "").inc(count)
        for reason, count in report.skipped.items():
            self.runs.labels("skipped", reason).inc(count)
        if report.nudge:  # one run, not a pass
            return
        waiting = report.results.get("waiting", 0)
        result = PassResult.FAILED if report.fault else PassResult.PARTIAL if waiting else PassResult.CLEAN
        self.passes.labels(result).inc()
        self.seconds.observe(report.seconds)
