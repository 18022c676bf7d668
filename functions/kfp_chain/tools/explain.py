"""`kfp-chain explain`: what the function would decide for one run-completion event, without doing it.

Where it sits: beside the function, on the same code. `decide` runs `chain.plan`, the very function
the handler calls, on what `inventory` loaded, and asks the same ledger the function claims with
whether each trigger is already consumed (`Ledger.consumed`: `claim`'s own DONE rule, so the two
cannot drift). Nothing is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.markup import escape

from ..adapters.ports import ClaimInfo
from ..errors import InvalidEvent
from ..fan_in import join_status
from ..intake import RunCompletion, RunStatus, parse_request
from ..invalid import blocking_problems
from ..outcomes import ONE_OFF_NOTE
from ..planning import Plan, plan
from ..runconfiguration import ADOPT_RUNS_ANNOTATION, Artifact, RcKey, RunConfiguration
from ..settings import Settings
from .inventory import Loaded, load, report_skipped
from .options import parse_key
from .pending import claim_json, involving, pending_views, print_pending
from .terminal import console, emit_json

__all__ = ["DRY_RUN_ID", "Decision", "Outcome", "decide", "event_from", "show_explanation"]

DRY_RUN_ID = "dry-run"
Outcome = Literal["would-start", "duplicate", "skipped"]
LABELS: dict[Outcome, str] = {
    "would-start": "[green]would start[/]",
    "duplicate": "[yellow]already triggered[/]",
    "skipped": "[red]not started[/]",
}


@dataclass(frozen=True)
class Decision:
    """One dependent in a dry run: the plan, plus what the ledger already says."""

    plan: Plan | None
    dependent: RcKey
    outcome: Outcome
    reason: str | None = None
    detail: str | None = None
    kfp_run_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"dependent": str(self.dependent), "outcome": self.outcome}
        if self.reason:
            body["reason"] = self.reason
        if self.detail:
            body["detail"] = self.detail
        if self.plan is not None:
            body["displayName"] = self.plan.trigger.display_name
            if self.plan.runnable:
                body["parameters"] = self.plan.parameters
                if self.plan.omitted:
                    body["omitted"] = list(self.plan.omitted)
        if self.kfp_run_id:
            body["kfpRunId"] = self.kfp_run_id
        return body


def decide(loaded: Loaded, event: RunCompletion) -> tuple[list[Decision], str | None]:
    """The function's decisions for `event`, without carrying any of them out."""
    if event.one_off:
        return [], ONE_OFF_NOTE
    if not event.succeeded:
        return [], f"status {event.status}: nothing starts"
    index = loaded.valid_index()
    decisions: list[Decision] = []
    for p in plan(index, event, loaded.settings.allows):
        if p.refusal is not None:
            decisions.append(Decision(p, p.dependent.key, "skipped", p.refusal.reason, str(p.refusal)))
        elif loaded.consumed(p.trigger):
            decisions.append(
                Decision(
                    p,
                    p.dependent.key,
                    "duplicate",
                    "already-triggered",
                    f"run {event.run_id} of {event.run_configuration} already triggered it",
                    loaded.kfp_run_ids.get((p.dependent.key, event.run_configuration, event.run_id)),
                )
            )
        else:
            decisions.append(Decision(p, p.dependent.key, "would-start"))
    for rc in loaded.index().dependents_of(event.run_configuration):
        if not loaded.settings.allows(rc.key.namespace):
            detail = f"namespace {rc.key.namespace} is not in RUNCONFIGURATION_NAMESPACES"
            decisions.append(Decision(None, rc.key, "skipped", "namespace-not-watched", detail))
        elif blocking_problems(rc):
            detail = f"invalid, so the function skips it: {'; '.join(blocking_problems(rc))}"
            decisions.append(Decision(None, rc.key, "skipped", "invalid-runconfiguration", detail))
    note = None if decisions else "nothing depends on this RunConfiguration"
    return decisions, note


def event_from(
    target: str, loaded: Loaded, status: RunStatus | None, run_id: str | None, artifacts: tuple[Artifact, ...]
) -> tuple[RunCompletion, bool]:
    """An event from a JSON file (data object or structured CloudEvent) or from `NS/RC` + options.

    Returns the event and whether its artifacts are placeholders for the RunConfiguration's
    declared outputs (no --artifact given): "what if it succeeded now, producing what it declares".
    """
    path = Path(target)
    if path.is_file():
        try:
            # The function's own intake: a RunCompletionEvent, kfp-operator's NATS message
            # {"data": ...}, or a structured CloudEvent, exactly as a POST body would be read.
            event = parse_request({"content-type": "application/json"}, path.read_bytes())
        except InvalidEvent as exc:
            raise click.BadParameter(f"{target}: {exc}", param_hint="EVENT.json") from exc
        merged = {a.name: a for a in event.artifacts} | {a.name: a for a in artifacts}
        return replace(
            event,
            status=status or event.status,
            run_id=run_id or event.run_id,
            artifacts=tuple(merged.values()),
        ), False
    if path.exists():
        raise click.BadParameter(f"{target} is not a file", param_hint="EVENT.json")
    if path.suffix.lower() in (".json", ".yaml", ".yml", ".txt"):
        raise click.BadParameter(f"{target}: no such file", param_hint="EVENT.json")
    try:
        RcKey.parse(target)
    except ValueError:
        raise click.BadParameter(
            f"{target!r} is neither an event file (no such file) nor NAMESPACE/NAME",
            param_hint="EVENT.json|NAMESPACE/NAME",
        ) from None
    key = parse_key(target)
    if key not in loaded.origins and not loaded.index().dependents_of(key):
        where = "the cluster" if loaded.settings.from_kubernetes else loaded.settings.runconfigurations
        raise click.BadParameter(
            f"{target}: no RunConfiguration of that name in {where}, and none triggers on it",
            param_hint="NAMESPACE/NAME",
        )
    placeholders = not artifacts
    if placeholders:
        rc = next((r for r in loaded.runconfigurations if r.key == key), None)
        declared = rc.artifacts if rc is not None else ()
        artifacts = tuple(Artifact(d.name, f"<{key}:{d.name}>") for d in declared)
    event = RunCompletion(key, status or RunStatus.SUCCEEDED, run_id or DRY_RUN_ID, artifacts=artifacts)
    return event, placeholders and bool(artifacts)


