"""The RunConfiguration model: kfp-operator's CRD, read into frozen values.

Everything downstream (the dependents index, parameter resolution, the chain) works on these
values and never on raw dicts, so the CRD's quirks (`name` vs `namespace/name` references, optional
fields, two served versions) are dealt with once, here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "API_GROUP",
    "PLURAL",
    "Artifact",
    "ArtifactDeclaration",
    "Parameter",
    "RcKey",
    "RunConfiguration",
    "nonempty",
    "parse_age",
    "parse_runconfiguration",
]

API_GROUP = "pipelines.kubeflow.org"
# kfp-chain's own opt-ins, as annotations so that kfp-operator's CRD stays as it is.
POLICY_ANNOTATION = "kfp-chain.io/trigger-policy"
MAX_AGE_ANNOTATION = "kfp-chain.io/fan-in-max-age"
# Plain KFP: runs of this RunConfiguration's pipeline started by hand (a notebook, CI) count as its
# runs when the RunConfiguration says so (docs/plain-kfp.md, "Which runs belong to which RunConfiguration").
ADOPT_RUNS_ANNOTATION = "kfp-chain.io/adopt-runs"
TRIGGER_POLICIES = ("any", "all")
PLURAL = "runconfigurations"
KIND = "RunConfiguration"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, order=True)
class RcKey:
    """`namespace/name` of a RunConfiguration: the identity every index and ledger is keyed by."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, default_namespace: str | None = None) -> RcKey:
        """Reads `ns/name`, or `name` in `default_namespace` (the referrer's own namespace)."""
        namespace, sep, name = text.strip().rpartition("/")
        if not sep:
            if default_namespace is None:
                raise ValueError(f"{text!r} has no namespace and none is implied")
            return cls(default_namespace, name)
        if not namespace or not name or "/" in namespace:
            raise ValueError(f"{text!r} is not 'name' or 'namespace/name'")
        return cls(namespace, name)


@dataclass(frozen=True)
class Artifact:
    name: str
    location: str


@dataclass(frozen=True)
class ArtifactDeclaration:
    """`spec.run.artifacts[]`: an output the run exposes, at `path` (`Component:output`)."""

    name: str
    path: str


@dataclass(frozen=True)
class Schedule:
    """`spec.triggers.schedules[]` as written: kfp-operator's 5-field cron and optional RFC 3339 bounds.

    Kept as text: converting and checking them is the schedules module's job, and a bad entry must
    reach `validate` as a finding rather than drop the RunConfiguration here.
    """

    cron: str
    start_time: str | None = None
    end_time: str | None = None


@dataclass(frozen=True)
class Parameter:
    """One `spec.run.parameters[]` entry: a literal `value` or a reference to an upstream artifact."""

    name: str
    value: str | None = None
    ref: RcKey | None = None
    output_artifact: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class RunConfiguration:
    key: RcKey
    pipeline: str
    experiment: str | None = None
    provider: str | None = None
    parameters: tuple[Parameter, ...] = ()
    artifacts: tuple[ArtifactDeclaration, ...] = ()
    triggered_by: tuple[RcKey, ...] = ()
    latest_succeeded_run: str | None = None
    latest_succeeded_artifacts: tuple[Artifact, ...] = ()
    triggers_consumed: Mapping[RcKey, str] = field(default_factory=dict)
    resource_version: str | None = None
    uid: str | None = None
    problems: tuple[str, ...] = ()
    trigger_policy: str = "any"  # any: each upstream success starts a run (kfp-operator's OR); all: fan-in
    fan_in_max_age: float | None = None  # seconds; with `all`, no input may be older
    # Plain KFP (docs/plain-kfp.md): the triggers kfp-operator's controller acts on where it runs.
    schedules: tuple[Schedule, ...] = ()
    on_change: tuple[str, ...] = ()  # "pipeline", "runSpec"
    generation: int | None = None  # metadata.generation: what onChange runSpec tracks
    consumed_pipeline_version: str | None = None  # status.triggers.pipeline.version
    consumed_run_spec_version: str | None = None  # status.triggers.runSpec.version
    adopt_runs: bool = False  # kfp-chain.io/adopt-runs: "true"

    @property
    def fan_in(self) -> bool:
        return self.trigger_policy == "all"

    @property
    def parameter_sources(self) -> frozenset[RcKey]:
        return frozenset(p.ref for p in self.parameters if p.ref is not None)


