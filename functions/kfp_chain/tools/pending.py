"""Pending triggers as `kfp-chain` shows them, and the command's reconcile pass.

What `kfp-chain reconcile` does, and the pending part of `kfp-chain explain`, apart from parsing
options.
A dry run reads what the CLI has loaded (RunConfigurations with their status, and the claims the
ledger holds) and plans each pending trigger with the function's own `plan_one`; nothing is
written. A real pass builds the same App the `on_reconcile` function runs and calls the same
`reconcile_pass`, so the CLI and the PingSource-driven function cannot disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import click
from rich.console import Console
from rich.markup import escape

from ..adapters.ports import ClaimInfo
from ..dependents import DependentsIndex
from ..planning import plan_one
from ..reconcile import Pending, pending_triggers
from ..runconfiguration import RcKey, RunConfiguration
from ..settings import Settings
from .inventory import load, report_skipped
from .terminal import console, emit_json

__all__ = [
    "PendingView",
    "Would",
    "claim_json",
    "dry_run_report",
    "involving",
    "pending_views",
    "print_pending",
    "reconcile_now",
    "run_pass",
]

Would = Literal["would-start", "not-started", "in-progress"]

log = logging.getLogger("kfp_chain.cli")


@dataclass(frozen=True)
class PendingView:
    """One pending trigger as a person reads it: what would start, or why not, and who holds it."""

    pending: Pending
    would: Would
    parameters: dict[str, str]
    reason: str | None = None
    detail: str | None = None
    claim: ClaimInfo | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {**self.pending.as_json(), "would": self.would}
        if self.parameters:
            body["parameters"] = self.parameters
        if self.reason:
            body["reason"], body["detail"] = self.reason, self.detail
        if self.claim is not None:
            body["claim"] = claim_json(self.claim)
        return body


def claim_json(claim: ClaimInfo) -> dict[str, Any]:
    return {
        "dependent": str(claim.dependent),
        "upstream": claim.upstream,
        "runId": claim.run_id,
        "holder": claim.holder,
        "expiresAt": claim.expires_at.isoformat() if claim.expires_at else None,
        "live": claim.live(datetime.now(UTC)),
    }


def pending_views(
    settings: Settings, runconfigurations: Iterable[RunConfiguration], claims: Iterable[ClaimInfo]
) -> list[PendingView]:
    """Every pending trigger with what a reconcile pass would do with it now."""
    index = DependentsIndex(runconfigurations)
    now = datetime.now(UTC)
    live = {(c.dependent, c.upstream, c.run_id): c for c in claims if c.live(now)}
    views = []
    for item in pending_triggers(index, settings.allows):
        _, upstream, run_id = item.trigger.ledger_key
        claim = live.get((item.dependent.key, upstream, run_id))
        if claim is not None:
            views.append(PendingView(item, "in-progress", {}, claim=claim))
            continue
        if item.consumed is None and settings.initial_trigger == "skip":
            views.append(
                PendingView(
                    item, "not-started", {}, "initial-trigger-skipped", "KFP_CHAIN_INITIAL_TRIGGER=skip"
                )
            )
            continue
        planned = plan_one(index, item.event(), item.dependent)
        if planned.refusal is not None:
            views.append(PendingView(item, "not-started", {}, planned.refusal.reason, str(planned.refusal)))
        else:
            views.append(PendingView(item, "would-start", planned.parameters))
    return views


def dry_run_report(
    settings: Settings, runconfigurations: list[RunConfiguration], claims: list[ClaimInfo]
) -> dict[str, Any]:
    views = pending_views(settings, runconfigurations, claims)
    now = datetime.now(UTC)
    return {
        "dryRun": True,
        "pending": [v.as_json() for v in views],
        "claimsInProgress": [claim_json(c) for c in claims if c.live(now)],
    }


def run_pass(settings: Settings) -> tuple[int, dict[str, Any]]:
    """One real pass, as the `on_reconcile` function runs it; local runs are waited for.

    The local runner's runs live in this process's workers, so the command returns only once the
    runs it started have finished and posted their run-completion events.
    """
    from ..service.app import build_reconcile_app, reconcile_pass

    app = build_reconcile_app(settings)
    try:
        status, body = reconcile_pass(app)
        wait_idle = getattr(app.chain.launcher, "wait_idle", None)
        if callable(wait_idle) and body.get("started"):
            log.info("waiting for the local runs reconcile started")
            wait_idle()
    finally:
        app.close()
    return status, body


def involving(views: list[PendingView], key: RcKey) -> list[PendingView]:
    return [v for v in views if key in (v.pending.dependent.key, v.pending.upstream.key)]


def print_pending(out: Console, pending: list[PendingView], claims: list[ClaimInfo]) -> None:
    """Pending triggers and claims in progress, for people (`explain` and `reconcile --dry-run`)."""
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


def _schedules_line(body: dict[str, Any]) -> str:
    """The schedules and onChange parts of a pass (KFP_CHAIN_SCHEDULES=true), in a few words."""
    synced, changed = body.get("schedules"), body.get("onChange")
    if not isinstance(synced, dict) or not isinstance(changed, dict):
        return ""
    return (
        f"; schedules: {synced['created']} created, {synced['deleted']} deleted, "
        f"{len(synced['skipped'])} skipped, {len(synced['failed'])} failed; "
        f"onChange: {changed['started']} started"
    )


def reconcile_now(settings: Settings, dry_run: bool, output: str) -> int:
    """`kfp-chain reconcile [--dry-run]`: one pass (or its dry run) and its report; the exit status."""
    if dry_run or not settings.from_kubernetes:  # a folder's files are read for their names
        loaded = load(settings)
        report_skipped(loaded)
    if dry_run:
        if output == "json":
            emit_json(dry_run_report(settings, loaded.runconfigurations, loaded.claims))
            return 0
        out = console()
        views = pending_views(settings, loaded.runconfigurations, loaded.claims)
        out.print(f"dry run: {len(views)} pending trigger(s), nothing written")
        print_pending(out, views, [c for c in loaded.claims if c.live(datetime.now(UTC))])
        return 0
    status, body = run_pass(settings)
    if output == "json":
        emit_json({"status": status, **body})
    else:
        click.echo(
            f"reconcile: {body.get('pending', 0)} pending, {body.get('started', 0)} started, "
            f"{body.get('duplicates', 0)} already started, {body.get('remaining', 0)} still pending"
            + (f" ({body['message']})" if "message" in body else "")
            + _schedules_line(body)
        )
    return 1 if status >= 300 else 0
