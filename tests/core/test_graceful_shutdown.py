"""SIGTERM while an event is being handled: the request finishes, and nothing is left half-recorded."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from kfp_chain.adapters.folder.ledger import SqliteLedger

from tests.builders import binary_event, event_data
from tests.support import ROOT, SEED, wait_until_serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_lets_the_in_flight_event_finish_and_record(kfp, tmp_path: Path):
    folder = tmp_path / "rcs"
    folder.mkdir()
    shutil.copy(SEED, folder)
    port = free_port()
    env = {
        **os.environ,
        "RUNCONFIGURATIONS": str(folder),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_STATE_DB": str(tmp_path / "state.db"),
        "LOG_FORMAT": "text",
        "HOME": str(tmp_path),
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "functions-framework"),
            "--source",
            str(ROOT / "functions" / "main.py"),
            "--target",
            "on_run_completion",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(server, f"http://127.0.0.1:{port}/readyz")
        # The create is held at KFP from its arrival until released: SIGTERM lands while it is really
        # in flight, before KFP has answered anything.
        create = kfp.faults.add(method="POST", path=r"/runs$", mode="hold", delay=30.0)
        headers, body = binary_event(event_data())
        answer: dict[str, int] = {}

        def post() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/", data=body, headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                answer["status"] = response.status

        sender = threading.Thread(target=post)
        sender.start()
        assert create.wait_arrived(1, timeout=10), "the create never reached KFP"
        assert kfp.calls("POST", r"/runs$") == [], "KFP must not have answered the create yet"
        server.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # a server that dropped in-flight requests on SIGTERM has done so by now
        create.release()
        sender.join(timeout=30)

        assert answer == {"status": 200}
        assert server.wait(timeout=30) == 0
        assert len(kfp.runs()) == 1
        [trigger] = SqliteLedger(tmp_path / "state.db").triggers()
        assert trigger["done"] == 1 and trigger["kfpRunId"] == kfp.runs()[0]["run_id"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
