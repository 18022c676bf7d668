"""What carrying out a join adds to a plain trigger: settling joins left unrecorded, refusing old inputs.

Beside `chain`, which calls both between a join's claim and its create, through the ports only.
docs/fan-in.md says why each exists.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from .adapters.ports import Launcher, Ledger, Trigger
from .errors import InputTooOld
from .fan_in import finished_time
from .intake import RunCompletion
from .planning import Plan

__all__ = ["check_input_ages", "settle_unrecorded"]

log = logging.getLogger("kfp_chain")


def settle_unrecorded(ledger: Ledger, launcher: Launcher, trigger: Trigger, holder: str) -> bool:
    """Settles the dependent's joins left unrecorded under an expired claim; True if one was recorded.

    Asked while our own claim keeps every other join out. Such a join's holder may have made its
    run and died: our set's own lookup cannot see that run, and starting ours could consume one of
    its runs again. Its run found, it is recorded (under the plan its claim carries) and ours, planned
    before that record, is superseded; not found, its claim is dropped (a create starts with a fence
    of lease ahead of it, so none lands after the lease).
    """
    recorded = False
    for other, other_holder in ledger.unsettled(trigger):
        run_id = launcher.find_run(other.display_name)
        if run_id is not None:
            log.warning(
                "recorded a join its holder left unrecorded",
                extra={"trigger": other.display_name, "previousHolder": other_holder, "runId": run_id},
            )
            ledger.complete(other, holder, run_id)
            recorded = True
        ledger.release(other, other_holder)
    return recorded


def check_input_ages(launcher: Launcher, plan: Plan, max_age: float, event: RunCompletion | None) -> None:
    """Refuses a join with an input older than the dependent's `kfp-chain.io/fan-in-max-age`.

    Ages come from KFP (the run's finish time), the event's own `runEndTime` for its run; a run
    whose finish time nobody knows is not refused on age.
    """
    now = datetime.now(UTC)
    for upstream, run_id in plan.trigger.inputs:
        finished = None
        if event is not None and upstream == event.run_configuration and run_id == event.run_id:
            finished = finished_time(event.run_end_time)
        if finished is None:
            finished = launcher.finished_at(run_id)
        if finished is not None and (now - finished).total_seconds() > max_age:
            age = now - finished
            raise InputTooOld(
                f"{upstream} run {run_id} finished {age} ago, older than the fan-in's max age of "
                f"{timedelta(seconds=max_age)}: waiting for a fresh success of {upstream}"
            )
