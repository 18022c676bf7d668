"""Fan-in (`kfp-chain.io/trigger-policy: all`): which runs a join takes, and what it still waits for.

Pure, beside `parameters`: the chain plans a fan-in dependent with `fan_in_inputs`, reconcile
finds its pending join in `reconcile`, and `kfp-chain explain` shows `join_status`. The set of
(upstream, run) pairs a join consumes is its trigger's identity (`ports.Trigger.fan_in`), so the
event path, several replicas and reconcile all name the same join the same way. docs/fan-in.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .dependents import DependentsIndex
from .intake import RunCompletion
from .runconfiguration import RcKey, RunConfiguration

__all__ = ["Lookup", "fan_in_inputs", "finished_time", "join_status"]

Lookup = Callable[[RcKey], RunConfiguration | None]


def fan_in_inputs(
    dependent: RunConfiguration, event: RunCompletion, lookup: Lookup
) -> tuple[list[tuple[RcKey, str]], list[str]]:
    """The run of every upstream a fan-in would join, and what it still waits for (empty: ready).

    The event's own upstream joins with the event's run; every other upstream with its latest
    success. Each must be new to the dependent: a set that is already wholly consumed is returned
    as it is (the ledger then answers "already triggered"), a set that is only partly new waits.

    The event's run must also be its upstream's latest recorded success: `status.triggers` keeps
    only the last run consumed of each upstream, so a late copy of an older run's event (a
    redelivery after that upstream succeeded again) would look new and be joined a second time
    with another upstream's newer run (the fault-injection suite found this). Such an event
    waits; so does one whose success is not recorded yet, and reconcile joins it once it is.
    """
    inputs: list[tuple[RcKey, str]] = []
    missing, stale = [], []
    for upstream in dependent.triggered_by:
        found = lookup(upstream)
        latest = found.latest_succeeded_run if found is not None else None
        run = latest
        if upstream == event.run_configuration:
            run = event.run_id
            if latest is not None and latest != run:
                missing.append(
                    f"{upstream} (this event's run {run} is not its latest recorded success, {latest})"
                )
                continue
        if run is None:
            missing.append(f"{upstream} (no succeeded run yet)")
            continue
        inputs.append((upstream, run))
        if dependent.triggers_consumed.get(upstream) == run:
            stale.append(f"a new success of {upstream} (its latest, {run}, was consumed already)")
    if missing or (stale and len(stale) < len(inputs)):
        return inputs, [*missing, *stale]
    return inputs, []


def join_status(index: DependentsIndex, dependent: RunConfiguration) -> dict[str, dict[str, str | None]]:
    """For a fan-in dependent: each upstream's latest success and whether the join still awaits it.

    `new` counts towards the next run; `consumed` (the last run already used it) and `no success`
    are what the dependent is waiting for.
    """
    status: dict[str, dict[str, str | None]] = {}
    for key in sorted(dependent.triggered_by):
        upstream = index.get(key)
        latest = upstream.latest_succeeded_run if upstream is not None else None
        if latest is None:
            state = "awaited: no succeeded run yet"
        elif dependent.triggers_consumed.get(key) == latest:
            state = "awaited: its latest run was consumed already"
        else:
            state = "new"
        status[str(key)] = {"latestRun": latest, "state": state}
    return status


def finished_time(text: str | None) -> datetime | None:
    """An event's RFC 3339 `runEndTime` (`...Z` or an offset) as an aware datetime; None if unreadable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
