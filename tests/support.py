"""What tests share besides builders and fixtures: the repository's paths, the function behind its
Flask app, concurrency and polling helpers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "FIXTURES",
    "ROOT",
    "SEED",
    "CollectedLog",
    "Function",
    "FunctionFactory",
    "eventually",
    "installed_cli",
    "run_concurrently",
]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = FIXTURES / "seed" / "runconfigurations.yaml"


class Function:
    """The real trigger function (functions/main.py) behind functions-framework's Flask app."""

    def __init__(self, app: Any) -> None:
        self.flask = app
        self.client = app.test_client()

    def post(self, request: tuple[dict[str, str], bytes]) -> tuple[int, dict[str, Any]]:
        headers, body = request
        response = self.client.post("/", headers=headers, data=body)
        return response.status_code, response.get_json(silent=True) or {}

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        response = self.client.get(path)
        return response.status_code, response.get_json(silent=True) or {}

    def close(self) -> None:
        module = sys.modules.get("main")
        app = getattr(module, "_app", None)
        if app is not None:
            app.close()


FunctionFactory = Callable[..., Function]


def run_concurrently(work: Callable[[], Any], workers: int) -> list[Any]:
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers

    def one(i: int) -> None:
        barrier.wait()
        results[i] = work()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Polls until `check()` holds or the deadline passes: the index is eventually consistent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def installed_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The `kfp-chain` console script as a user runs it, in its own process."""
    script = Path(sys.executable).parent / "kfp-chain"
    return subprocess.run(
        [str(script), *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


class CollectedLog(logging.Handler):
    """Warnings of one logger, kept as messages."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def wait_until_serving(server: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> None:
    """Returns once `url` answers 2xx; fails with the server's output if it exits first, or on the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)


def function_app(target: str) -> Any:
    """The Flask app functions-framework serves for `target` of functions/main.py, as a deployment runs it."""
    import functions_framework

    return functions_framework.create_app(target=target, source=str(ROOT / "functions" / "main.py"))
