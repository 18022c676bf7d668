"""The small interfaces through which the core reaches the world: Kubernetes, KFP and the clock.

The chain only ever calls these; the subpackages `kubernetes`, `folder`, `kfp` and `local`
implement them, and tests pass in the real implementations pointed at the fakes in
`tests/fakes/`. Keeping them this narrow is what lets intake, indexing and resolution stay pure.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..dependents import DependentsIndex
from ..runconfiguration import Artifact, ArtifactDeclaration, RcKey, RunConfiguration
from ..watermark import Mark

__all__ = [
    "ArtifactResolver",
    "ClaimInfo",
    "ClaimState",
    "Clock",
    "FinishedRun",
    "IndexProvider",
    "Launcher",
    "Ledger",
    "MarkStore",
    "OutputArtifact",
    "PipelineRef",
    "RecurringRun",
    "RecurringRunSpec",
    "RunConfigurationSource",
    "RunLister",
    "RunRequest",
    "ScheduleStore",
    "SystemClock",
    "Trigger",
]

MAX_DISPLAY_NAME = 128
CHANGE_PREFIX = "onChange:"  # the `upstream` an onChange trigger's ledger rows and claims carry


@dataclass(frozen=True)
class Trigger:
    """The unit of exactly-once: a dependent and the upstream run(s) it consumes.

    Usually one (upstream RunConfiguration, upstream run) pair. A fan-in dependent (trigger policy
    `all`) consumes one run of every upstream at once: `also` holds the other pairs, and `fan_in`
    orders them so that the identity (claim, run name) is the same whichever upstream's event or
    reconcile pass builds it.
    """

    dependent: RcKey
    upstream: RcKey
    upstream_run_id: str
    also: tuple[tuple[RcKey, str], ...] = ()
    # A join's plan: the run each of its upstreams had consumed when it was planned. Not part of the
    # identity; the ledger refuses to claim or record the join once status.triggers moved past it.
    planned_on: tuple[tuple[str, str | None], ...] = field(default=(), compare=False)
    # onChange (`on_change.py`): "pipeline" or "runSpec". Then upstream is the dependent itself,
    # `upstream_run_id` the version that changed, and completion records `status.triggers.<change>`.
    change: str | None = None

    @classmethod
    def on_change(cls, key: RcKey, change: str, version: str) -> Trigger:
        return cls(key, key, version, change=change)

    @classmethod
    def fan_in(
        cls,
        dependent: RcKey,
        inputs: Iterable[tuple[RcKey, str]],
        planned_on: Iterable[tuple[str, str | None]] = (),
    ) -> Trigger:
        first, *rest = sorted(inputs)
        return cls(dependent, first[0], first[1], tuple(rest), tuple(sorted(planned_on)))

    @property
    def inputs(self) -> tuple[tuple[RcKey, str], ...]:
        """Every (upstream, run) this trigger consumes, in a stable order."""
        return ((self.upstream, self.upstream_run_id), *self.also)

    @property
    def joined(self) -> bool:
        return bool(self.also)

    @property
    def display_name(self) -> str:
        """The KFP run's display name: deterministic, so a retry can find the run it may have made.

        It reads as what caused the run; a digest of the whole trigger keeps it unique when long
        names have to be shortened to fit KFP's limit.
        """
        if self.change is not None:
            text = f"{self.dependent} <- onChange {self.change} {self.upstream_run_id}"
        elif self.joined:
            joined = ", ".join(f"{u} run {r}" for u, r in self.inputs)
            text = f"{self.dependent} <- all of {joined}"
        else:
            text = f"{self.dependent} <- {self.upstream} run {self.upstream_run_id}"
        if len(text) <= MAX_DISPLAY_NAME:
            return text
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"{text[: MAX_DISPLAY_NAME - 14]} #{digest}"

    @property
    def claim_id(self) -> str:
        key = "|".join(f"{u}|{r}" for u, r in self.inputs)
        if self.change is not None:
            key = f"onChange:{self.change}|{key}"
        return hashlib.sha256(key.encode()).hexdigest()[:24]

    @property
    def ledger_key(self) -> tuple[str, str, str]:
        """(dependent, upstream, runId) as a ledger row keys it; joined pairs are written with `+`."""
        if self.change is not None:
            return (str(self.dependent), f"{CHANGE_PREFIX}{self.change}", self.upstream_run_id)
        return (
            str(self.dependent),
            "+".join(str(u) for u, _ in self.inputs),
            "+".join(r for _, r in self.inputs),
        )


@dataclass(frozen=True)
class RunRequest:
    """Everything a launcher needs to start one run of `runconfiguration`.

    `display_name` is the idempotency key (see `Trigger.display_name`); `artifacts` are the
    RunConfiguration's declared outputs, which a launcher that reports completion (the local
    runner) uses to fill the run-completion event's `artifacts`.
    """

    runconfiguration: RcKey
    display_name: str
    pipeline: str
    experiment: str | None
    parameters: Mapping[str, str]
    artifacts: tuple[ArtifactDeclaration, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class ClaimState(enum.Enum):
    ACQUIRED = "acquired"  # ours: look for the run, else create it, then complete
    DONE = "done"  # this trigger was already completed: a duplicate delivery
    HELD = "held"  # another live holder is working on it: answer 5xx, the broker retries


@dataclass(frozen=True)
class ClaimInfo:
    """A claim as a ledger holds it, for people (`kfp-chain explain`): who is starting what, until when."""

    dependent: RcKey
    upstream: str
    run_id: str
    holder: str
    expires_at: datetime | None  # None: unreadable, treated as expired

    def live(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at > now


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RunConfigurationSource(Protocol):
    """Where RunConfigurations come from: the cluster, or a folder of YAML files."""

    def list(self) -> Iterable[RunConfiguration]: ...

    def get(self, key: RcKey) -> RunConfiguration | None: ...


class IndexProvider(Protocol):
    """Hands the chain a current dependents index: rebuilt per event, or kept by a watch."""

    def current(self) -> DependentsIndex: ...

    def ready(self) -> bool: ...


class Ledger(Protocol):
    """The exactly-once bookkeeping, kept on the dependent (Kubernetes) or in SQLite (folder)."""

    def claim(self, trigger: Trigger, holder: str, lease: timedelta) -> ClaimState: ...

    def consumed(self, trigger: Trigger) -> bool:
        """Whether `claim` would answer DONE now: the ledger's own rule, read without writing.

        `kfp-chain explain` asks this rather than keeping a copy of the rule that could drift
        from it (which runs count as consumed, by which name, for a join any of its runs).
        """
        ...

    def complete(self, trigger: Trigger, holder: str, run_id: str | None) -> None: ...

    def release(self, trigger: Trigger, holder: str) -> None: ...

    def unsettled(self, trigger: Trigger) -> tuple[tuple[Trigger, str], ...]:
        """Other joins of `trigger`'s dependent whose claim expired unrecorded, with their holders.

        Their holder may have made the run and died; the next join claimed settles them first
        (`Chain`), or a newer set's own lookup would never see that run and consume its inputs again.
        """
        ...

    def record_succeeded(self, key: RcKey, run_id: str, artifacts: tuple[Artifact, ...]) -> None: ...


class Launcher(Protocol):
    """Starts runs: a KFP server through kfp.Client, or KFP's local runner."""

    def find_run(self, display_name: str) -> str | None: ...

    def start_run(self, request: RunRequest) -> str: ...

    def finished_at(self, run_id: str) -> datetime | None:
        """When a run finished (fan-in's max age); None when unknown or not finished."""
        ...


