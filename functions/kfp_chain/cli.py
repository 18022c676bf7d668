"""`kfp-chain`: the command line for people and CI, on the same code the function runs.

Where it sits: beside the function, never in its request path. It reads RunConfigurations from
the cluster (`--runconfigurations kubernetes`, kubeconfig or in-cluster) or from a folder of YAML
files, and answers the questions nothing else answers before it happens:

    explain  EVENT.json | NS/RC   dry run of `chain.plan`, the very function the handler calls
    graph                         trigger and parameter edges, namespaces, refused cycles
    validate                      dangling references, undeclared artifacts, cycles (exit 1 on errors)
    send     URL                  post a run-completion CloudEvent (binary or structured mode)
    run      NS/RC                start one run by hand on the local runner
    reconcile [--dry-run]         start every pending trigger now (what the on_reconcile function does)

Text output is for people (rich); `--output json` is for machines. Every option can also come from
the environment: `--runconfigurations` from RUNCONFIGURATIONS, `--output` from KFP_CHAIN_OUTPUT, and
any other from KFP_CHAIN_<COMMAND>_<OPTION> (e.g. KFP_CHAIN_SEND_MODE=structured).
`explain`, `graph`, `validate` and `reconcile --dry-run` never write: not to the cluster, not to the
state store.

Exit status, for every command: 0 ok; 1 findings or a failure of what was asked (validate found
errors, send got no 2xx answer, the cluster or the URL could not be reached); 2 usage or
configuration (a bad option or argument, a setting that is missing or wrong, a file that does not
exist). Every failure is one line on stderr, never a traceback (KFP_CHAIN_DEBUG=1 shows it).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from .adapters.folder.files import Document, read_folder
from .adapters.ports import ClaimInfo
from .chain import ONE_OFF_NOTE, Plan, plan
from .dependents import DependentsIndex
from .errors import ConfigurationError, InvalidEvent, KfpChainError
from .fan_in import join_status
from .intake import EVENT_TYPE, RunCompletion, parse_data, parse_request
from .invalid import blocking_problems
from .rc_schema import read_runconfiguration, schema_problems
from .reconcile_cli import PendingView, claim_json, involving, pending_views, run_pass
from .reconcile_cli import dry_run as dry_run_report
from .runconfiguration import (
    MAX_AGE_ANNOTATION,
    POLICY_ANNOTATION,
    Artifact,
    RcKey,
    RunConfiguration,
)
from .settings import Settings

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
DRY_RUN_ID = "dry-run"
GRAPH_FORMATS = ("mermaid", "dot", "json", "png", "svg")


# -- loading ---------------------------------------------------------------------------------
@dataclass
class Loaded:
    """What the CLI knows: RunConfigurations (with status when there is one) and the ledger's records."""

    settings: Settings
    runconfigurations: list[RunConfiguration] = field(default_factory=list)
    origins: dict[RcKey, str] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    duplicates: list[tuple[RcKey, str]] = field(default_factory=list)
    triggered: dict[tuple[RcKey, RcKey, str], str | None] = field(default_factory=dict)  # -> KFP run id
    claims: list[ClaimInfo] = field(default_factory=list)  # live or expired, on triggers not yet done
    documents: dict[RcKey, Document] = field(default_factory=dict)  # folder source: where each was written

    def index(self) -> DependentsIndex:
        """Every readable RunConfiguration, invalid ones too: what `validate` and `graph` look at."""
        return DependentsIndex(self.runconfigurations)

    def valid_index(self) -> DependentsIndex:
        """What the function indexes: invalid RunConfigurations are skipped (see `invalid.py`)."""
        return DependentsIndex(rc for rc in self.runconfigurations if not blocking_problems(rc))


class Misconfigured(click.ClickException):
    """Usage or configuration: exit status 2, like click's own usage errors."""

    exit_code = 2


