"""Planning: an event and the index -> what each dependent would do, and why not the others.

Pure, and the step between finding dependents and carrying them out (intake -> dependents ->
parameters -> planning -> chain -> outcomes). It is kept apart from the chain because three callers
share it and must agree: the function's event path, reconcile (`Chain.reconcile` plans each pending
trigger as if its event had just arrived), and the CLI's `explain`, whose dry run is only honest if
it takes this exact code path. A plan never touches a ledger or a launcher: whether a trigger was
already started is the chain's question, asked at claim time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .adapters.ports import RunRequest, Trigger
from .dependents import DependentsIndex
from .errors import (
    AwaitingUpstreams,
    CycleRefused,
    InvalidPolicy,
    PermanentError,
    TemporaryError,
    UnresolvableParameter,
)
from .fan_in import Lookup, fan_in_inputs
from .intake import RunCompletion
from .parameters import resolve_parameters
from .runconfiguration import TRIGGER_POLICIES, RcKey, RunConfiguration

__all__ = ["Plan", "plan", "plan_one"]


@dataclass(frozen=True)
class Plan:
    """What one dependent would do for an event: start with `parameters`, or not, and why."""

    dependent: RunConfiguration
    trigger: Trigger
    parameters: dict[str, str] = field(default_factory=dict)
    omitted: tuple[str, ...] = ()
    refusal: PermanentError | TemporaryError | None = None  # temporary: a fan-in's fresh reads failed

    @property
    def runnable(self) -> bool:
        return self.refusal is None

    def request(self, default_experiment: str) -> RunRequest:
        """The launcher's request; the labels let anyone find, in KFP, what triggered a run."""
        return RunRequest(
            runconfiguration=self.dependent.key,
            display_name=self.trigger.display_name,
            pipeline=self.dependent.pipeline,
            experiment=self.dependent.experiment or default_experiment,
            parameters=self.parameters,
            artifacts=self.dependent.artifacts,
            labels={
                "kfp-chain/dependent": str(self.dependent.key),
                "kfp-chain/upstream": self.trigger.ledger_key[1],
                "kfp-chain/upstream-run-id": self.trigger.ledger_key[2],
            },
        )


def plan(
    index: DependentsIndex, event: RunCompletion, allows: Callable[[str], bool] = lambda _: True
) -> list[Plan]:
    """Pure: which dependents an event triggers, with which parameters, and why not the others."""
    return [
        plan_one(index, event, dependent)
        for dependent in index.dependents_of(event.run_configuration)
        if allows(dependent.key.namespace)
    ]


def plan_one(
    index: DependentsIndex, event: RunCompletion, dependent: RunConfiguration, lookup: Lookup | None = None
) -> Plan:
    """Pure: what `event` means for one dependent; the event path and reconcile both plan here.

    `lookup` reads other RunConfigurations (their latest successes and artifacts); the index by
    default, fresher reads when the caller has them. Each is read once per plan: a fan-in's inputs
    and its parameters must come from the same read, or an upstream that succeeded again between
    two fresh reads gives a join named for one run the artifacts of the next (the fault suite
    found a run named for emitter-0 run 6 with the artifact of run 12).
    """
    get = _read_once(lookup or index.get)
    trigger = Trigger(dependent.key, event.run_configuration, event.run_id)
    if dependent.trigger_policy not in TRIGGER_POLICIES:
        policy = dependent.trigger_policy
        return Plan(
            dependent, trigger, refusal=InvalidPolicy(f"{dependent.key}: unknown trigger policy {policy!r}")
        )
    cycle = index.refused_edge(event.run_configuration, dependent.key)
    if cycle is not None:
        path = " -> ".join(str(k) for k in cycle)
        refusal = CycleRefused(
            f"{event.run_configuration} -> {dependent.key} closes a trigger cycle among {path}"
        )
        return Plan(dependent, trigger, refusal=refusal)
    if dependent.fan_in:
        inputs, awaited = fan_in_inputs(dependent, event, get)
        if awaited:
            return Plan(
                dependent,
                trigger,
                refusal=AwaitingUpstreams(f"{dependent.key} waits for " + "; ".join(awaited)),
            )
        seen = [(str(u), dependent.triggers_consumed.get(u)) for u, _ in inputs]
        trigger = Trigger.fan_in(dependent.key, inputs, seen)
    try:
        resolved = resolve_parameters(dependent, event, get)
    except UnresolvableParameter as exc:
        return Plan(dependent, trigger, refusal=exc)
    return Plan(dependent, trigger, resolved.values, resolved.omitted)


def _read_once(lookup: Lookup) -> Lookup:
    """`lookup`, asked at most once per key: one plan sees one version of each RunConfiguration."""
    seen: dict[RcKey, RunConfiguration | None] = {}

    def get(key: RcKey) -> RunConfiguration | None:
        if key not in seen:
            seen[key] = lookup(key)
        return seen[key]

    return get
