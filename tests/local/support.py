"""Shared by the local-backend and example tests: compiled packages and a CloudEvent sink.

The sink is a real HTTP server on loopback (the `FakeServer` of tests/fakes), so the local runner
posts its run-completion events over HTTP exactly as it posts them to the function.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp_chain.intake import RunCompletion, parse_request
from kfp_fakes.http import FakeServer, Request, Response

__all__ = ["ROOT", "EventSink", "compile_examples", "wait_for"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def compile_examples(out: Path) -> Path:
    """Compiles through the same script `make compile-examples` runs, in a fresh interpreter."""
    subprocess.run([sys.executable, str(EXAMPLES / "compile.py"), "--out", str(out)], check=True, cwd=ROOT)
    return out


class EventSink(FakeServer):
    """Accepts run-completion events on `POST /` and keeps them as parsed by the function's own intake."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[RunCompletion] = []
        self.raw: list[Request] = []
        self._arrived = threading.Condition()
        self.route("POST", "/", self._receive)

    def _receive(self, request: Request) -> Response:
        event = parse_request(request.headers, request.body)
        with self._arrived:
            self.raw.append(request)
            self.events.append(event)
            self._arrived.notify_all()
        return Response(200, {"ok": True})

    def wait(self, count: int, timeout: float = 60.0) -> list[RunCompletion]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.events) >= count, timeout=timeout)
            return list(self.events)


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
