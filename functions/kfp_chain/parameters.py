"""Parameter resolution: a dependent's `spec.run.parameters` -> the values its run starts with.

Third step of the flow, and a pure function (as kfp-operator's `ResolveParameters` is): it reads
the event and a lookup of other RunConfigurations, and either returns every value or raises
`UnresolvableParameter` naming the exact reference that failed, so that no run ever starts with a
half-filled parameter set.

Where a reference reads from:
- the emitter of the event -> the event's own artifacts (never an older status: a stale artifact
  would silently train on old data);
- any other RunConfiguration -> its `status.latestRuns.succeeded.artifacts`.
`optional: true` leaves the parameter out when the artifact is missing, so the pipeline's own
default applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import UnresolvableParameter
from .intake import ONE_OFF, RunCompletion, RunStatus
from .runconfiguration import Parameter, RcKey, RunConfiguration

__all__ = ["ResolvedParameters", "resolve_latest", "resolve_parameters"]

Lookup = Callable[[RcKey], RunConfiguration | None]


@dataclass(frozen=True)
class ResolvedParameters:
    values: dict[str, str]
    omitted: tuple[str, ...] = ()  # optional references that had nothing to offer


def resolve_parameters(
    dependent: RunConfiguration, event: RunCompletion, lookup: Lookup
) -> ResolvedParameters:
    values: dict[str, str] = {}
    omitted: list[str] = []
    for parameter in dependent.parameters:
        if parameter.ref is None:
            values[parameter.name] = parameter.value or ""
            continue
        location = _artifact_location(parameter, event, lookup)
        if location is not None:
            values[parameter.name] = location
        elif parameter.optional:
            omitted.append(parameter.name)
        else:
            raise UnresolvableParameter(_missing(parameter, event, lookup))
    return ResolvedParameters(values, tuple(omitted))


def resolve_latest(dependent: RunConfiguration, lookup: Lookup) -> ResolvedParameters:
    """Without an event (a schedule, onChange, `kfp-chain run`): every reference reads the latest
    succeeded run of the RunConfiguration it names, as kfp-operator resolves a schedule's values."""
    no_event = RunCompletion(run_configuration=ONE_OFF, status=RunStatus.SUCCEEDED, run_id="")
    return resolve_parameters(dependent, no_event, lookup)


def _artifact_location(parameter: Parameter, event: RunCompletion, lookup: Lookup) -> str | None:
    assert parameter.ref is not None and parameter.output_artifact is not None
    if parameter.ref == event.run_configuration:
        artifact = event.artifact(parameter.output_artifact)
        return artifact.location if artifact else None
    upstream = lookup(parameter.ref)
    if upstream is None:
        return None
    found = next(
        (a for a in upstream.latest_succeeded_artifacts if a.name == parameter.output_artifact), None
    )
    return found.location if found else None


def _missing(parameter: Parameter, event: RunCompletion, lookup: Lookup) -> str:
    ref = f"{parameter.ref}:{parameter.output_artifact}"
    if parameter.ref == event.run_configuration:
        names = ", ".join(a.name for a in event.artifacts) or "none"
        where = (
            f"event {event.run_id} of {event.run_configuration} has no artifact {parameter.output_artifact!r}"
        )
        return f"parameter {parameter.name!r} <- {ref}: {where} (it has: {names})"
    assert parameter.ref is not None
    upstream = lookup(parameter.ref)
    if upstream is None:
        return f"parameter {parameter.name!r} <- {ref}: RunConfiguration {parameter.ref} does not exist"
    if upstream.latest_succeeded_run is None and not upstream.latest_succeeded_artifacts:
        return f"parameter {parameter.name!r} <- {ref}: {parameter.ref} has no succeeded run yet"
    names = ", ".join(a.name for a in upstream.latest_succeeded_artifacts) or "none"
    return (
        f"parameter {parameter.name!r} <- {ref}: latest succeeded run {upstream.latest_succeeded_run} "
        f"of {parameter.ref} has no artifact {parameter.output_artifact!r} (it has: {names})"
    )
