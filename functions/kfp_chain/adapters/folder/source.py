"""RunConfigurations from a folder of YAML files, with their status kept in SQLite.

The embedded default: no cluster, the same chain. The YAML files are the spec (edit them and the
next event sees it); what the API server would keep in `status` (latest succeeded runs, consumed
triggers) lives in the SQLite file the ledger writes (see `ledger`), so it survives restarts and is
shared by every process on the machine (the function, the CLI, the local runner).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...errors import BackendUnavailable
from ...invalid import InvalidObject, InvalidObjects, blocking_problems
from ...rc_schema import read_runconfiguration
from ...runconfiguration import API_GROUP, Artifact, RcKey, RunConfiguration
from .db import connect
from .files import read_file, read_folder, yaml_files

__all__ = ["FolderSource"]

Objects = list[dict[str, Any]]  # `list` is a method name below
RunConfigurations = list[RunConfiguration]
InvalidObjectList = list[InvalidObject]
CheckedFile = list[tuple[str, RunConfiguration | InvalidObject]]  # (file:line, what it holds)


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
        if not self.folder.is_dir():  # not "no RunConfigurations": an event would be acknowledged unread
            raise BackendUnavailable(f"the RunConfigurations folder {self.folder} is gone or not a folder")
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
