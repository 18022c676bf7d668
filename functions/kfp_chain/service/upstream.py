"""Upstream verification: believe a run-completion event only when KFP confirms the run succeeded.

Where it sits: between intake and the chain (`app._handle`), only with `KFP_CHAIN_VERIFY_UPSTREAM=true`
and a KFP server (`KFP_HOST`). A sender that may post events (or a forged event that got past the
network) could otherwise name any RunConfiguration and any `runId`, and so start its dependents with
artifact locations of its choosing. Before anything is recorded or started, the upstream `runId` is
looked up with the KFP API (`GET /apis/v2beta1/runs/{id}`):

- SUCCEEDED                                  -> the event goes on;
- no such run, or FAILED / CANCELED / SKIPPED -> 403 `UpstreamUnverified`, a Warning Event
  `UpstreamUnverified` on the emitter, and no run;
- any other state (PENDING, RUNNING, CANCELING, PAUSED, unspecified) -> 503 `UpstreamNotFinished`:
  kfp-operator reports a run finished when the workflow does, and KFP's persistence agent may record
  that a little later, so a genuine event can race KFP's own bookkeeping. The broker redelivers; if
  KFP never confirms, the retries run out and the event is dead-lettered (and so reported);
- KFP unreachable, 5xx, or refusing our own credentials (401/403) -> 503: it says nothing about the
  event.

Events with status `failed` start nothing, so they are not looked up. What this does not verify: that
the run belongs to the RunConfiguration the event names, and the artifact locations (docs/security.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ..errors import UpstreamNotFinished, UpstreamUnverified
from ..intake import RunCompletion
from ..runconfiguration import RcKey

__all__ = ["REASON", "RunStates", "UpstreamCheck"]

log = logging.getLogger("kfp_chain.upstream")

REASON = "UpstreamUnverified"  # the Kubernetes Event's reason on the emitter
REFUSED_STATES = frozenset({"FAILED", "CANCELED", "SKIPPED"})


class RunStates(Protocol):
    """The state KFP reports for a run id, or None when KFP has no such run (`KfpLauncher`)."""

    def run_state(self, run_id: str) -> str | None: ...


class UpstreamCheck:
    def __init__(
        self, states: RunStates, write_event: Callable[[RcKey, str, str], None] | None = None
    ) -> None:
        self.states = states
        self.write_event = write_event

    def verify(self, event: RunCompletion) -> None:
        """Returns when KFP confirms the run; raises `UpstreamUnverified` (403) or a `TemporaryError`."""
        if not event.succeeded:
            return
        state = self.states.run_state(event.run_id)
        if state == "SUCCEEDED":
            return
        emitter = event.run_configuration
        if state is None or state in REFUSED_STATES:
            what = "does not exist" if state is None else f"is {state}"
            message = (
                f"refused an event saying {emitter} run {event.run_id} succeeded: in KFP that run {what}; "
                "no dependent was started"
            )
            log.warning(
                "upstream run not confirmed by KFP: refused",
                extra={"emitter": str(emitter), "runId": event.run_id, "kfpState": state, "status": 403},
            )
            if self.write_event is not None:
                self.write_event(emitter, REASON, message)
            raise UpstreamUnverified(message)
        raise UpstreamNotFinished(
            f"KFP reports {emitter} run {event.run_id} as {state}, not yet SUCCEEDED: retry later"
        )
