"""The Workflow nudge's answer: a finished KFP run heard from its Argo Workflow, handled now.

Where it sits: `app.respond` asks `workflow_events.recognise` about each request the run-completion
intake refused with a 400, and hands a Workflow event here. A `Nudge` goes through the poll's own
path, `Poller.handle_run` (look the run up in KFP, find its RunConfiguration, read its artifacts,
`Chain.handle`), and records the run in the poll's mark, so the next pass skips it. The answer
follows the delivery contract: 200 when the run was handled (or KFP does not know it: nothing will
ever come of it), 503 when it could not be yet (KFP or ML Metadata not answering, or KFP not having
recorded the end the Workflow already shows), so the sender retries; the poll takes it in any case.
An `Ignored` event is answered 200. Every answer is counted in `kfp_chain_workflow_events_total`.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..workflow_events import Ignored, Nudge

if TYPE_CHECKING:
    from .app import App

__all__ = ["NudgeResult", "respond_workflow"]

log = logging.getLogger("kfp_chain.nudge")
_building = threading.Lock()


class NudgeResult(StrEnum):
    """The `result` label of a Workflow event that named a finished KFP run (`Why` labels the others)."""

    NUDGED = "nudged"  # looked up and handed on (or already handled by the poll)
    RETRY = "retry"  # 503: a temporary fault, or KFP has not recorded the run's end yet
    UNKNOWN_RUN = "unknown-run"  # KFP has no such run: acknowledged
    NO_KFP = "no-kfp"  # KFP_HOST is not set: no KFP to look the run up in
    ERROR = "error"  # a bug: 500, the sender retries


def respond_workflow(app: App, seen: Nudge | Ignored) -> tuple[int, dict[str, Any]]:
    """One Workflow event in, one (status, JSON body) out; never raises."""
    if isinstance(seen, Ignored):
        app.metrics.workflow_events.labels(seen.why).inc()
        log.debug("workflow event ignored: %s", seen.message, extra={"reason": str(seen.why)})
        return 200, {"ignored": str(seen.why), "message": seen.message}
    nudge = {
        "runId": seen.run_id,
        "namespace": seen.namespace,
        "workflow": seen.workflow,
        "sender": seen.sender,
    }
    try:
        report = _poller(app).handle_run(seen.run_id, seen.namespace)
        status, result = _judge(report)
        body = {"nudge": nudge, **report.as_body()}
    except ConfigurationError as exc:
        status, result, body = 200, NudgeResult.NO_KFP, {"ignored": NudgeResult.NO_KFP, "message": str(exc)}
    except Exception as exc:  # a bug must still answer, and a 5xx keeps the event
        log.exception("unexpected error on a workflow nudge", extra={"runId": seen.run_id})
        status, result = 500, NudgeResult.ERROR
        body = {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}
    app.metrics.workflow_events.labels(result).inc()
    log.info("workflow nudge: %s", result, extra={**nudge, "result": str(result), "status": status})
    return status, body


def _poller(app: App) -> Any:
    """Built on the first Workflow event: a trigger function fed by kfp-operator never needs one."""
    from .polling import build_poller

    if app.poller is None:
        with _building:
            if app.poller is None:
                app.poller = build_poller(app.settings, app)
    return app.poller


def _judge(report: Any) -> tuple[int, NudgeResult]:
    """The answer to a `PollReport` of one run (typed loosely: poll.py is imported on use)."""
    looked_up = {entry.get("result") for entry in report.runs}
    if report.fault or report.results.get("waiting") or "not-finished" in looked_up:
        return 503, NudgeResult.RETRY
    if "unknown-run" in looked_up:
        return 200, NudgeResult.UNKNOWN_RUN
    return 200, NudgeResult.NUDGED