@dataclass(frozen=True)
class Review:
    """What the API server said about one token, as far as sender authentication (`service.auth`) uses it."""

    authenticated: bool
    username: str | None = None
    audiences: tuple[str, ...] = ()
    error: str | None = None


class TokenReviewer(Protocol):
    """Asks someone who can tell (the API server) whether a token is valid for `audience`."""

    def review(self, token: str, audience: str) -> Review: ...


# -- plain KFP: hearing a run end and reading its outputs without kfp-operator (docs/plain-kfp.md) --

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})


@dataclass(frozen=True)
class FinishedRun:
    """A KFP run as the poll and the Workflow nudge see it: what maps it to a RunConfiguration.

    Read from KFP's v2beta1 Run (`state`, `finished_at`, `description`, `recurring_run_id`, ...);
    `parameters` are `runtime_config.parameters` (kfp-operator names its RunConfiguration there).
    `finished_at` is None while the run has not finished (KFP sends 1970-01-01 then).
    """

    run_id: str
    state: str  # KFP's RuntimeState name: SUCCEEDED, FAILED, CANCELED, RUNNING, ...
    finished_at: datetime | None
    namespace: str | None = None
    display_name: str = ""
    description: str = ""
    experiment_id: str | None = None
    recurring_run_id: str | None = None
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES and self.finished_at is not None


