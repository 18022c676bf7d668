"""RunConfigurations from a folder of YAML files, with their status kept in SQLite.

The embedded default: no cluster, the same chain. The YAML files are the spec (edit them and the
next event sees it); what the API server would keep in `status` (latest succeeded runs, consumed
triggers) and the claims live in one SQLite file, so they survive restarts and are shared by every
process on the machine (the function, the CLI, the local runner). Claims and completions are rows
under a primary key (dependent, upstream, runId) written in `BEGIN IMMEDIATE` transactions, which
gives the same exactly-once guarantee the resourceVersion precondition gives in the cluster, and
a permanent record of every trigger rather than only the latest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import BackendUnavailable
from .invalid import InvalidObject, InvalidObjects, blocking_problems
from .ports import ClaimInfo, ClaimState, Clock, SystemClock, Trigger
from .rc_files import read_file, read_folder, yaml_files
from .rc_schema import read_runconfiguration
from .runconfiguration import API_GROUP, Artifact, RcKey, RunConfiguration

__all__ = ["FolderSource", "SqliteLedger", "connect"]

log = logging.getLogger("kfp_chain.folder")
Objects = list[dict[str, Any]]  # `list` is a method name below
RunConfigurations = list[RunConfiguration]
InvalidObjectList = list[InvalidObject]
CheckedFile = list[tuple[str, RunConfiguration | InvalidObject]]  # (file:line, what it holds)

SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    dependent TEXT NOT NULL, upstream TEXT NOT NULL, run_id TEXT NOT NULL,
    holder TEXT NOT NULL, expires_at REAL NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    kfp_run_id TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (dependent, upstream, run_id)
);
CREATE TABLE IF NOT EXISTS consumed (
    dependent TEXT NOT NULL, upstream TEXT NOT NULL, run_id TEXT NOT NULL,
    PRIMARY KEY (dependent, upstream)
);
CREATE TABLE IF NOT EXISTS latest_succeeded (
    runconfiguration TEXT PRIMARY KEY, run_id TEXT NOT NULL, artifacts TEXT NOT NULL, updated_at REAL NOT NULL
);
"""


