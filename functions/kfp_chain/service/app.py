"""Wiring: settings -> the source, ledger, launcher and index the chain runs on; and the HTTP answer.

Built once per process (on the first request, or eagerly by a server that wants readiness to
mean "ready"). `respond` is the single place where an outcome becomes an HTTP status, following
the Knative delivery contract: 2xx handled (including duplicates and "nothing depends on this"),
4xx never retried, 5xx retried by the broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..adapters.list_index import ListIndex
from ..adapters.ports import IndexProvider, Launcher, Ledger, RunConfigurationSource
from ..chain import Chain, ChainOptions
from ..delivery import CLOCK_SKEW_SECONDS
from ..dependents import DependentsIndex
from ..errors import ConfigurationError, DeploymentFault, InvalidEvent, Refused, TemporaryError
from ..intake import RunCompletion, parse_request
from ..observability.logs import configure_logging
from ..observability.metrics import MeasuredIndex, Metrics, MetricsObserver, PassResult
from ..observability.observers import LogObserver
from ..observability.tracing import TracingObserver, event_span
from ..outcomes import Observer, OutcomeKind, Report
from ..runconfiguration import RcKey
from ..settings import Settings
from ..workflow_events import recognise
from .auth import Authenticator, build_authenticator
from .dead_letter import EventWriter, handle_dead_letter, parse_dead_letter
from .nudge import respond_workflow
from .on_change import on_change_pass
from .schedules import ScheduleSync, build_schedule_sync, schedules_pass
from .upstream import UpstreamCheck

__all__ = [
    "App",
    "DeadLetterApp",
    "PollApp",
    "build_app",
    "build_dead_letter_app",
    "build_poll_app",
    "build_reconcile_app",
    "poll_pass",
    "reconcile_pass",
    "respond",
    "respond_dead_letter",
]

if TYPE_CHECKING:
    from ..adapters.kfp.launcher import KfpLauncher

log = logging.getLogger("kfp_chain")


@dataclass
class App:
    settings: Settings
    chain: Chain
    source: RunConfigurationSource
    closers: list[Callable[[], None]] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    senders: Authenticator | None = None  # KFP_CHAIN_AUTH=oidc: who may POST (auth.py)
    upstream: UpstreamCheck | None = None  # KFP_CHAIN_VERIFY_UPSTREAM=true (upstream.py)
    schedules: ScheduleSync | None = None  # KFP_CHAIN_SCHEDULES=true: reconcile syncs recurring runs
    poller: Any = None  # plain KFP: the service.poll.Poller that Workflow nudges go through (nudge.py)

    @property
    def index(self) -> IndexProvider:
        return self.chain.index

    def ready(self) -> bool:
        return self.index.ready()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """`/readyz`: ready once the index can answer for the valid RunConfigurations.

        Invalid RunConfigurations do not make the function unready (events for the valid ones
        work); their number is in the body, as in the `kfp_chain_invalid_runconfigurations` gauge.
        """
        ready = self.ready()
        counter = getattr(self.index, "invalid_count", None)
        invalid = counter() if callable(counter) else 0
        why = None if ready else getattr(self.index, "last_error", None)  # an unreachable cluster says so
        return ready, {"ready": ready, "invalidRunConfigurations": invalid} | ({"reason": why} if why else {})

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.exception("error while closing")


def build_app(settings: Settings, observers: list[Observer] | None = None) -> App:
    source: RunConfigurationSource
    ledger: Ledger
    index: IndexProvider | None = None
    closers: list[Callable[[], None]] = []
    if settings.from_kubernetes:
        from ..adapters.kubernetes.client import kubernetes_api_client
        from ..adapters.kubernetes.ledger import KubernetesLedger
        from ..adapters.kubernetes.source import KubernetesSource

        api_client = kubernetes_api_client()
        kube_source = KubernetesSource(
            api_client, settings.group, settings.version, settings.namespaces, settings.request_timeout
        )
        source, ledger = kube_source, KubernetesLedger(kube_source)
        if settings.index_mode == "watch":
            from ..adapters.kubernetes.watch import WatchIndex

            watched = WatchIndex(kube_source, settings.resync_seconds).start()
            closers.append(watched.close)
            index = watched
    else:
        from pathlib import Path

        from ..adapters.folder.ledger import SqliteLedger
        from ..adapters.folder.source import FolderSource

        source = FolderSource(
            Path(settings.runconfigurations), settings.state_db, settings.namespaces, settings.group
        )
        ledger = SqliteLedger(settings.state_db)
    if index is None:
        index = ListIndex(source)
    metrics = Metrics()
    reporters: list[Observer] = [LogObserver(), MetricsObserver(metrics), TracingObserver()]
    write_event: EventWriter | None = None
    if settings.from_kubernetes:
        from ..adapters.kubernetes.events import KubernetesEventObserver

        known_uid = _uid_lookup(index) if settings.index_mode == "watch" else (lambda key: None)
        kube_events = KubernetesEventObserver(
            api_client, settings.api_version, settings.holder, known_uid=known_uid
        )
        reporters.append(kube_events)
        write_event = kube_events.write
        for invalid in (kube_source.invalid, getattr(index, "invalid", None)):
            if invalid is not None:
                invalid.notify = kube_events.on_invalid
    launcher = build_launcher(settings, closers)
    upstream = _upstream_check(settings, launcher, write_event)
    options = ChainOptions(
        holder=settings.holder,
        default_experiment=settings.default_experiment,
        claim_lease=timedelta(seconds=settings.claim_lease_seconds),
        retry_budget_seconds=settings.retry_budget_seconds,
        record_latest_runs=settings.record_latest_runs,
        allows=settings.allows,
        initial_trigger=settings.initial_trigger,
        fence_seconds=sum(settings.request_timeout) + CLOCK_SKEW_SECONDS,
    )
    measured = MeasuredIndex(index, metrics)
    chain = Chain(
        measured, ledger, launcher, options, observers=[*reporters, *(observers or [])], fresh=source.get
    )
    app = App(settings, chain, source, closers, metrics, build_authenticator(settings, metrics), upstream)
    if settings.schedules:
        app.schedules = build_schedule_sync(
            settings, _kfp_launcher(launcher, "KFP_CHAIN_SCHEDULES"), write_event
        )
    return app


def _upstream_check(
    settings: Settings, launcher: Launcher, write_event: EventWriter | None
) -> UpstreamCheck | None:
    if not settings.verify_upstream:
        return None
    return UpstreamCheck(_kfp_launcher(launcher, "KFP_CHAIN_VERIFY_UPSTREAM"), write_event)


def _kfp_launcher(launcher: Launcher, setting: str) -> KfpLauncher:
    """The KFP launcher a setting needs; settings already require KFP_HOST, this keeps mypy honest."""
    from ..adapters.kfp.launcher import KfpLauncher

    if not isinstance(launcher, KfpLauncher):
        raise ConfigurationError(f"{setting}=true needs KFP_HOST")
    return launcher


def _uid_lookup(index: IndexProvider) -> Callable[[RcKey], str | None]:
    """A RunConfiguration's uid from the watch index, which holds it anyway (a list index would relist)."""

    def uid(key: RcKey) -> str | None:
        rc = index.current().get(key)
        return rc.uid if rc is not None else None

    return uid


