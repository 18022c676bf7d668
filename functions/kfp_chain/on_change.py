"""onChange: which RunConfigurations are due a run because their pipeline or their run spec changed.

Where it sits: the reconcile pass with KFP_CHAIN_SCHEDULES=true (`service/on_change.py` asks KFP
for each pipeline's version and hands the due changes to `Chain.on_change`). Pure: what is due, and
the plan of each, read from the RunConfiguration and the version KFP reports.

- `pipeline`: the version of `spec.run.pipeline` (the pinned `name:version`, else the latest version
  of that display name) is not the one `status.triggers.pipeline.version` records.
- `runSpec`: `metadata.generation` (which the API server bumps on every spec change, never on a
  status or metadata write) is not the one `status.triggers.runSpec.version` records. kfp-operator
  hashes `spec.run` instead, so an edit of the triggers alone starts a run here and not there.

Each change is one trigger of the same exactly-once protocol as an upstream's run (claim,
deterministic display name `<ns>/<name> <- onChange <kind> <version>`, find-before-create,
complete), completed into `status.triggers.<kind>.version`: replicas and passes start it once.
First sight (no version recorded yet) runs, as kfp-operator's controller does, unless
KFP_CHAIN_INITIAL_TRIGGER=skip, which records the version and starts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapters.ports import Trigger
from .errors import UnresolvableParameter
from .intake import RunCompletion, RunStatus
from .parameters import Lookup, resolve_latest
from .planning import Plan
from .runconfiguration import RunConfiguration

__all__ = ["ON_CHANGE_SOURCE", "Change", "due_changes"]

ON_CHANGE_SOURCE = "kfp-chain/on-change"


@dataclass(frozen=True)
class Change:
    """One onChange trigger that is due: `kind` changed to `version`; `consumed` was recorded before."""

    rc: RunConfiguration
    kind: str  # "pipeline" or "runSpec"
    version: str
    consumed: str | None  # None: first sight

    @property
    def trigger(self) -> Trigger:
        return Trigger.on_change(self.rc.key, self.kind, self.version)

    def event(self) -> RunCompletion:
        """What observers (logs, metrics, Events) are told this run answers."""
        return RunCompletion(
            run_configuration=self.rc.key,
            status=RunStatus.SUCCEEDED,
            run_id=self.version,
            event_id=f"on-change:{self.trigger.claim_id}",
            source=ON_CHANGE_SOURCE,
        )

    def plan(self, lookup: Lookup) -> Plan:
        """The run it starts: the RunConfiguration's parameters, `valueFrom` from the upstreams' latest runs."""
        try:
            resolved = resolve_latest(self.rc, lookup)
        except UnresolvableParameter as exc:
            return Plan(self.rc, self.trigger, refusal=exc)
        return Plan(self.rc, self.trigger, resolved.values, resolved.omitted)


def due_changes(rc: RunConfiguration, pipeline_version: str | None) -> list[Change]:
    """The onChange triggers of `rc` that are due; `pipeline_version` as KFP reports it now (None: unknown)."""
    due = []
    if "pipeline" in rc.on_change and pipeline_version and pipeline_version != rc.consumed_pipeline_version:
        due.append(Change(rc, "pipeline", pipeline_version, rc.consumed_pipeline_version))
    generation = str(rc.generation) if rc.generation is not None else None
    if "runSpec" in rc.on_change and generation and generation != rc.consumed_run_spec_version:
        due.append(Change(rc, "runSpec", generation, rc.consumed_run_spec_version))
    return due