@contextmanager
def connect(path: Path, immediate: bool = False, schema: str = SCHEMA) -> Iterator[sqlite3.Connection]:
    """One short-lived connection and transaction per operation: safe across threads and processes.

    The local runner keeps its `local_runs` table in the same file and passes its own `schema`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackendUnavailable(f"state store {path}: {exc}") from exc
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(schema)
        connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        yield connection
        connection.execute("COMMIT")
    except sqlite3.OperationalError as exc:  # "database is locked" and friends pass with time
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise BackendUnavailable(f"state store {path}: {exc}") from exc
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


class FolderSource:
    """RunConfigurations from the YAML files under `folder`, re-read on every `list()`.

    Invalid documents (schema or semantic problems, unreadable YAML) are skipped and reported once
    through `invalid` (see `invalid.py`); the valid ones are listed whatever the others hold.
    """

    def __init__(
        self,
        folder: Path,
        state_db: Path,
        namespaces: tuple[str, ...] = (),
        group: str = API_GROUP,
        invalid: InvalidObjects | None = None,
    ) -> None:
        self.folder, self.state_db, self.namespaces, self.group = folder, state_db, namespaces, group
        self.invalid = invalid or InvalidObjects()
        self._files: dict[Path, tuple[str, CheckedFile]] = {}  # path -> (digest of its bytes, results)
        self._lock = threading.Lock()

    def list(self) -> RunConfigurations:
        valid, invalid = self.read()
        self.invalid.replace_all(invalid)
        return self.with_status(valid)

    def with_status(self, runconfigurations: RunConfigurations) -> RunConfigurations:
        """These RunConfigurations with what the state store holds as their status."""
        status = self._status()
        return [_with_status(rc, status) for rc in runconfigurations]

    def get(self, key: RcKey) -> RunConfiguration | None:
        return next((rc for rc in self.list() if rc.key == key), None)

    def check(self) -> int:
        """Re-reads the folder to refresh `invalid` (without touching the state store); the count."""
        self.invalid.replace_all(self.read()[1])
        return self.invalid.count()

    def read(self) -> tuple[RunConfigurations, InvalidObjectList]:
        """The valid RunConfigurations (first definition wins) and the invalid documents; no status.

        Each file is parsed and checked once per content (a digest of its bytes): checking against
        the CRD schema costs ~0.25 ms an object, and the list index reads the folder per event.
        """
        valid: dict[RcKey, RunConfiguration] = {}
        invalid: InvalidObjectList = []
        paths = yaml_files(self.folder)
        for path in paths:
            for where, checked in self._checked_file(path):
                if isinstance(checked, InvalidObject):
                    invalid.append(checked)
                elif self.namespaces and checked.key.namespace not in self.namespaces:
                    continue
                elif checked.key in valid:
                    invalid.append(InvalidObject(where, (f"{checked.key} is defined twice",), checked.key))
                else:
                    valid[checked.key] = checked
        with self._lock:
            for gone in set(self._files) - set(paths):
                del self._files[gone]
        return list(valid.values()), invalid

    def _checked_file(self, path: Path) -> CheckedFile:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = ""
        with self._lock:
            cached = self._files.get(path)
        if cached is not None and digest and cached[0] == digest:
            return cached[1]
        documents, unreadable = read_file(path, str(path.relative_to(self.folder)))
        checked: CheckedFile = [(u.where, InvalidObject(u.where, (u.reason,))) for u in unreadable]
        for doc in documents:
            try:
                rc = read_runconfiguration(doc.obj, self.group)
            except ValueError as exc:
                checked.append((doc.where, InvalidObject(doc.where, (str(exc),))))
                continue
            problems = blocking_problems(rc)
            if problems and not (self.namespaces and rc.key.namespace not in self.namespaces):
                checked.append((doc.where, InvalidObject(doc.where, problems, rc.key)))
            elif not problems:
                checked.append((doc.where, rc))
        with self._lock:
            self._files[path] = (digest, checked)
        return checked

    def objects(self) -> Objects:
        """Every RunConfiguration document in the folder, valid or not; other kinds are skipped."""
        return [doc.obj for doc in read_folder(self.folder)[0]]

    def _status(self) -> dict[str, Any]:
        with connect(self.state_db) as db:
            latest = {
                rc: (run_id, json.loads(artifacts))
                for rc, run_id, artifacts in db.execute(
                    "SELECT runconfiguration, run_id, artifacts FROM latest_succeeded"
                )
            }
            consumed: dict[str, dict[str, str]] = {}
            for dependent, upstream, run_id in db.execute("SELECT dependent, upstream, run_id FROM consumed"):
                consumed.setdefault(dependent, {})[upstream] = run_id
        return {"latest": latest, "consumed": consumed}


def _with_status(rc: RunConfiguration, status: dict[str, Any]) -> RunConfiguration:
    latest = status["latest"].get(str(rc.key))
    consumed = status["consumed"].get(str(rc.key), {})
    return replace(
        rc,
        latest_succeeded_run=latest[0] if latest else rc.latest_succeeded_run,
        latest_succeeded_artifacts=(
            tuple(Artifact(a["name"], a["location"]) for a in latest[1])
            if latest
            else rc.latest_succeeded_artifacts
        ),
        triggers_consumed={**rc.triggers_consumed, **{RcKey.parse(u): r for u, r in consumed.items()}},
    )


def _any_consumed(db: sqlite3.Connection, trigger: Trigger) -> bool:
    for upstream, run_id in trigger.inputs:
        row = db.execute(
            "SELECT run_id FROM consumed WHERE dependent=? AND upstream=?",
            (str(trigger.dependent), str(upstream)),
        ).fetchone()
        if row is not None and row[0] == run_id:
            return True
    return False


def _overlap(db: sqlite3.Connection, trigger: Trigger, holder: str, now: float) -> ClaimState | None:
    """For a join: DONE when another recorded join consumed one of its runs, HELD when another live
    claim shares a run with it. SQLite keeps every join, so "each run joined at most once" holds
    however late a claim or a completion comes."""
    mine = set(trigger.inputs)
    _, upstreams, runs = trigger.ledger_key
    rows = db.execute(
        "SELECT upstream, run_id, holder, expires_at, done FROM claims WHERE dependent=? AND NOT (upstream=? AND run_id=?)",
        (str(trigger.dependent), upstreams, runs),
    ).fetchall()
    held = False
    for other_upstreams, other_runs, other_holder, expires, done in rows:
        pairs = set(zip(other_upstreams.split("+"), str(other_runs).split("+"), strict=False))
        if not {(str(u), r) for u, r in mine} & pairs:
            continue
        if done:
            return ClaimState.DONE
        held = held or (other_holder != holder and expires > now)
    return ClaimState.HELD if held else None


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
            if row is not None and row[2]:
                return ClaimState.DONE
            if trigger.joined and _any_consumed(db, trigger):
                return ClaimState.DONE  # another join consumed one of these runs: this set never starts
            if trigger.joined and (overlap := _overlap(db, trigger, holder, now)) is not None:
                return overlap
            if row is not None and row[0] != holder and row[1] > now:
                return ClaimState.HELD
            db.execute(
                "INSERT INTO claims (dependent, upstream, run_id, holder, expires_at, updated_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT (dependent, upstream, run_id)"
                " DO UPDATE SET holder=excluded.holder, expires_at=excluded.expires_at, updated_at=excluded.updated_at",
                (*key, holder, now + lease.total_seconds(), now),
            )
        return ClaimState.ACQUIRED

    def complete(self, trigger: Trigger, holder: str, run_id: str | None) -> None:
        key = trigger.ledger_key
        with connect(self.state_db, immediate=True) as db:
            db.execute(
                "UPDATE claims SET done=1, kfp_run_id=?, updated_at=? WHERE dependent=? AND upstream=? AND run_id=?",
                (run_id, self.clock.now().timestamp(), *key),
            )
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
