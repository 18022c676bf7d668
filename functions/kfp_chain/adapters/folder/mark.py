"""The poll's watermark in the folder's SQLite file (`MarkStore` for RUNCONFIGURATIONS=<folder>).

Where it sits: beside the ledger, in the same state database, so `kfp-chain poll` on one machine
and a function on the same file share one mark. A `version` column is the precondition: a write
that finds another version read the row again, merges and retries, as the ConfigMap store does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from ...errors import BackendUnavailable
from ...watermark import Mark, from_json, merge, to_json
from .db import connect

__all__ = ["SqliteMarkStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS poll_mark (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL
);
"""
ATTEMPTS = 20


class SqliteMarkStore:
    def __init__(self, path: Path, lookback: timedelta, name: str = "default") -> None:
        self.path, self.lookback, self.name = path, lookback, name

    def _read(self) -> tuple[int, Mark]:
        with connect(self.path, schema=SCHEMA) as db:
            row = db.execute("SELECT version, body FROM poll_mark WHERE name = ?", (self.name,)).fetchone()
        if row is None:
            return 0, Mark()
        return int(row[0]), from_json(json.loads(row[1]))

    def load(self) -> Mark:
        return self._read()[1]

    def save(self, mark: Mark) -> Mark:
        for _ in range(ATTEMPTS):
            version, stored = self._read()
            merged = merge(mark, stored, self.lookback)
            body = json.dumps(to_json(merged))
            with connect(self.path, immediate=True, schema=SCHEMA) as db:
                if version == 0:
                    written = db.execute(
                        "INSERT OR IGNORE INTO poll_mark (name, version, body) VALUES (?, 1, ?)",
                        (self.name, body),
                    ).rowcount
                else:
                    written = db.execute(
                        "UPDATE poll_mark SET version = version + 1, body = ? WHERE name = ? AND version = ?",
                        (body, self.name, version),
                    ).rowcount
            if written == 1:
                return merged
        raise BackendUnavailable(f"poll mark in {self.path}: {ATTEMPTS} writers in a row wrote first")
