"""`kfp-chain validate`: every problem that would make a trigger misbehave, found before `kubectl apply`.

Where it sits: beside the function, reading what `inventory` loaded (invalid objects too, which
the function skips). A finding is an error (validate exits 1) or a warning (only with --strict),
about one RunConfiguration or one file, at its file and line when the folder source knows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.markup import escape

from ..artifact_paths import parse_path
from ..errors import KfpChainError, UnknownPipeline
from ..rc_schema import schema_problems
from ..runconfiguration import MAX_AGE_ANNOTATION, POLICY_ANNOTATION, RunConfiguration
from ..schedules import schedule_problems
from ..settings import Settings
from .inventory import Loaded, load
from .terminal import console, emit_json

__all__ = ["Finding", "Severity", "findings", "show_validation"]

Severity = Literal["error", "warning"]
COLOURS: dict[Severity, str] = {"error": "red", "warning": "yellow"}


@dataclass(frozen=True)
class Finding:
    severity: Severity
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
        elif problem.startswith("spec.run.pipeline"):
            code = "missing-pipeline"
        where = ""
        if doc is not None:
            where = f"{doc.file}:{lines.get(text, doc.line)}"
        found.append(Finding("error", str(rc.key), code, text, where))
    return found


def _artifact_path_findings(loaded: Loaded, rc: RunConfiguration) -> list[Finding]:
    """Paths the CRD's pattern lets through whose filter (or index) cannot be read: never found at run time."""
    doc = loaded.documents.get(rc.key)
    found = []
    for i, declaration in enumerate(rc.artifacts):
        field = f"spec.run.artifacts[{i}].path"
        if any(p.startswith(f"schema: {field}") for p in rc.problems):
            continue  # the schema finding already says it
        try:
            parse_path(declaration.path)
        except ValueError as exc:
            where = f"{doc.file}:{doc.line_of(('spec', 'run', 'artifacts', i, 'path'))}" if doc else ""
            found.append(Finding("error", str(rc.key), "malformed-artifact-path", f"{field}: {exc}", where))
    return found


def findings(loaded: Loaded) -> list[Finding]:
    """Every problem that would make a trigger misbehave, most specific subject first."""
    found: list[Finding] = [
        Finding("error", where.split(":")[0], "unreadable", why, where if ":" in where else "")
        for where, why in loaded.unreadable
    ]
    if not loaded.runconfigurations and not loaded.unreadable:
        # A CI job pointed at the wrong folder or namespace must not pass by checking nothing.
        source = loaded.settings.runconfigurations
        what = (
            "the cluster"
            if loaded.settings.from_kubernetes
            else f"{source} (no *.yaml or *.yml file holds one)"
        )
        found.append(Finding("error", source, "empty-source", f"no RunConfiguration found in {what}"))
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
        found.extend(_artifact_path_findings(loaded, rc))
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
            severity: Severity = "warning" if p.optional else "error"
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
    for rc in index.all():
        found.extend(Finding("error", str(rc.key), "bad-schedule", p) for p in schedule_problems(rc))
    if loaded.settings.kfp_host:
        found.extend(_pipeline_findings(loaded.settings, [rc for rc in index.all() if rc.schedules]))
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


def _pipeline_findings(settings: Settings, scheduled: list[RunConfiguration]) -> list[Finding]:
    """With KFP_HOST: the scheduled RunConfigurations whose pipeline (or pinned version) KFP does not know."""
    if not scheduled:
        return []
    from ..adapters.kfp.launcher import KfpLauncher
    from ..service.app import build_launcher

    launcher = build_launcher(settings, [])
    if not isinstance(launcher, KfpLauncher):  # pragma: no cover - KFP_HOST makes it one
        return []
    found = []
    for rc in scheduled:
        try:
            launcher.pipeline_ref(rc.pipeline, rc.key)
        except UnknownPipeline as exc:
            found.append(Finding("error", str(rc.key), "unknown-pipeline", f"triggers.schedules: {exc}"))
        except KfpChainError as exc:
            text = f"could not ask KFP about pipeline {rc.pipeline!r}: {exc}"
            found.append(Finding("warning", str(rc.key), "kfp-unreachable", text))
    return found


def show_validation(settings: Settings, strict: bool, output: str) -> int:
    """`kfp-chain validate`: the findings and a verdict; exit status 1 on errors (or warnings, strict)."""
    loaded = load(settings)
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
            # `file:line ns/name`, or just `file:line` when the file is the subject (unreadable)
            if f.where.startswith(f.subject):
                subject = f.where
            else:
                subject = f"{f.where} {f.subject}" if f.where else f.subject
            out.print(
                f"[{COLOURS[f.severity]}]{f.severity:<7}[/] {escape(subject)}: {escape(f.message)} [dim]\\[{f.code}][/]"
            )
        verdict = "[green]ok[/]" if not errors and not (strict and warnings) else "[red]failed[/]"
        out.print(
            f"{len(loaded.runconfigurations)} RunConfiguration(s), {errors} error(s), {warnings} warning(s): {verdict}"
        )
    return 1 if errors or (strict and warnings) else 0
