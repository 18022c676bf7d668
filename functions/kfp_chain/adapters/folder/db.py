"""The SQLite file that holds, on one machine, what the API server would hold in a cluster.

One short-lived connection and transaction per operation, and the one place where SQLite's errors
become kfp-chain's: a locked or unreadable database is `BackendUnavailable` (retry).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import BackendUnavailable

__all__ = ["SCHEMA", "connect"]

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
