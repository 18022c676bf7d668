"""What the chain answers: one `Outcome` per dependent, one `Report` per event; the flow's last step.

Last in the flow (intake -> dependents -> parameters -> planning -> chain -> outcomes): the chain
returns these, `app.respond` turns a `Report` into an HTTP answer, and every observer (decision
log, metrics, Kubernetes Events, spans) reads the same `Outcome`. They live apart from the chain so
that those readers, and the dead-letter function that parses an answer back, depend on the values
and not on the code that carries triggers out.

`OutcomeKind` is a `StrEnum` because its value travels unchanged into answer bodies, log fields,
metric labels and Event reasons: the member *is* the wire string, while a misspelt member is a
type error instead of a silently unmatched branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from .errors import Backend
from .intake import RunCompletion
from .runconfiguration import RcKey

__all__ = ["ONE_OFF_NOTE", "Observer", "Outcome", "OutcomeKind", "Report", "Via"]

ONE_OFF_NOTE = "a one-off Run (no runConfigurationName): nothing depends on it"

Via = Literal["reconcile", "on-change"]  # who carried a trigger out when it was not the event path


class OutcomeKind(StrEnum):
    """What happened to one dependent; `RETRY` is the only kind that makes the broker redeliver."""

    STARTED = "started"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    RETRY = "retry"
    ADOPTED = "adopted"  # reconcile, KFP_CHAIN_INITIAL_TRIGGER=skip: recorded as consumed, no run


@dataclass(frozen=True)
class Outcome:
    """One dependent's fate; its JSON is what an answer lists and what the dead-letter function reads back."""

    dependent: RcKey
    outcome: OutcomeKind
    reason: str | None = None
    detail: str | None = None
    run_id: str | None = None
    display_name: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    via: Via | None = None  # None on the event path
    repeat: bool = False  # reconcile refusing the same trigger for the same reason as a pass before

    def as_json(self) -> dict[str, object]:
        """What an answer's body says of this dependent: only the fields that say something."""
        return {k: v for k, v in vars(self).items() if v not in (None, {}, False)} | {
            "dependent": str(self.dependent)
        }

    backend: Backend | None = None  # for a deployment fault: which backend refused us


@dataclass(frozen=True)
class Report:
    """One event's answer; `retry` alone decides between 200 and 503 (`app.respond`)."""

    event: RunCompletion
    outcomes: tuple[Outcome, ...] = ()
    note: str | None = None

    @property
    def retry(self) -> bool:
        """True when the broker must redeliver: some dependent hit a temporary fault."""
        return any(o.outcome == OutcomeKind.RETRY for o in self.outcomes)

    def as_body(self) -> dict[str, object]:
        return {
            "event": {
                "runConfigurationName": self.event.emitter,
                "runId": self.event.run_id,
                "status": self.event.status,
            },
            "note": self.note,
            "dependents": [o.as_json() for o in self.outcomes],
        }


class Observer(Protocol):
    """Hears every decision: logs, metrics and Kubernetes Events hang off this."""

    def on_outcome(self, event: RunCompletion, outcome: Outcome) -> None: ...
