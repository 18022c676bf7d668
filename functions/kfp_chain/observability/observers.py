"""Observers hear every per-dependent decision of the chain: here, the decision log line.

Metrics and Kubernetes Events are observers too, so the chain stays free of reporting code and a
failing observer can never change an event's outcome.
"""

from __future__ import annotations

import logging

from ..intake import RunCompletion
from ..outcomes import Outcome, OutcomeKind

__all__ = ["LogObserver"]

log = logging.getLogger("kfp_chain.decisions")

# A refusal or a fault needs someone's attention; a started run or a duplicate is the chain working.
WARN = frozenset({OutcomeKind.SKIPPED, OutcomeKind.RETRY})


class LogObserver:
    def on_outcome(self, event: RunCompletion, outcome: Outcome) -> None:
        fields = {
            "eventId": event.event_id,
            "source": event.source,
            "emitter": str(event.run_configuration),
            "upstreamRunId": event.run_id,
            "dependent": str(outcome.dependent),
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "kfpRunId": outcome.run_id,
            "displayName": outcome.display_name,
            "parameters": outcome.parameters or None,
            "traceparent": event.traceparent,
        }
        extra = {k: v for k, v in fields.items() if v is not None}
        messages: dict[OutcomeKind, str] = {
            OutcomeKind.STARTED: "run started",
            OutcomeKind.DUPLICATE: "duplicate: run already started for this trigger",
            OutcomeKind.SKIPPED: f"not started: {outcome.detail}",
            OutcomeKind.RETRY: f"temporary fault, broker will retry: {outcome.detail}",
        }
        message = messages.get(outcome.outcome, outcome.outcome)
        level = logging.WARNING if outcome.outcome in WARN and not outcome.repeat else logging.INFO
        log.log(level, message, extra=extra)