def settings_for(runconfigurations: str | None) -> Settings:
    env = dict(os.environ)
    if runconfigurations:
        env["RUNCONFIGURATIONS"] = runconfigurations
    try:
        return Settings.from_env(env)
    except ConfigurationError as exc:
        raise Misconfigured(str(exc)) from exc


def load(settings: Settings) -> Loaded:
    try:
        return _load_cluster(settings) if settings.from_kubernetes else _load_folder(settings)
    except ConfigurationError as exc:
        raise Misconfigured(str(exc)) from exc
    except KfpChainError as exc:
        raise click.ClickException(str(exc)) from exc


def _load_cluster(settings: Settings) -> Loaded:
    from .adapters.kubernetes.claims import claims_in
    from .adapters.kubernetes.client import kubernetes_api_client
    from .adapters.kubernetes.source import KubernetesSource

    source = KubernetesSource(kubernetes_api_client(), settings.group, settings.version, settings.namespaces)
    loaded = Loaded(settings)
    objects, _ = source.list_objects()
    _parse_into(loaded, ((f"{settings.api_version} {_where(o)}", o) for o in objects))
    loaded.claims = [c for o in objects for c in claims_in(o)]
    for rc in loaded.runconfigurations:
        for upstream, run_id in rc.triggers_consumed.items():
            loaded.triggered[(rc.key, upstream, run_id)] = None
    return loaded


def _load_folder(settings: Settings) -> Loaded:
    """Reads the YAML files itself, so a finding can name its file; status only if a store exists.

    The state store is opened only when it is already there: opening creates it, and a dry run
    must leave no trace.
    """
    folder = Path(settings.runconfigurations)
    loaded = Loaded(settings)
    documents, unreadable = read_folder(folder)
    loaded.unreadable.extend((u.where, u.reason) for u in unreadable)
    allowed = [d for d in documents if settings.allows(_namespace(d.obj))]
    _parse_into(loaded, ((d.where, d.obj) for d in allowed))
    by_where = {d.where: d for d in allowed}
    loaded.documents = {key: by_where[where] for key, where in loaded.origins.items() if where in by_where}
    if settings.state_db.exists():
        from .adapters.folder.ledger import SqliteLedger
        from .adapters.folder.source import FolderSource

        source = FolderSource(folder, settings.state_db, settings.namespaces, settings.group)
        loaded.runconfigurations = source.with_status(loaded.runconfigurations)
        loaded.claims = SqliteLedger(settings.state_db).claims()
        for row in SqliteLedger(settings.state_db).triggers():
            if row["done"]:  # a fan-in row joins its pairs with "+": each pair was consumed
                for upstream, run_id in zip(
                    row["upstream"].split("+"), str(row["runId"]).split("+"), strict=True
                ):
                    loaded.triggered[(RcKey.parse(row["dependent"]), RcKey.parse(upstream), run_id)] = row[
                        "kfpRunId"
                    ]
    return loaded


def _parse_into(loaded: Loaded, documents: Iterable[tuple[str, dict[str, Any]]]) -> None:
    for where, doc in documents:
        try:
            rc = read_runconfiguration(doc, loaded.settings.group)
        except ValueError as exc:
            loaded.unreadable.append((where, _first_line(exc)))
            continue
        if rc.key in loaded.origins:
            loaded.duplicates.append((rc.key, where))
            continue
        loaded.origins[rc.key] = where
        loaded.runconfigurations.append(rc)


def _namespace(doc: dict[str, Any]) -> str:
    metadata = doc.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


def _where(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- output ----------------------------------------------------------------------------------
def console() -> Console:
    """Soft-wrapped and unhighlighted: long names stay on one line, and output is the same in CI."""
    return Console(soft_wrap=True, highlight=False)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


source_option = click.option(
    "--runconfigurations",
    "-r",
    envvar="RUNCONFIGURATIONS",
    show_envvar=True,
    metavar="kubernetes|FOLDER",
    help="Where RunConfigurations come from: the cluster (kubeconfig) or a folder of YAML files.",
)


def common(command: F) -> F:
    command = click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        envvar="KFP_CHAIN_OUTPUT",
        show_envvar=True,
        help="text for people, json for machines.",
    )(command)
    return source_option(command)


