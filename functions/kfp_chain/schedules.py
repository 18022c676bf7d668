"""Schedules: a RunConfiguration's `triggers.schedules` as the KFP recurring runs that should exist.

Where it sits: the reconcile pass with KFP_CHAIN_SCHEDULES=true (`service/schedules.py` does the I/O
through the `ScheduleStore` port). This pure module says what KFP should hold (one recurring run per
schedule entry, `desired`) and what to do about what it holds (`sync_steps`). Only recurring runs
whose description carries kfp-chain's marker line are ever looked at (`ownership.py`); the line
under it is a digest of the whole wanted spec, so a changed schedule, parameter or pipeline shows
as a recurring run nobody wants any more plus one that is missing: KFP cannot edit a recurring run.

Cron: kfp-operator's `cronExpression` is the five-field form (minute hour day-of-month month
day-of-week). KFP's API server and its ScheduledWorkflow controller parse it with robfig/cron
v1.2.0's `cron.Parse`, seconds first and day-of-week optional (`backend/src/apiserver/server/
api_converter.go`, `backend/src/crd/controller/scheduledworkflow/util/cron_schedule.go`): handed
over as it is, `0 * * * *` would fire every minute. So five fields get `0` seconds in front (as
kfp-operator's provider does) and six are taken as KFP's form (kfp-operator passes them through).
Refused, with the reason: what robfig v1.2.0 rejects or reads differently from standard cron -
descriptors (`@hourly`), `L`, `W`, `#`, and day-of-week 7 (robfig's week is 0-6). The cron parsers
on PyPI (croniter, cronsim) follow standard cron and take `L`, `#` or a day of week 7, which KFP
refuses, so they cannot say what KFP will take: the check is written here, field by field,
against robfig's bounds and names.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .adapters.ports import PipelineRef, RecurringRun, RecurringRunSpec
from .errors import BadSchedule
from .ownership import marked, marker_line
from .runconfiguration import RcKey, RunConfiguration, Schedule

__all__ = [
    "DIGEST_KEY",
    "SyncSteps",
    "desired",
    "digest_of",
    "kfp_cron",
    "owner_of",
    "parse_bound",
    "schedule_problems",
    "sync_steps",
]

DIGEST_KEY = "kfp-chain.io/schedule"
_DIGEST = re.compile(r"^kfp-chain\.io/schedule: *([0-9a-f]+) *$", re.MULTILINE)
MAX_DISPLAY_NAME = 128

# (name, lowest, highest, names) of each field in KFP's order; robfig v1.2.0's bounds.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(_DAYS)}),
)
_NUMBER = re.compile(r"^[0-9]+$")  # ASCII digits only, as Go's strconv.Atoi


def kfp_cron(expression: str) -> str:
    """kfp-operator's cron in KFP's form (seconds first), or BadSchedule saying what is wrong."""
    fields = expression.split()
    if expression.strip().startswith("@"):
        raise BadSchedule(
            f"cron {expression!r}: descriptors such as @hourly are not a kfp-operator cron; write the fields"
        )
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise BadSchedule(
            f"cron {expression!r} has {len(fields)} field(s): kfp-operator's form is five "
            "(minute hour day-of-month month day-of-week), KFP's six (seconds first)"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text, low, high, names)
        if problem is not None:
            raise BadSchedule(f"cron {expression!r}: {name} {text!r}: {problem}")
    return " ".join(fields)


def _field_problem(text: str, low: int, high: int, names: Mapping[str, int]) -> str | None:
    """Why robfig v1.2.0 would refuse (or misread) one field: a list of ranges with optional steps."""
    for part in text.split(","):
        span, slash, step = part.partition("/")
        if slash and (not _NUMBER.match(step) or int(step) == 0):
            return f"step {step!r} must be a positive number"
        if span in ("*", "?"):
            continue
        low_text, dash, high_text = span.partition("-")
        bounds = [low_text, high_text] if dash else [low_text]
        values = []
        for value in bounds:
            if _NUMBER.match(value):
                values.append(int(value))
            elif value.lower() in names:
                values.append(names[value.lower()])
            else:
                hint = _quartz_hint(value)
                known = f" or a name ({', '.join(names)})" if names else ""
                return hint or f"{value!r} is not a number{known}"
        if any(v < low or v > high for v in values):
            if high == 6 and 7 in values:
                return "KFP counts the days of the week 0-6: write 0 (or sun) for Sunday"
            return f"must lie within {low}-{high}"
        if len(values) == 2 and values[0] > values[1]:
            return f"range {span!r} runs backwards"
    return None


def _quartz_hint(value: str) -> str | None:
    """The Quartz extensions standard cron users reach for, which KFP's parser does not have."""
    if value in ("L", "W") or "#" in value or value.endswith(("L", "W")):
        return f"{value!r}: KFP's cron has no L, W or # (robfig/cron v1.2.0)"
    return None


