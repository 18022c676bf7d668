"""The exactly-once ledger on one machine: claims and completions as rows in SQLite.

Claims and completions are rows under a primary key (dependent, upstream, runId) written in
`BEGIN IMMEDIATE` transactions, which gives the same exactly-once guarantee the resourceVersion
precondition gives in the cluster, and a permanent record of every trigger rather than only the
latest.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ...runconfiguration import Artifact, RcKey
from ..ports import ClaimInfo, ClaimState, Clock, SystemClock, Trigger
from .db import connect

__all__ = ["SqliteLedger"]


def _any_consumed(db: sqlite3.Connection, trigger: Trigger) -> bool:
    for upstream, run_id in trigger.inputs:
        row = db.execute(
            "SELECT run_id FROM consumed WHERE dependent=? AND upstream=?",
            (str(trigger.dependent), str(upstream)),
        ).fetchone()
        if row is not None and row[0] == run_id:
            return True
    return False


def _done(db: sqlite3.Connection, trigger: Trigger) -> bool:
    """The rule behind DONE, which `claim` decides on and `consumed` reports: the trigger's own row is
    done; for a join, also when one of its runs is consumed or shared with another recorded join.
    SQLite keeps every join, so "each run joined at most once" holds however late a claim or a
    completion comes."""
    row = db.execute(
        "SELECT done FROM claims WHERE dependent=? AND upstream=? AND run_id=?", trigger.ledger_key
    ).fetchone()
    if row is not None and row[0]:
        return True
    if not trigger.joined:
        return False
    return _any_consumed(db, trigger) or any(done for done, _, _ in _overlapping(db, trigger))


def _overlapping(db: sqlite3.Connection, trigger: Trigger) -> list[tuple[int, str, float]]:
    """(done, holder, expires_at) of the dependent's other claims sharing a run with the join."""
    mine = {(str(u), r) for u, r in trigger.inputs}
    _, upstreams, runs = trigger.ledger_key
    rows = db.execute(
        "SELECT upstream, run_id, holder, expires_at, done FROM claims WHERE dependent=? AND NOT (upstream=? AND run_id=?)",
        (str(trigger.dependent), upstreams, runs),
    ).fetchall()
    return [
        (done, holder, expires)
        for other_upstreams, other_runs, holder, expires, done in rows
        if mine & set(zip(other_upstreams.split("+"), str(other_runs).split("+"), strict=False))
    ]