def show_explanation(
    settings: Settings,
    target: str,
    artifacts: tuple[Artifact, ...],
    run_id: str | None,
    status: RunStatus | None,
    output: str,
) -> None:
    """`kfp-chain explain`: load, decide, and show the decisions with what is pending around them."""
    loaded = load(settings)
    report_skipped(loaded)
    event, placeholders = event_from(target, loaded, status, run_id, artifacts)
    decisions, note = decide(loaded, event)
    pending = involving(
        pending_views(loaded.settings, loaded.runconfigurations, loaded.claims), event.run_configuration
    )
    claims = _claims_in_progress(loaded, event.run_configuration, decisions)
    index = loaded.index()
    target_rc = index.get(event.run_configuration)
    fan_in = join_status(index, target_rc) if target_rc is not None and target_rc.fan_in else None
    if output == "json":
        emit_json(
            {
                "event": {
                    "runConfigurationName": event.emitter,
                    "status": event.status,
                    "runId": event.run_id,
                    "artifacts": [{"name": a.name, "location": a.location} for a in event.artifacts],
                    "placeholderArtifacts": placeholders,
                },
                "known": event.run_configuration in loaded.origins,
                **({"adoptRuns": _adoption(target_rc)} if target_rc is not None else {}),
                "note": note,
                "dependents": [d.as_json() for d in decisions],
                "pending": [v.as_json() for v in pending],
                "claimsInProgress": [claim_json(c) for c in claims],
                **({"fanIn": fan_in} if fan_in is not None else {}),
            }
        )
        return
    out = console()
    out.print(
        f"[bold]{escape(event.emitter or '(one-off Run)')}[/] {event.status}, run {escape(event.run_id)}"
    )
    if not event.one_off and event.run_configuration not in loaded.origins:
        out.print("  [yellow]not found in the source[/] (its dependents are still looked up)")
    for a in event.artifacts:
        out.print(f"  artifact {escape(a.name)} = {escape(a.location)}")
    if placeholders:
        out.print("  (declared artifacts as placeholders; pass --artifact NAME=URI for real locations)")
    if target_rc is not None and settings.kfp_host:  # only the poll of a KFP server adopts runs
        out.print(f"  plain KFP: {escape(_adoption(target_rc))}")
    if note:
        out.print(note)
    else:
        starting = sum(d.outcome == "would-start" for d in decisions)
        out.print(f"{len(decisions)} dependent(s), {starting} would start:")
        for d in decisions:
            _print_decision(out, d)
    if fan_in is not None:
        out.print(
            f"{escape(str(event.run_configuration))} starts once every upstream has a new success (policy all):"
        )
        for upstream, entry in fan_in.items():
            out.print(
                f"  {escape(upstream)}: latest run {escape(entry['latestRun'] or '-')}: {escape(entry['state'] or '')}"
            )
    print_pending(out, pending, claims)


def _adoption(rc: RunConfiguration) -> str:
    """What the poll of plain KFP does with runs of this pipeline nobody marked (`ownership.py`, rule 4)."""
    if rc.adopt_runs:
        return f"runs of pipeline {rc.pipeline!r} started by hand are adopted ({ADOPT_RUNS_ANNOTATION})"
    return (
        f"runs of pipeline {rc.pipeline!r} started by hand start nothing: "
        f'not annotated {ADOPT_RUNS_ANNOTATION}: "true"'
    )


def _claims_in_progress(loaded: Loaded, key: RcKey, decisions: list[Decision]) -> list[ClaimInfo]:
    """Live claims on the RunConfiguration itself or on any dependent the decisions name."""
    on = {key, *(d.dependent for d in decisions)}
    now = datetime.now(UTC)
    return [c for c in loaded.claims if c.dependent in on and c.live(now)]


def _print_decision(out: Console, d: Decision) -> None:
    reason = f": {escape(d.reason)}" if d.reason and d.outcome == "skipped" else ""
    out.print(f"- [bold]{escape(str(d.dependent))}[/] {LABELS[d.outcome]}{reason}")
    if d.plan is not None:
        out.print(f"    run name: {escape(d.plan.trigger.display_name)}")
    if d.outcome == "would-start" and d.plan is not None:
        for name, value in d.plan.parameters.items():
            out.print(f"    {escape(name)} = {escape(value)}")
        for name in d.plan.omitted:
            out.print(
                f"    {escape(name)} left out (optional artifact missing: the pipeline default applies)"
            )
    elif d.outcome == "duplicate":
        out.print(
            f"    {escape(d.detail or '')}" + (f" (KFP run {escape(d.kfp_run_id)})" if d.kfp_run_id else "")
        )
    elif d.detail:
        out.print(f"    {escape(d.detail)}")