def parse_artifacts(values: Iterable[str]) -> tuple[Artifact, ...]:
    result: dict[str, Artifact] = {}
    for value in values:
        name, sep, location = value.partition("=")
        if not sep or not name or not location:
            raise click.BadParameter(f"{value!r} is not name=uri", param_hint="--artifact")
        result[name] = Artifact(name, location)
    return tuple(result.values())


def parse_key(text: str) -> RcKey:
    try:
        return RcKey.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


class OneLineErrors(click.Group):
    """The one error path every command goes through: each failure is one line on stderr.

    click's own usage errors, our `ClickException`s, and anything unexpected (a bug, an OSError
    nobody caught) end here; exit status 2 for usage and configuration, 1 otherwise (see the
    module docstring). KFP_CHAIN_DEBUG=1 re-raises the unexpected ones with their traceback.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        except OSError as exc:  # a file that cannot be read or written: say which, and why
            _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 2)
        except Exception as exc:
            if os.environ.get("KFP_CHAIN_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {_first_line(exc)} (KFP_CHAIN_DEBUG=1 shows where)", 1
            )
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"kfp-chain: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


@click.group(
    cls=OneLineErrors,
    context_settings={"auto_envvar_prefix": "KFP_CHAIN", "help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="kfp-chain")
def main() -> None:
    """Chain Kubeflow Pipelines: explain, draw and check RunConfiguration triggers; send events."""


# -- explain ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """One dependent in a dry run: the plan, plus what the ledger already says."""

    plan: Plan | None
    dependent: RcKey
    outcome: str  # would-start | duplicate | skipped
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
        key = (p.dependent.key, event.run_configuration, event.run_id)
        if p.refusal is not None:
            decisions.append(Decision(p, p.dependent.key, "skipped", p.refusal.reason, str(p.refusal)))
        elif (
            key in loaded.triggered
            or p.dependent.triggers_consumed.get(event.run_configuration) == event.run_id
        ):
            decisions.append(
                Decision(
                    p,
                    p.dependent.key,
                    "duplicate",
                    "already-triggered",
                    f"run {event.run_id} of {event.run_configuration} already triggered it",
                    loaded.triggered.get(key),
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
    target: str, loaded: Loaded, status: str | None, run_id: str | None, artifacts: tuple[Artifact, ...]
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
    placeholders = not artifacts
    if placeholders:
        rc = next((r for r in loaded.runconfigurations if r.key == key), None)
        declared = rc.artifacts if rc is not None else ()
        artifacts = tuple(Artifact(d.name, f"<{key}:{d.name}>") for d in declared)
    event = RunCompletion(key, status or "succeeded", run_id or DRY_RUN_ID, artifacts=artifacts)
    return event, placeholders and bool(artifacts)


@main.command()
@click.argument("target", metavar="EVENT.json|NAMESPACE/NAME")
@click.option(
    "--artifact",
    "-a",
    "artifacts",
    multiple=True,
    metavar="NAME=URI",
    help="An artifact of the upstream run (repeatable).",
)
@click.option("--run-id", help=f"The upstream run id [default: the event's, or {DRY_RUN_ID}].")
@click.option(
    "--status",
    type=click.Choice(["succeeded", "failed"]),
    help="The upstream run's status [default: succeeded].",
)
@common
def explain(
    target: str,
    artifacts: tuple[str, ...],
    run_id: str | None,
    status: str | None,
    runconfigurations: str | None,
    output: str,
) -> None:
    """What would start if this run completed now, with which parameters, and why not the others.

    A dry run through the function's own planning code; nothing is written anywhere. Without
    --artifact, an NS/NAME stands for a run producing the artifacts its RunConfiguration declares,
    shown as <ns/name:artifact> placeholders.
    """
    loaded = load(settings_for(runconfigurations))
    event, placeholders = event_from(target, loaded, status, run_id, parse_artifacts(artifacts))
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
    _print_pending(out, pending, claims)


def _claims_in_progress(loaded: Loaded, key: RcKey, decisions: list[Decision]) -> list[ClaimInfo]:
    """Live claims on the RunConfiguration itself or on any dependent the decisions name."""
    on = {key, *(d.dependent for d in decisions)}
    now = datetime.now(UTC)
    return [c for c in loaded.claims if c.dependent in on and c.live(now)]


def _print_pending(out: Console, pending: list[PendingView], claims: list[ClaimInfo]) -> None:
    if pending:
        out.print(
            f"{len(pending)} pending trigger(s) (reconcile starts them; `kfp-chain reconcile` does it now):"
        )
        for v in pending:
            item = v.pending
            since = f"last consumed {escape(item.consumed)}" if item.consumed else "never consumed one"
            out.print(
                f"- [bold]{escape(str(item.dependent.key))}[/] <- {escape(str(item.upstream.key))} latest run "
                f"{escape(item.run_id)} ({since}): {escape(v.would)}"
                + (f": {escape(v.reason)}" if v.reason else "")
            )
    for c in claims:
        until = c.expires_at.isoformat() if c.expires_at else "?"
        out.print(
            f"claim in progress: {escape(str(c.dependent))} <- {escape(c.upstream)} run {escape(c.run_id)}, "
            f"held by {escape(c.holder)} until {escape(until)}"
        )


def _print_decision(out: Console, d: Decision) -> None:
    label = {
        "would-start": "[green]would start[/]",
        "duplicate": "[yellow]already triggered[/]",
        "skipped": "[red]not started[/]",
    }[d.outcome]
    reason = f": {escape(d.reason)}" if d.reason and d.outcome == "skipped" else ""
    out.print(f"- [bold]{escape(str(d.dependent))}[/] {label}{reason}")
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


# -- graph -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edge:
    upstream: RcKey
    dependent: RcKey
    kind: str  # trigger | parameter
    label: str
    cycle: str = ""  # "" | "member" (a trigger edge inside a cycle) | "refused" (the function refuses it)


def graph_of(loaded: Loaded) -> tuple[list[RcKey], set[RcKey], list[Edge]]:
    """Nodes (existing and referenced-but-missing), the missing ones, and every edge in a stable order."""
    index = loaded.index()
    cycles = index.cycles()
    components = [set(members) for members in cycles.values()]
    edges: list[Edge] = []
    for rc in index.all():
        for upstream in rc.triggered_by:
            if (upstream, rc.key) in cycles:
                edges.append(Edge(upstream, rc.key, "trigger", "trigger, cycle: refused", "refused"))
            elif any(upstream in c and rc.key in c for c in components):
                edges.append(Edge(upstream, rc.key, "trigger", "trigger, in a cycle", "member"))
            else:
                edges.append(Edge(upstream, rc.key, "trigger", "trigger"))
        for p in rc.parameters:
            if p.ref is not None:
                edges.append(Edge(p.ref, rc.key, "parameter", f"{p.output_artifact} → {p.name}"))
    known = set(loaded.origins)
    nodes = sorted(known | {e.upstream for e in edges} | {e.dependent for e in edges})
    return nodes, {n for n in nodes if n not in known}, edges


def _by_namespace(nodes: list[RcKey]) -> dict[str, list[RcKey]]:
    groups: dict[str, list[RcKey]] = {}
    for node in nodes:
        groups.setdefault(node.namespace, []).append(node)
    return groups


def mermaid(
    nodes: list[RcKey], missing: set[RcKey], edges: list[Edge], fan_in: set[RcKey] | None = None
) -> str:
    """`fan_in` nodes (trigger policy `all`: one run once every upstream has a new success) say so."""
    ids = {node: f"n{i}" for i, node in enumerate(nodes)}
    lines = ["flowchart LR"]
    for i, (namespace, members) in enumerate(_by_namespace(nodes).items()):
        lines.append(f'  subgraph ns{i}["{namespace}"]')
        for node in members:
            suffix = " (missing)" if node in missing else " (all upstreams)" if node in (fan_in or ()) else ""
            lines.append(f'    {ids[node]}["{node.name}{suffix}"]')
        lines.append("  end")
    styles = []
    for i, e in enumerate(edges):
        arrow = "-->" if e.kind == "trigger" else "-.->"
        lines.append(f'  {ids[e.upstream]} {arrow}|"{e.label}"| {ids[e.dependent]}')
        if e.cycle == "refused":
            styles.append(f"  linkStyle {i} stroke:#d62728,stroke-width:3px,color:#d62728")
        elif e.cycle == "member":
            styles.append(f"  linkStyle {i} stroke:#ff7f0e,stroke-width:2px")
    lines.extend(styles)
    if missing:
        lines.append("  classDef missing stroke:#d62728,stroke-dasharray:5 5")
        lines.append(f"  class {','.join(ids[n] for n in sorted(missing))} missing")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(nodes: list[RcKey], missing: set[RcKey], edges: list[Edge], fan_in: set[RcKey] | None = None) -> str:
    lines = [
        "digraph kfp_chain {",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for i, (namespace, members) in enumerate(_by_namespace(nodes).items()):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_q(namespace)};")
        for node in members:
            if node in missing:
                lines.append(
                    f'    {_q(str(node))} [label={_q(node.name + " (missing)")}, style="rounded,dashed", color=red];'
                )
            elif node in (fan_in or ()):
                lines.append(
                    f"    {_q(str(node))} [label={_q(node.name + ' (all upstreams)')}, peripheries=2];"
                )
            else:
                lines.append(f"    {_q(str(node))} [label={_q(node.name)}];")
        lines.append("  }")
    for e in edges:
        attributes = [f"label={_q(e.label)}"]
        if e.kind == "parameter":
            attributes.append("style=dashed")
        if e.cycle == "refused":
            attributes.extend(["color=red", "fontcolor=red", "penwidth=2.5"])
        elif e.cycle == "member":
            attributes.extend(["color=darkorange", "penwidth=2"])
        lines.append(f"  {_q(str(e.upstream))} -> {_q(str(e.dependent))} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str) -> bytes:
    binary = shutil.which("dot")
    if binary is None:
        raise click.ClickException(
            f"--format {fmt} needs Graphviz's `dot` (`make graphviz`, or apt-get install graphviz); "
            "--format dot or mermaid need nothing"
        )
    done = subprocess.run(
        [binary, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


@main.command()
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS), default="mermaid", show_default=True)
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout."
)
@source_option
def graph(fmt: str, out_path: Path | None, runconfigurations: str | None) -> None:
    """The RunConfiguration dependency graph.

    Trigger edges are solid, parameter edges (valueFrom.runConfigurationRef) dashed, namespaces
    are boxes, trigger edges inside a cycle are orange and the ones the function refuses (so the
    loop cannot spin) red, and referenced RunConfigurations that do not exist are dashed red nodes.
    """
    loaded = load(settings_for(runconfigurations))
    nodes, missing, edges = graph_of(loaded)
    fan_in = {rc.key for rc in loaded.runconfigurations if rc.fan_in}
    data: bytes
    if fmt == "json":
        data = (
            json.dumps(
                {
                    "nodes": [
                        {
                            "id": str(n),
                            "namespace": n.namespace,
                            "name": n.name,
                            "missing": n in missing,
                            "policy": "all" if n in fan_in else "any",
                        }
                        for n in nodes
                    ],
                    "edges": [
                        {
                            "from": str(e.upstream),
                            "to": str(e.dependent),
                            "kind": e.kind,
                            "label": e.label,
                            "cycle": e.cycle,
                        }
                        for e in edges
                    ],
                },
                indent=2,
            )
            + "\n"
        ).encode()
    elif fmt == "mermaid":
        data = mermaid(nodes, missing, edges, fan_in).encode()
    else:
        text = dot(nodes, missing, edges, fan_in)
        data = text.encode() if fmt == "dot" else render(text, fmt)
    if out_path is not None:
        out_path.write_bytes(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


# -- validate --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning
    subject: str
    code: str
    message: str
    where: str = ""  # file:line (folder source), when known

    def as_json(self) -> dict[str, str]:
        body = {
            "severity": self.severity,
            "subject": self.subject,
            "code": self.code,
            "message": self.message,
        }
        if self.where:
            body["where"] = self.where
        return body


def _problem_findings(loaded: Loaded, rc: RunConfiguration) -> list[Finding]:
    """The object's own problems (schema, then semantic), each at its line when the file is known."""
    doc = loaded.documents.get(rc.key)
    lines = {}
    if doc is not None:
        lines = {text: doc.line_of(path) for path, text in schema_problems(doc.obj, loaded.settings.group)}
    found = []
    for problem in rc.problems:
        schema = problem.startswith("schema: ")
        text = problem.removeprefix("schema: ")
        code = "schema" if schema else "malformed"
        if "both value and valueFrom" in problem:
            code = "value-and-valuefrom"
        elif problem.startswith(POLICY_ANNOTATION):
            code = "unknown-policy"
        elif problem.startswith(MAX_AGE_ANNOTATION):
            code = "invalid-max-age"
        where = ""
        if doc is not None:
            where = f"{doc.file}:{lines.get(text, doc.line)}"
        found.append(Finding("error", str(rc.key), code, text, where))
    return found


