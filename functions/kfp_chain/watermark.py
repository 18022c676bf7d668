"""The poll's watermark: which finished runs a pass lists, which it skips, and how far the mark moves.

Where it sits: `service/poll.py` reads the mark from a `MarkStore`, lists KFP's terminal runs with
`finished_at >= listed_since(...)`, hands the ones `unhandled(...)` names to the chain, and stores
`advance(...)`'s answer; two pollers writing at once are reconciled by `merge`. Pure: no I/O.

The mark is a `finished_at` time as KFP's own clock wrote it (never ours, so clock skew between the
poller and KFP does not matter), plus every run decided at or after `at - lookback`, keyed by run
id AND `finished_at` (a retried run keeps its id and finishes again: that is a new completion).
Rules, each a guarantee the tests break on purpose:
- a pass lists `finished_at >= at - lookback`: a run KFP learns up to `lookback` late (its
  persistence agent writes `finished_at` after the fact) is still listed by a later pass;
- a listed run that is in `handled` is skipped: overlapping passes do not hand a run twice;
- a listed run below `at - lookback` is skipped unless it is waiting: a waiting run pulls the
  listing further back than `handled` remembers (it was pruned at `at - lookback`), and what is
  listed there was decided before it was pruned;
- `at` only grows (a run pruned from `handled` must never be listed again), and never past a run
  that could not be handled (`waiting`: a temporary fault such as ML Metadata down, or not knowing
  the run yet): while one waits, `at` stays at or below its `finished_at`, so it stays listed;
- `handled` is pruned below `at - lookback`: nothing below that is listed any more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Done", "Mark", "advance", "from_json", "listed_since", "merge", "prune", "to_json", "unhandled"]

Done = tuple[str, datetime]  # (run id, finished_at): one completion of one run


@dataclass(frozen=True)
class Mark:
    """What every poller shares (a ConfigMap, or a row in the folder's SQLite file)."""

    at: datetime | None = None  # None: never polled; the first pass looks back `lookback` from now
    handled: frozenset[Done] = field(default_factory=frozenset)
    waiting: frozenset[Done] = field(default_factory=frozenset)  # listed, not handled yet: hold `at`


def listed_since(mark: Mark, lookback: timedelta, now: datetime) -> datetime:
    """The `finished_at` a pass lists from (GREATER_THAN_EQUALS)."""
    base = mark.at if mark.at is not None else now
    if mark.waiting:
        base = min(base, min(f for _, f in mark.waiting))
    return base - lookback


def unhandled(mark: Mark, runs: Iterable[Done], lookback: timedelta) -> list[Done]:
    """The listed completions a pass must decide, oldest first; those already handled are skipped."""
    floor = None if mark.at is None else mark.at - lookback
    return sorted(
        {r for r in runs if r not in mark.handled and (floor is None or r[1] >= floor or r in mark.waiting)},
        key=lambda r: (r[1], r[0]),
    )


def advance(
    mark: Mark, listed: Iterable[Done], handled: Iterable[Done], waiting: Iterable[Done], lookback: timedelta
) -> Mark:
    """The mark after a pass that listed `listed`, decided `handled` and could not decide `waiting`.

    `at` moves to the newest listed `finished_at`, but not past the oldest waiting run, and never back.
    """
    done = mark.handled | frozenset(handled)
    still = (mark.waiting | frozenset(waiting)) - done
    seen = [f for _, f in listed]
    target = max(seen) if seen else mark.at
    if still:
        oldest = min(f for _, f in still)
        target = oldest if target is None else min(target, oldest)
    at = _later(mark.at, target)
    return prune(Mark(at, done, still), lookback)


def merge(ours: Mark, theirs: Mark, lookback: timedelta) -> Mark:
    """Two pollers' marks as one: what either handled stays handled, and a run either is waiting on
    and neither handled keeps holding the mark, unless both had already moved past it."""
    done = ours.handled | theirs.handled
    still = (ours.waiting | theirs.waiting) - done
    at = _later(ours.at, theirs.at)
    if still and at is not None:
        floor = _earlier(ours.at, theirs.at)
        at = _later(floor, min(at, min(f for _, f in still)))
    return prune(Mark(at, done, still), lookback)


def prune(mark: Mark, lookback: timedelta) -> Mark:
    """Forgets completions no pass can list any more (below `at - lookback`, and below every waiting run)."""
    if mark.at is None:
        return mark
    floor = mark.at - lookback
    if mark.waiting:
        floor = min(floor, min(f for _, f in mark.waiting) - lookback)
    return Mark(mark.at, frozenset(d for d in mark.handled if d[1] >= floor), mark.waiting)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b)


# -- how both stores keep it: one JSON document ---------------------------------------------------


def to_json(mark: Mark) -> dict[str, Any]:
    def pairs(items: frozenset[Done]) -> list[list[str]]:
        return [[run, _iso(f)] for run, f in sorted(items, key=lambda d: (d[1], d[0]))]

    return {
        "at": None if mark.at is None else _iso(mark.at),
        "handled": pairs(mark.handled),
        "waiting": pairs(mark.waiting),
    }


def from_json(data: Any) -> Mark:
    """The stored document; anything unreadable reads as no mark (the first pass's look-back)."""
    if not isinstance(data, dict):
        return Mark()
    try:
        at = None if data.get("at") is None else _parse(str(data["at"]))
        handled = frozenset((str(r), _parse(str(f))) for r, f in data.get("handled") or [])
        waiting = frozenset((str(r), _parse(str(f))) for r, f in data.get("waiting") or [])
    except (TypeError, ValueError):
        return Mark()
    return Mark(at, handled, waiting)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
