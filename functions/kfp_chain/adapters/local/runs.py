"""The local runs on record: rows of `local_runs` in the SQLite state store.

Keyed by run id with a unique display name, so the launcher's idempotency check (`find_run`) still
finds a run after a restart, and `make demo` and tests can follow a run's progress.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from ...runconfiguration import Artifact
from ..folder.db import connect

__all__ = ["FINISHED", "LocalRun", "LocalRunStatus", "fail_orphans", "list_runs", "now", "transaction"]


SCHEMA = """
CREATE TABLE IF NOT EXISTS local_runs (
    run_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL UNIQUE,
    runconfiguration TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    parameters TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    run_dir TEXT NOT NULL,
    artifacts TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    event_status INTEGER,
    pid INTEGER NOT NULL
);
"""


class LocalRunStatus(StrEnum):
    """A local run's life; the value is the `status` column, and a finished run's is its event's status."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = frozenset({LocalRunStatus.SUCCEEDED, LocalRunStatus.FAILED})  # nothing changes a run after these


@dataclass(frozen=True)
class LocalRun:
    """One row of `local_runs`: what the demo, the CLI and tests read to follow a run."""

    run_id: str
    display_name: str
    runconfiguration: str
    pipeline: str
    parameters: dict[str, str]
    status: LocalRunStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    run_dir: str
    artifacts: tuple[Artifact, ...]
    error: str | None
    event_status: int | None


def transaction(path: Path, immediate: bool = False) -> AbstractContextManager[sqlite3.Connection]:
    """The state store's connection, with this module's table; one transaction per operation."""
    return connect(path, immediate=immediate, schema=SCHEMA)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def list_runs(state_db: Path) -> list[LocalRun]:
    """Every local run on record, oldest first."""
    with transaction(state_db) as db:
        rows = db.execute(
            "SELECT run_id, display_name, runconfiguration, pipeline, parameters, status, created_at,"
            " started_at, finished_at, run_dir, artifacts, error, event_status FROM local_runs"
            " ORDER BY created_at, rowid"
        ).fetchall()
    return [
        LocalRun(
            run_id=row[0],
            display_name=row[1],
            runconfiguration=row[2],
            pipeline=row[3],
            parameters=json.loads(row[4]),
            status=LocalRunStatus(row[5]),
            created_at=row[6],
            started_at=row[7],
            finished_at=row[8],
            run_dir=row[9],
            artifacts=tuple(Artifact(a["name"], a["location"]) for a in json.loads(row[10])),
            error=row[11],
            event_status=row[12],
        )
        for row in rows
    ]


def fail_orphans(state_db: Path) -> None:
    """Marks failed the runs left queued or running by a process that is gone: none could ever report.

    A run's worker lives in the process that started it, so after a restart nothing would finish
    such a run, and a chain waiting on its event would wait forever.
    """
    with transaction(state_db) as db:
        rows = db.execute(
            "SELECT run_id, pid FROM local_runs WHERE status IN (?, ?)",
            (LocalRunStatus.QUEUED, LocalRunStatus.RUNNING),
        ).fetchall()
        for run_id, pid in rows:
            if not _alive(int(pid)):
                db.execute(
                    "UPDATE local_runs SET status=?, finished_at=?, error=? WHERE run_id=?",
                    (
                        LocalRunStatus.FAILED,
                        now(),
                        f"interrupted: process {pid} ended before the run finished",
                        run_id,
                    ),
                )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return True
    return True