def findings(loaded: Loaded) -> list[Finding]:
    """Every problem that would make a trigger misbehave, most specific subject first."""
    found: list[Finding] = [
        Finding("error", where.split(":")[0], "unreadable", why, where if ":" in where else "")
        for where, why in loaded.unreadable
    ]
    for key, where in loaded.duplicates:
        found.append(
            Finding(
                "error",
                str(key),
                "duplicate",
                f"defined again in {where} (first in {loaded.origins[key]})",
                where if loaded.documents else "",
            )
        )
    by_key = {rc.key: rc for rc in loaded.runconfigurations}
    index = loaded.index()
    for rc in index.all():
        subject = str(rc.key)
        found.extend(_problem_findings(loaded, rc))
        if rc.fan_in and len(rc.triggered_by) < 2:
            found.append(
                Finding(
                    "warning",
                    subject,
                    "fan-in-single-upstream",
                    f"{POLICY_ANNOTATION}: all with {len(rc.triggered_by)} upstream(s) behaves like any",
                )
            )
        if rc.fan_in_max_age is not None and not rc.fan_in:
            found.append(
                Finding(
                    "warning",
                    subject,
                    "max-age-without-fan-in",
                    f"{MAX_AGE_ANNOTATION} applies only with policy all",
                )
            )
        for upstream in rc.triggered_by:
            if upstream not in by_key:
                found.append(
                    Finding(
                        "error",
                        subject,
                        "missing-trigger",
                        f"triggers.runConfigurations names {upstream}, which does not exist",
                    )
                )
        for p in rc.parameters:
            if p.ref is None:
                continue
            severity = "warning" if p.optional else "error"
            upstream_rc = by_key.get(p.ref)
            if upstream_rc is None:
                found.append(
                    Finding(
                        severity,
                        subject,
                        "missing-reference",
                        f"parameter {p.name} reads {p.ref}, which does not exist",
                    )
                )
            elif p.output_artifact not in {a.name for a in upstream_rc.artifacts}:
                declared = ", ".join(a.name for a in upstream_rc.artifacts) or "none"
                found.append(
                    Finding(
                        severity,
                        subject,
                        "undeclared-artifact",
                        f"parameter {p.name} reads artifact {p.output_artifact!r} of {p.ref}, which declares "
                        f"no such artifact in spec.run.artifacts (it declares: {declared})",
                    )
                )
    for (upstream, dependent), members in sorted(index.cycles().items()):
        path = ", ".join(str(m) for m in members)
        found.append(
            Finding(
                "error",
                str(dependent),
                "cycle",
                f"trigger {upstream} -> {dependent} closes a cycle among {path}; the function refuses this edge",
            )
        )
    return found