def nonempty(value: Any) -> str | None:
    """A non-empty string, or None: how optional text is read from an object or an event."""
    return value if isinstance(value, str) and value else None


def _artifacts(items: Any) -> tuple[Artifact, ...]:
    result = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and nonempty(item.get("name")) and isinstance(item.get("location"), str):
            result.append(Artifact(item["name"], item["location"]))
    return tuple(result)


def _mapping(value: Any, where: str, problems: list[str]) -> Mapping[str, Any]:
    """`value` when it is an object; {} (and a problem) when it is something else."""
    if value is None or isinstance(value, Mapping):
        return value or {}
    problems.append(f"{where} must be an object, got {type(value).__name__}")
    return {}


def _sub(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _items(value: Any, where: str, problems: list[str]) -> list[Any]:
    """`value` when it is a list; [] (and a problem) otherwise: a string is never read letter by letter."""
    if value is None or isinstance(value, list):
        return value or []
    problems.append(f"{where} must be a list, got {type(value).__name__}")
    return []


def _dns_name(value: str, limit: int, label: bool) -> bool:
    pattern = _DNS_LABEL if label else _DNS_SUBDOMAIN
    return len(value) <= limit and pattern.match(value) is not None


def parse_runconfiguration(obj: Mapping[str, Any]) -> RunConfiguration:
    """Reads one RunConfiguration object (v1beta1 or v1alpha6) as the API server or a YAML file has it.

    Total: any shape gives a RunConfiguration or a ValueError (no usable `metadata.name`), never
    another exception. What is wrong is named in `problems` (a malformed reference is dropped), so
    that one bad RunConfiguration never hides the others; the schema checks live in `rc_schema`.
    """
    problems: list[str] = []
    if not isinstance(obj, Mapping):
        raise ValueError(f"a RunConfiguration must be an object, got {type(obj).__name__}")
    metadata = _mapping(obj.get("metadata"), "metadata", problems)
    name = nonempty(metadata.get("name"))
    if name is None:
        raise ValueError("RunConfiguration without metadata.name")
    namespace = nonempty(metadata.get("namespace")) or "default"
    if not _dns_name(name, 253, label=False):
        problems.append(f"metadata.name {name[:80]!r} is not a valid Kubernetes object name")
    if not _dns_name(namespace, 63, label=True):
        problems.append(f"metadata.namespace {namespace[:80]!r} is not a valid Kubernetes namespace")
    key = RcKey(namespace, name)
    spec = _mapping(obj.get("spec"), "spec", problems)
    run = _mapping(spec.get("run"), "spec.run", problems)
    if isinstance(spec.get("run"), Mapping) and nonempty(run.get("pipeline")) is None:
        problems.append("spec.run.pipeline is required: without a pipeline no run can start")
    triggers = _mapping(spec.get("triggers"), "spec.triggers", problems)
    status = _sub(obj, "status")  # written by controllers, not people: read what is usable

    parameters = []
    # v1alpha5/6 call them `runtimeParameters` (same shape); v1beta1 `parameters`. Read both, so that
    # RUNCONFIGURATION_API_VERSION=pipelines.kubeflow.org/v1alpha6 works; a name in both keeps the latter.
    listed = [
        *_items(run.get("runtimeParameters"), "spec.run.runtimeParameters", problems),
        *_items(run.get("parameters"), "spec.run.parameters", problems),
    ]
    for item in listed:
        pname = nonempty(item.get("name")) if isinstance(item, Mapping) else None
        if pname is None:
            problems.append("a parameter without a name")
            continue
        value_from = _mapping(item.get("valueFrom"), f"parameter {pname}: valueFrom", problems)
        ref_obj = value_from.get("runConfigurationRef")
        if ref_obj is not None:
            if not isinstance(ref_obj, Mapping):
                problems.append(f"parameter {pname}: runConfigurationRef must be an object")
                continue
            try:
                ref = RcKey.parse(str(ref_obj.get("name", "")), namespace)
            except ValueError as exc:
                problems.append(f"parameter {pname}: {exc}")
                continue
            artifact = nonempty(ref_obj.get("outputArtifact"))
            if artifact is None:
                problems.append(f"parameter {pname}: runConfigurationRef without outputArtifact")
                continue
            if item.get("value") is not None:
                problems.append(f"parameter {pname}: both value and valueFrom are set")
            parameters.append(
                Parameter(pname, ref=ref, output_artifact=artifact, optional=ref_obj.get("optional") is True)
            )
        else:
            value = item.get("value")
            if value is not None and not isinstance(value, str):
                problems.append(f"parameter {pname}: value must be a string, got {type(value).__name__}")
            parameters.append(Parameter(pname, value="" if value is None else str(value)))

    triggered_by = []
    for text in _items(triggers.get("runConfigurations"), "spec.triggers.runConfigurations", problems):
        if not isinstance(text, str):
            problems.append(f"trigger: {text!r} is not a RunConfiguration name")
            continue
        try:
            triggered_by.append(RcKey.parse(text, namespace))
        except ValueError as exc:
            problems.append(f"trigger: {exc}")

    declarations = tuple(
        ArtifactDeclaration(str(a["name"]), str(a["path"]))
        for a in _items(run.get("artifacts"), "spec.run.artifacts", problems)
        if isinstance(a, Mapping) and a.get("name") and a.get("path")
    )
    succeeded = _sub(_sub(status, "latestRuns"), "succeeded")
    entries = _sub(status, "triggers").get("runConfigurations")
    consumed: dict[RcKey, str] = {}
    for upstream, entry in entries.items() if isinstance(entries, Mapping) else ():
        provider_id = nonempty(entry.get("providerId")) if isinstance(entry, Mapping) else None
        if provider_id is None:
            continue
        try:
            consumed[RcKey.parse(str(upstream), namespace)] = provider_id
        except ValueError:
            problems.append(f"status.triggers: {upstream!r} is not a RunConfiguration reference")

    annotations = metadata.get("annotations") or {}
    policy = str(annotations.get(POLICY_ANNOTATION) or "any").strip()
    if policy not in TRIGGER_POLICIES:
        problems.append(f"{POLICY_ANNOTATION}: {policy!r} is not one of {', '.join(TRIGGER_POLICIES)}")
    max_age = None
    if annotations.get(MAX_AGE_ANNOTATION):
        try:
            max_age = parse_age(str(annotations[MAX_AGE_ANNOTATION]))
        except ValueError as exc:
            problems.append(f"{MAX_AGE_ANNOTATION}: {exc}")

    schedules = []
    for entry in _items(triggers.get("schedules"), "spec.triggers.schedules", problems):
        cron = nonempty(entry.get("cronExpression")) if isinstance(entry, Mapping) else None
        if cron is None:
            problems.append("spec.triggers.schedules: an entry without cronExpression")
            continue
        schedules.append(Schedule(cron, nonempty(entry.get("startTime")), nonempty(entry.get("endTime"))))
    on_change = tuple(
        str(kind)
        for kind in _items(triggers.get("onChange"), "spec.triggers.onChange", problems)
        if kind in ("pipeline", "runSpec")
    )
    generation = metadata.get("generation")
    status_triggers = _sub(status, "triggers")

    return RunConfiguration(
        key=key,
        pipeline=nonempty(run.get("pipeline")) or "",
        experiment=nonempty(run.get("experimentName")),
        provider=nonempty(run.get("provider")),
        parameters=tuple({p.name: p for p in parameters}.values()),
        artifacts=declarations,
        triggered_by=tuple(dict.fromkeys(triggered_by)),
        latest_succeeded_run=nonempty(succeeded.get("providerId")),
        latest_succeeded_artifacts=_artifacts(succeeded.get("artifacts")),
        triggers_consumed=consumed,
        resource_version=nonempty(metadata.get("resourceVersion")),
        uid=nonempty(metadata.get("uid")),
        problems=tuple(problems),
        trigger_policy=policy,
        fan_in_max_age=max_age,
        schedules=tuple(schedules),
        on_change=tuple(dict.fromkeys(on_change)),
        generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else None,
        consumed_pipeline_version=nonempty(_sub(status_triggers, "pipeline").get("version")),
        consumed_run_spec_version=nonempty(_sub(status_triggers, "runSpec").get("version")),
        adopt_runs=str(annotations.get(ADOPT_RUNS_ANNOTATION) or "").strip().lower() == "true",
    )


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """`90s`, `30m`, `24h`, `7d`, or a Go-style sum such as `1h30m`: how Kubernetes users write ages."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"{text!r} is not an age such as 24h, 30m or 1h30m")
    seconds = sum(float(n) * _AGE_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be positive")
    return seconds
