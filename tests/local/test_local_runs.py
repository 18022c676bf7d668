"""The local runs on record: a run whose process is gone is marked failed, a live one is left alone.

A local run's worker lives in the process that started it, so a run left queued or running by a
process that died can never finish or post its event; a chain waiting on it would wait forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kfp_chain.adapters.local.runner import LocalLauncher
from kfp_chain.adapters.local.runs import LocalRunStatus, list_runs, now, transaction


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _record(state_db: Path, run_id: str, status: LocalRunStatus, pid: int) -> None:
    with transaction(state_db) as db:
        db.execute(
            "INSERT INTO local_runs (run_id, display_name, runconfiguration, pipeline, parameters, status,"
            " created_at, run_dir, pid) VALUES (?,?,?,?,?,?,?,?,?)",
            (run_id, f"run {run_id}", "ns/rc", "pipe", json.dumps({}), status, now(), "/nowhere", pid),
        )


def test_a_launcher_fails_the_runs_a_dead_process_left_and_keeps_the_live_ones(tmp_path: Path) -> None:
    state_db = tmp_path / "state.db"
    dead = _dead_pid()
    _record(state_db, "queued-dead", LocalRunStatus.QUEUED, dead)
    _record(state_db, "running-dead", LocalRunStatus.RUNNING, dead)
    _record(state_db, "running-live", LocalRunStatus.RUNNING, os.getpid())
    _record(state_db, "done-dead", LocalRunStatus.SUCCEEDED, dead)

    LocalLauncher(tmp_path / "pipelines", tmp_path / "runs", state_db, None).close()

    runs = {run.run_id: run for run in list_runs(state_db)}
    assert runs["queued-dead"].status == LocalRunStatus.FAILED
    assert runs["running-dead"].status == LocalRunStatus.FAILED
    assert runs["running-dead"].error == f"interrupted: process {dead} ended before the run finished"
    assert runs["running-dead"].finished_at is not None
    assert runs["running-live"].status == LocalRunStatus.RUNNING
    assert runs["done-dead"].status == LocalRunStatus.SUCCEEDED
    assert isinstance(runs["done-dead"].status, LocalRunStatus)  # read back as the enum, not a bare str