class RunLister(Protocol):
    """KFP's runs: those that reached a terminal state since a mark, and one by id (the nudge)."""

    def finished_since(self, since: datetime, namespace: str | None) -> Iterable[FinishedRun]:
        """Terminal runs with finished_at >= since, oldest first, every page; faults raise TemporaryError."""
        ...

    def get(self, run_id: str, namespace: str | None = None) -> FinishedRun | None:
        """One run, or None when KFP has no such run."""
        ...


@dataclass(frozen=True)
class OutputArtifact:
    """One output artifact of one task of a run, as either artifact route reports it.

    `task_name` is the DAG task key (MLMD execution `task_name`, native `PipelineTask.name`),
    `display_name` what the UI shows (they differ after `.set_display_name()`); `output` is the
    output's name (MLMD: the OUTPUT event's path key; native: the artifact_key). `metadata` is
    already normalised to plain JSON values (MLMD: custom_properties minus store_session_info, with
    struct/list unwrapped). `order` orders outputs of one task and output (creation order), which
    is what `:index` indexes.
    """

    task_name: str
    display_name: str
    output: str
    uri: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    order: int = 0


class ArtifactResolver(Protocol):
    """A finished run's output artifacts: ML Metadata over gRPC (KFP <= 2.18) or KFP's native API.

    An artifact store that does not answer, or that does not know the run yet, raises a
    TemporaryError: the poll retries and its watermark waits, never a run without its artifact.
    """

    def outputs(self, run_id: str) -> tuple[OutputArtifact, ...]: ...


class MarkStore(Protocol):
    """Where the poll's watermark lives so that every replica sees it (`watermark.py` says what it is).

    A ConfigMap written with a resourceVersion precondition, or a row of the folder's SQLite file
    with a version column. `save` never overwrites another poller's progress: on a lost race it
    reads the stored mark again, `watermark.merge`s it with `mark` and tries again.
    """

    def load(self) -> Mark: ...

    def save(self, mark: Mark) -> Mark:
        """Stores `mark` merged with what is stored; returns what was stored."""
        ...


# -- plain KFP: RunConfigurations on their own triggers (schedules, onChange; docs/plain-kfp.md) --


@dataclass(frozen=True)
class PipelineRef:
    """A RunConfiguration's `spec.run.pipeline` as KFP knows it.

    `version_id` is the pinned version (`name:version`) or, unpinned, the latest one now: what
    onChange `pipeline` compares. A recurring run of an unpinned pipeline is created without a
    version, so that KFP runs whatever is latest at each firing.
    """

    pipeline_id: str
    version_id: str
    pinned: bool


@dataclass(frozen=True)
class RecurringRunSpec:
    """One KFP recurring run as kfp-chain wants it: one per `triggers.schedules` entry.

    `description` carries the owner's marker line and a digest of everything else, which is how a
    pass tells a recurring run it made from any other, and an outdated one from a current one
    (KFP cannot edit a recurring run: a changed spec is a new recurring run).
    """

    owner: RcKey
    display_name: str
    cron: str  # KFP's form: the seconds field first
    start_time: datetime | None
    end_time: datetime | None
    pipeline_id: str
    pipeline_version_id: str | None  # None: the latest version at each firing
    experiment_id: str
    parameters: tuple[tuple[str, str], ...]
    description: str = ""
    digest: str = ""
    max_concurrency: int = 1
    no_catchup: bool = True


@dataclass(frozen=True)
class RecurringRun:
    """A KFP recurring run as listed: what a schedules pass diffs against (`schedules.sync_steps`)."""

    recurring_run_id: str
    display_name: str
    description: str
    enabled: bool
    created_at: datetime | None = None
    cron: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


class ScheduleStore(Protocol):
    """KFP's recurring runs, and the ids a recurring run or an onChange run is created with.

    Faults raise TemporaryError; a pipeline KFP does not know raises UnknownPipeline. `delete`,
    `enable` and `disable` of a recurring run that is gone are no error (another pass got there).
    """

    def marked(self) -> list[RecurringRun]:
        """Every recurring run whose description may carry kfp-chain's marker (all pages)."""
        ...

    def pipeline(self, pipeline: str, owner: RcKey) -> PipelineRef: ...

    def experiment(self, name: str) -> str: ...

    def create(self, spec: RecurringRunSpec, start_time: datetime | None, enabled: bool) -> str: ...

    def enable(self, recurring_run_id: str) -> None: ...

    def disable(self, recurring_run_id: str) -> None: ...

    def delete(self, recurring_run_id: str) -> None: ...