def build_launcher(settings: Settings, closers: list[Callable[[], None]]) -> Launcher:
    if settings.kfp_host:
        from ..adapters.kfp.launcher import KfpLauncher, kfp_client

        host, token, token_file, namespace, timeout = (
            settings.kfp_host,
            settings.kfp_token,
            settings.kfp_token_file,
            settings.kfp_namespace,
            settings.request_timeout,
        )
        return KfpLauncher(
            lambda: kfp_client(host, token, token_file, namespace, timeout),
            settings.pipeline_naming,
            namespace,
        )
    try:
        from ..adapters.local.runner import LocalLauncher
    except ImportError as exc:  # pragma: no cover - the module ships with the package
        raise ConfigurationError(f"KFP_HOST is not set and the local runner cannot load: {exc}") from exc
    local = LocalLauncher(
        pipelines_dir=settings.pipelines_dir,
        runs_dir=settings.local_dir / "runs",
        state_db=settings.state_db,
        sink_url=settings.event_sink,
    )
    closers.append(local.close)
    return local


def respond(app: App, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    """One event in, one (status, JSON body) out; never raises. Counted, timed and traced here."""
    started = time.perf_counter()
    try:
        event = parse_request(headers, body, app.settings.max_body_bytes)
    except InvalidEvent as exc:
        # Not a run-completion: perhaps a KFP run's Argo Workflow (plain KFP's nudge, nudge.py).
        workflow = recognise(headers, body) if exc.status == 400 else None
        if workflow is not None:
            return respond_workflow(app, workflow)
        log.warning("rejected event: %s", exc, extra={"field": exc.field, "status": exc.status})
        app.metrics.observe_request(None, exc.status, time.perf_counter() - started)
        return exc.status, exc.as_body()
    with event_span(event):
        status, answer = _handle(app, event)
    app.metrics.observe_request(event.status, status, time.perf_counter() - started)
    return status, answer


def _handle(app: App, event: RunCompletion) -> tuple[int, dict[str, Any]]:
    try:
        if app.upstream is not None:
            app.upstream.verify(event)
        report = app.chain.handle(event)
    except Refused as exc:
        app.metrics.refused.labels(str(exc.status), exc.reason).inc()
        return exc.status, exc.as_body()
    except TemporaryError as exc:
        log.warning(
            "temporary fault, broker will retry: %s", exc, extra={"emitter": str(event.run_configuration)}
        )
        if isinstance(exc, DeploymentFault):
            app.metrics.deployment_faults.labels(exc.backend).inc()
        return 503, {"error": exc.reason, "message": str(exc)}
    except Exception as exc:  # a bug must still answer, and a 5xx keeps the event
        log.exception("unexpected error", extra={"emitter": str(event.run_configuration)})
        return 500, {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}
    return _status(report), report.as_body()


def _status(report: Report) -> int:
    return 503 if report.retry else 200


def build_reconcile_app(settings: Settings) -> App:
    """The App a reconcile pass runs on: no watch, since every pass reads the source afresh."""
    return build_app(replace(settings, index_mode="list"))


def reconcile_pass(app: App) -> tuple[int, dict[str, Any]]:
    """One level-triggered pass over every RunConfiguration; never raises.

    200 when the pass ran, whether or not it started runs and even when some triggers are still
    pending (held by a live claim, or a passing fault): the next pass takes them. 503 when the
    RunConfigurations could not be read or a backend refused our credentials, so that the
    PingSource's delivery retries and the failure is visible.
    """
    started = time.perf_counter()
    try:
        index = DependentsIndex(app.source.list())
        app.metrics.observe_index(len(index))
    except TemporaryError as exc:
        log.warning("reconcile pass could not read the RunConfigurations: %s", exc)
        if isinstance(exc, DeploymentFault):
            app.metrics.deployment_faults.labels(exc.backend).inc()
        app.metrics.reconcile_passes.labels(PassResult.FAILED).inc()
        return 503, {"error": exc.reason, "message": str(exc)}
    except Exception as exc:  # a bug must still answer, and a 5xx makes the failure visible
        log.exception("reconcile pass failed")
        app.metrics.reconcile_passes.labels(PassResult.FAILED).inc()
        return 500, {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}
    report = app.chain.reconcile(index)
    result = PassResult.CLEAN if report.remaining == 0 else PassResult.PARTIAL
    body = report.as_body()
    faulted = report.faulted
    if app.schedules is not None:
        invalid = getattr(app.source, "invalid", None)
        keep = [i.key for i in invalid.items() if i.key is not None] if invalid is not None else []
        synced = schedules_pass(app.schedules, index, keep, app.metrics)
        body["schedules"] = synced.as_body()
        faulted |= synced.deployment_fault
        if synced.failed:
            result = PassResult.PARTIAL
        body["onChange"], changed_fault = on_change_pass(app.chain, app.schedules.store, index)
        faulted |= changed_fault
    app.metrics.observe_reconcile(len(report.pending), report.remaining, result)
    log.info(
        "reconcile pass: %d pending, %d started, %d still pending",
        len(report.pending),
        report.count(OutcomeKind.STARTED),
        report.remaining,
        extra={k: v for k, v in body.items() if k != "triggers"}
        | {"seconds": round(time.perf_counter() - started, 3)},
    )
    return (503 if faulted else 200), body


def configure(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


@dataclass
class DeadLetterApp:
    settings: Settings
    write_event: EventWriter | None
    senders: Authenticator | None = None  # the same sender authentication as the trigger function
    metrics: Metrics = field(default_factory=Metrics)  # its letters and refusals, on its own /metrics


def build_dead_letter_app(settings: Settings) -> DeadLetterApp:
    """Events go to the cluster when RunConfigurations live there; otherwise the log is the record."""
    metrics = Metrics()
    senders = build_authenticator(settings, metrics)
    if not settings.from_kubernetes:
        return DeadLetterApp(settings, None, senders, metrics)
    from ..adapters.kubernetes.client import kubernetes_api_client
    from ..adapters.kubernetes.events import KubernetesEventObserver

    writer = KubernetesEventObserver(kubernetes_api_client(), settings.api_version, settings.holder)
    return DeadLetterApp(settings, writer.write, senders, metrics)


def respond_dead_letter(
    app: DeadLetterApp, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, Any]]:
    started = time.perf_counter()
    try:
        letter = parse_dead_letter(headers, body, app.settings.max_body_bytes)
    except InvalidEvent as exc:
        log.warning("rejected dead letter: %s", exc, extra={"field": exc.field, "status": exc.status})
        app.metrics.observe_request(None, exc.status, time.perf_counter() - started)
        return exc.status, exc.as_body()
    answer = handle_dead_letter(letter, app.write_event)
    app.metrics.observe_request(None, 200, time.perf_counter() - started)
    return 200, answer


# -- plain KFP: the poll (service/poll.py) ---------------------------------------------------------


@dataclass
class PollApp:
    """The App the poll runs on (a list index: every pass reads the RunConfigurations afresh)."""

    app: App
    poller: Any  # service.poll.Poller, imported on use like every plain-KFP part


def build_poll_app(settings: Settings) -> PollApp:
    """The poller on the chain's own ledger and launcher, KFP's runs, the artifact resolver and the mark."""
    if not settings.kfp_host:
        raise ConfigurationError("the poll of plain KFP needs KFP_HOST")
    from .polling import build_poller

    app = build_reconcile_app(settings)
    return PollApp(app, build_poller(settings, app))


def poll_pass(poll: PollApp, dry_run: bool = False) -> tuple[int, dict[str, Any]]:
    """One pass; 200 when it finished (runs may still wait), 503 when a fault stopped it."""
    report = poll.poller.pass_once(dry_run=dry_run)
    body = report.as_body()
    log.info(
        "poll pass: %d seen, %d dependents started",
        report.seen,
        report.started,
        extra={k: v for k, v in body.items() if k != "runs"},
    )
    return (503 if report.fault else 200), body