def parse_bound(text: str | None, what: str) -> datetime | None:
    """`startTime`/`endTime` (RFC 3339 with an offset), or BadSchedule."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadSchedule(f"{what} {text!r} is not an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise BadSchedule(f"{what} {text!r} has no time zone offset (e.g. 2024-01-01T00:00:00Z)")
    return value


def _checked(entry: Schedule) -> tuple[str, datetime | None, datetime | None]:
    cron = kfp_cron(entry.cron)
    start = parse_bound(entry.start_time, "startTime")
    end = parse_bound(entry.end_time, "endTime")
    if start is not None and end is not None and end <= start:
        raise BadSchedule(f"endTime {entry.end_time} is not after startTime {entry.start_time}")
    return cron, start, end


def schedule_problems(rc: RunConfiguration) -> tuple[str, ...]:
    """Every schedule entry KFP could not run, one sentence each (for `validate`)."""
    problems = []
    for number, entry in enumerate(rc.schedules):
        try:
            _checked(entry)
        except BadSchedule as exc:
            problems.append(f"spec.triggers.schedules[{number}]: {exc}")
    return tuple(problems)


def desired(
    rc: RunConfiguration, pipeline: PipelineRef, experiment_id: str, parameters: Mapping[str, str]
) -> tuple[RecurringRunSpec, ...]:
    """The recurring runs `rc` should have: one per distinct schedule entry; BadSchedule on any bad one.

    A RunConfiguration with one bad entry is left as it is as a whole (its recurring runs stay),
    rather than losing the good entries' runs to a typo in another.
    """
    specs: dict[str, RecurringRunSpec] = {}
    pairs = tuple(sorted(parameters.items()))
    for entry in rc.schedules:
        cron, start, end = _checked(entry)
        version = pipeline.version_id if pipeline.pinned else None
        wanted = {
            "owner": str(rc.key),
            "cron": cron,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "pipeline": pipeline.pipeline_id,
            "version": version,
            "experiment": experiment_id,
            "parameters": pairs,
            "maxConcurrency": 1,
            "noCatchup": True,
        }
        digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
        name = f"{rc.key} schedule {' '.join(entry.cron.split())}"[:MAX_DISPLAY_NAME]
        specs[digest] = RecurringRunSpec(
            owner=rc.key,
            display_name=name,
            cron=cron,
            start_time=start,
            end_time=end,
            pipeline_id=pipeline.pipeline_id,
            pipeline_version_id=version,
            experiment_id=experiment_id,
            parameters=pairs,
            description=f"{marker_line(rc.key)}\n{DIGEST_KEY}: {digest}\n"
            f"kfp-chain keeps this recurring run in step with {rc.key}'s triggers.schedules "
            f"({' '.join(entry.cron.split())}); edit the RunConfiguration, not this.",
            digest=digest,
        )
    return tuple(specs.values())


def owner_of(run: RecurringRun) -> RcKey | None:
    return marked(run.description)


def digest_of(run: RecurringRun) -> str | None:
    found = _DIGEST.search(run.description or "")
    return found.group(1) if found else None


@dataclass(frozen=True)
class SyncSteps:
    """What one RunConfiguration's recurring runs need, in the order `service/schedules.py` does it.

    `create` new ones (disabled, so that copies made by two passes at once are never both enabled);
    delete the `extras` (copies of a wanted one beyond the oldest); `enable` the kept copy when it
    is disabled; `stale` ones (ours, not wanted any more) are disabled before a create and deleted
    after it.
    """

    create: tuple[RecurringRunSpec, ...] = ()
    extras: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    stale: tuple[RecurringRun, ...] = ()

    @property
    def idle(self) -> bool:
        return not (self.create or self.extras or self.enable or self.stale)


def _age(run: RecurringRun) -> tuple[float, str]:
    """The order that picks the one copy to keep: oldest first, then the smallest id (ties in a second)."""
    created = run.created_at.timestamp() if run.created_at else float("inf")
    return (created, run.recurring_run_id)


def sync_steps(wanted: Sequence[RecurringRunSpec], existing: Iterable[RecurringRun]) -> SyncSteps:
    """The steps from `existing` (one owner's recurring runs) to `wanted`.

    Every pass keeps the oldest copy of a wanted recurring run and deletes the others, so passes
    racing on one RunConfiguration agree on which one stays: the oldest copy is the oldest in every
    list that holds it, so no pass deletes it, and the pass whose create lands last lists every
    copy and deletes all the others.
    """
    digests = {spec.digest for spec in wanted}
    copies: dict[str, list[RecurringRun]] = {}
    stale = []
    for run in existing:
        digest = digest_of(run)
        if digest in digests:
            copies.setdefault(digest, []).append(run)
        else:
            stale.append(run)
    extras: list[str] = []
    enable: list[str] = []
    for group in copies.values():
        keep, *rest = sorted(group, key=_age)
        extras.extend(r.recurring_run_id for r in rest)
        if not keep.enabled:
            enable.append(keep.recurring_run_id)
    create = tuple(spec for spec in wanted if spec.digest not in copies)
    return SyncSteps(create, tuple(extras), tuple(enable), tuple(sorted(stale, key=_age)))


def replacement_start(spec: RecurringRunSpec, replacing: bool, now: datetime) -> datetime | None:
    """The start time a new recurring run is created with.

    KFP's controller starts a new recurring run from its start time, and with no catch-up it fires
    the latest tick already past at once (`cron_schedule.go`). A first recurring run keeps the
    entry's startTime (kfp-operator's behaviour). One that replaces another starts no earlier than
    `now`, taken before the old one is disabled: the ticks before it were the old one's, and firing
    the last of them again would run the pipeline twice for one tick.
    """
    if not replacing:
        return spec.start_time
    if spec.start_time is None or spec.start_time < now:
        return now
    return spec.start_time