class SqliteLedger:
    def __init__(self, state_db: Path, clock: Clock | None = None) -> None:
        self.state_db = state_db
        self.clock = clock or SystemClock()

    def claim(self, trigger: Trigger, holder: str, lease: timedelta) -> ClaimState:
        now = self.clock.now().timestamp()
        key = trigger.ledger_key
        with connect(self.state_db, immediate=True) as db:
            row = db.execute(
                "SELECT holder, expires_at, done FROM claims WHERE dependent=? AND upstream=? AND run_id=?",
                key,
            ).fetchone()
            if _done(db, trigger):
                return ClaimState.DONE  # done, or a join sharing a run another join consumed: never starts
            if trigger.joined and any(h != holder and e > now for _, h, e in _overlapping(db, trigger)):
                return ClaimState.HELD  # another live claim shares a run with this join
            if row is not None and row[0] != holder and row[1] > now:
                return ClaimState.HELD
            db.execute(
                "INSERT INTO claims (dependent, upstream, run_id, holder, expires_at, updated_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT (dependent, upstream, run_id)"
                " DO UPDATE SET holder=excluded.holder, expires_at=excluded.expires_at, updated_at=excluded.updated_at",
                (*key, holder, now + lease.total_seconds(), now),
            )
        return ClaimState.ACQUIRED

    def unsettled(self, trigger: Trigger) -> tuple[tuple[Trigger, str], ...]:
        """Other joins sharing a run with `trigger` whose claim expired undone, each with its holder.

        SQLite keeps every join, so disjoint joins never confuse it; one sharing a run whose holder
        made its run and died would let this join consume that run again (`Chain` settles them)."""
        if not trigger.joined:
            return ()
        now = self.clock.now().timestamp()
        mine = {(str(u), r) for u, r in trigger.inputs}
        _, upstreams, runs = trigger.ledger_key
        with connect(self.state_db) as db:
            rows = db.execute(
                "SELECT upstream, run_id, holder, expires_at FROM claims"
                " WHERE dependent=? AND done=0 AND NOT (upstream=? AND run_id=?)",
                (str(trigger.dependent), upstreams, runs),
            ).fetchall()
        found = []
        for other_upstreams, other_runs, holder, expires in rows:
            pairs = list(zip(other_upstreams.split("+"), str(other_runs).split("+"), strict=False))
            if len(pairs) > 1 and expires <= now and mine & set(pairs):
                other = Trigger.fan_in(trigger.dependent, [(RcKey.parse(u), r) for u, r in pairs])
                found.append((other, str(holder)))
        return tuple(found)

    def consumed(self, trigger: Trigger) -> bool:
        """`claim`'s DONE rule (`_done`) read without a write; no store yet: nothing consumed."""
        if not self.state_db.exists():
            return False  # opening would create it, and a dry run leaves no trace
        with connect(self.state_db) as db:
            return _done(db, trigger)

    def complete(self, trigger: Trigger, holder: str, run_id: str | None) -> None:
        key = trigger.ledger_key
        with connect(self.state_db, immediate=True) as db:
            db.execute(
                "UPDATE claims SET done=1, kfp_run_id=?, updated_at=? WHERE dependent=? AND upstream=? AND run_id=?",
                (run_id, self.clock.now().timestamp(), *key),
            )
            if trigger.change is not None:  # onChange: its own row is the record (no upstream consumed)
                return
            db.executemany(
                "INSERT INTO consumed (dependent, upstream, run_id) VALUES (?,?,?)"
                " ON CONFLICT (dependent, upstream) DO UPDATE SET run_id=excluded.run_id",
                [(str(trigger.dependent), str(upstream), run) for upstream, run in trigger.inputs],
            )

    def release(self, trigger: Trigger, holder: str) -> None:
        key = trigger.ledger_key
        with connect(self.state_db, immediate=True) as db:
            db.execute(
                "DELETE FROM claims WHERE dependent=? AND upstream=? AND run_id=? AND holder=? AND done=0",
                (*key, holder),
            )

    def record_succeeded(self, key: RcKey, run_id: str, artifacts: tuple[Artifact, ...]) -> None:
        payload = json.dumps([{"name": a.name, "location": a.location} for a in artifacts])
        with connect(self.state_db, immediate=True) as db:
            db.execute(
                "INSERT INTO latest_succeeded (runconfiguration, run_id, artifacts, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (runconfiguration) DO UPDATE SET run_id=excluded.run_id,"
                " artifacts=excluded.artifacts, updated_at=excluded.updated_at",
                (str(key), run_id, payload, self.clock.now().timestamp()),
            )

    def claims(self) -> list[ClaimInfo]:
        """Claims on triggers not yet done, live or expired (a done row is a record, not a claim)."""
        with connect(self.state_db) as db:
            rows = db.execute(
                "SELECT dependent, upstream, run_id, holder, expires_at FROM claims WHERE done=0 ORDER BY updated_at"
            ).fetchall()
        return [
            ClaimInfo(RcKey.parse(dependent), upstream, run_id, holder, datetime.fromtimestamp(expires, UTC))
            for dependent, upstream, run_id, holder, expires in rows
        ]

    def triggers(self) -> list[dict[str, Any]]:
        """Every trigger on record, for the CLI, the demo and tests."""
        with connect(self.state_db) as db:
            rows = db.execute(
                "SELECT dependent, upstream, run_id, holder, done, kfp_run_id FROM claims ORDER BY updated_at"
            ).fetchall()
        keys = ("dependent", "upstream", "runId", "holder", "done", "kfpRunId")
        return [dict(zip(keys, row, strict=True)) for row in rows]