@main.command()
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@common
def validate(strict: bool, runconfigurations: str | None, output: str) -> None:
    """Check RunConfigurations before `kubectl apply`; exit 1 when there are errors.

    Errors: references to RunConfigurations that do not exist, outputArtifact names the upstream
    does not declare in spec.run.artifacts, trigger cycles, value and valueFrom both set,
    unreadable or duplicate objects. References marked optional only warn.
    """
    loaded = load(settings_for(runconfigurations))
    found = findings(loaded)
    errors = sum(f.severity == "error" for f in found)
    warnings = len(found) - errors
    if output == "json":
        emit_json(
            {
                "runConfigurations": len(loaded.runconfigurations),
                "errors": errors,
                "warnings": warnings,
                "findings": [f.as_json() for f in found],
            }
        )
    else:
        out = console()
        for f in found:
            colour = "red" if f.severity == "error" else "yellow"
            # `file:line ns/name`, or just `file:line` when the file is the subject (unreadable)
            if f.where.startswith(f.subject):
                subject = f.where
            else:
                subject = f"{f.where} {f.subject}" if f.where else f.subject
            out.print(
                f"[{colour}]{f.severity:<7}[/] {escape(subject)}: {escape(f.message)} [dim]\\[{f.code}][/]"
            )
        verdict = "[green]ok[/]" if not errors and not (strict and warnings) else "[red]failed[/]"
        out.print(
            f"{len(loaded.runconfigurations)} RunConfiguration(s), {errors} error(s), {warnings} warning(s): {verdict}"
        )
    if errors or (strict and warnings):
        sys.exit(1)


