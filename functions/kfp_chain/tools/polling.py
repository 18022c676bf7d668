"""`kfp-chain poll [--dry-run]`: one poll pass of plain KFP, on the same code `on_kfp_poll` runs.

It builds the very `PollApp` the function builds (`service.app.build_poll_app`) and calls the same
`poll_pass`, so the CLI and the PingSource-driven function cannot disagree. A dry run lists and maps
the runs (which RunConfiguration each belongs to, or why none) and writes nothing: no run is
started, no status recorded, the mark is not moved.
"""

from __future__ import annotations

from typing import Any

import click

from ..settings import Settings
from .terminal import emit_json

__all__ = ["poll_now"]


def poll_now(settings: Settings, dry_run: bool, output: str) -> int:
    """One pass (or its dry run) and its report; exit 0 when the pass finished, 1 when a fault stopped it."""
    from ..service.app import build_poll_app, poll_pass

    poll = build_poll_app(settings)
    try:
        status, body = poll_pass(poll, dry_run=dry_run)
    finally:
        poll.app.close()
    if output == "json":
        emit_json({"status": status, **body})
    else:
        click.echo(_summary(body))
        for run in body.get("runs") or []:
            owner = run.get("runConfiguration") or "-"
            reason = f" ({run['reason']})" if run.get("reason") else ""
            click.echo(f"- {run['runId']} {run.get('state', '')} -> {owner}: {run.get('result')}{reason}")
    return 1 if status >= 300 else 0


def _summary(body: dict[str, Any]) -> str:
    results = ", ".join(f"{n} {k}" for k, n in sorted((body.get("results") or {}).items())) or "nothing new"
    text = f"poll{' (dry run)' if body.get('dryRun') else ''}: {body.get('seen', 0)} finished runs seen: {results}"
    text += f"; {body.get('started', 0)} dependent run(s) started"
    if body.get("fault"):
        text += f"; stopped by a fault: {body['fault']}"
    return text