# -- send ------------------------------------------------------------------------------------
@main.command()
@click.argument("url")
@click.option("--status", type=click.Choice(["succeeded", "failed"]), default="succeeded", show_default=True)
@click.option(
    "--rc", "rc", required=True, metavar="NAMESPACE/NAME", help="The RunConfiguration whose run completed."
)
@click.option(
    "--artifact",
    "-a",
    "artifacts",
    multiple=True,
    metavar="NAME=URI",
    help="An output artifact (repeatable).",
)
@click.option("--mode", type=click.Choice(["binary", "structured"]), default="binary", show_default=True)
@click.option("--run-id", help="The completed run's id [default: a new UUID].")
@click.option("--run-name", help="The completed run's name.")
@click.option("--pipeline", help="pipelineName, NAMESPACE/NAME.")
@click.option(
    "--source", "ce_source", default="kfp-chain-cli", show_default=True, help="The CloudEvent source."
)
@click.option("--traceparent", help="A W3C traceparent to carry as a CloudEvents extension.")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the answer."
)
@click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", envvar="KFP_CHAIN_OUTPUT"
)
def send(
    url: str,
    status: str,
    rc: str,
    artifacts: tuple[str, ...],
    mode: str,
    run_id: str | None,
    run_name: str | None,
    pipeline: str | None,
    ce_source: str,
    traceparent: str | None,
    timeout: float,
    output: str,
) -> None:
    """Post a run-completion CloudEvent to URL, as kfp-operator's event source would.

    Exits 1 when the answer is not 2xx (4xx: the event is unusable; 5xx: a broker would retry).
    """
    from cloudevents.conversion import to_binary, to_structured
    from cloudevents.http import CloudEvent

    try:
        target = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="URL") from exc
    if target.scheme not in ("http", "https") or not target.netloc:
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="URL")

    data: dict[str, Any] = {
        "status": status,
        "runConfigurationName": rc,
        "runId": run_id or str(uuid.uuid4()),
        "artifacts": [{"name": a.name, "location": a.location} for a in parse_artifacts(artifacts)],
        "runEndTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if run_name:
        data["runName"] = run_name
    if pipeline:
        data["pipelineName"] = pipeline
    try:
        parse_data(data)  # refuse here what the function would refuse with 400
    except InvalidEvent as exc:
        raise click.BadParameter(str(exc)) from exc
    attributes = {"type": EVENT_TYPE, "source": ce_source}
    if traceparent:
        attributes["traceparent"] = traceparent
    event = CloudEvent(attributes, data)
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    if mode == "binary":
        headers["content-type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            code, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, answer = exc.code, exc.read()
    except http.client.InvalidURL as exc:  # spaces or control characters: the URL, not the server
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="URL") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise click.ClickException(f"POST {url}: {exc}") from exc
    text = answer.decode(errors="replace")
    if output == "json":
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        emit_json({"status": code, "eventId": event["id"], "runId": data["runId"], "body": parsed})
    else:
        click.echo(f"{code} {event['id']} runId={data['runId']}")
        click.echo(text)
    if not 200 <= code < 300:
        sys.exit(1)


# -- reconcile -------------------------------------------------------------------------------
@main.command()
@click.option("--dry-run", is_flag=True, help="List pending triggers and what would start; write nothing.")
@common
def reconcile(dry_run: bool, runconfigurations: str | None, output: str) -> None:
    """Start every pending trigger now: each upstream's latest success its dependents have not consumed.

    Reads the same environment as the function (RUNCONFIGURATIONS, KFP_HOST, KUBECONFIG, ...) and
    runs one pass of `on_reconcile`. Exit 0 when the pass finished, whether or not it started runs;
    1 when a fault stopped it (a backend down, or refusing kfp-chain's credentials); 2 on usage.
    """
    settings = settings_for(runconfigurations)
    if dry_run:
        loaded = load(settings)
        report = dry_run_report(settings, loaded.runconfigurations, loaded.claims)
        if output == "json":
            emit_json(report)
            return
        out = console()
        views = pending_views(settings, loaded.runconfigurations, loaded.claims)
        out.print(f"dry run: {len(views)} pending trigger(s), nothing written")
        _print_pending(out, views, [c for c in loaded.claims if c.live(datetime.now(UTC))])
        return
    status, body = run_pass(settings)
    if output == "json":
        emit_json({"status": status, **body})
    else:
        click.echo(
            f"reconcile: {body.get('pending', 0)} pending, {body.get('started', 0)} started, "
            f"{body.get('duplicates', 0)} already started, {body.get('remaining', 0)} still pending"
            + (f" ({body['message']})" if "message" in body else "")
        )
    if status >= 300:
        sys.exit(1)


# -- run -------------------------------------------------------------------------------------
@main.command("run")
@click.argument("target", metavar="NAMESPACE/NAME")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Return once the run finished and its event was sent.",
)
@click.option(
    "--runconfigurations",
    "-r",
    envvar="RUNCONFIGURATIONS",
    show_envvar=True,
    metavar="FOLDER",
    help="The folder of RunConfiguration YAML files.",
)
def run_command(target: str, wait: bool, runconfigurations: str | None) -> None:
    """Start one run of a RunConfiguration now on the local runner (its schedule, by hand)."""
    from .adapters.local.runner import start_by_hand

    key = parse_key(target)
    try:
        run_id = start_by_hand(settings_for(runconfigurations), key, wait=wait)
    except KfpChainError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(run_id)
