"""A Knative PingSource for the reconcile Service, on a test-speed schedule.

The shipped PingSource posts a `dev.knative.sources.ping` CloudEvent (its `data`, with its OIDC
token when the manifests give it an audience) to the reconcile function once a minute; here it fires every `every` seconds (a speed-up, so that passes race the event path many
times in one test). As a PingSource does, it fires on schedule whether or not the previous pass has
answered, so passes on different pods (and on one pod) overlap. Each pass's answer is kept: 200
with counts when the pass finished, 503 when a fault stopped it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.broker import post
from tests.reliability.processes import Pod

__all__ = ["Pass", "PingSource"]

PASS_TIMEOUT = 120.0


@dataclass
class Pass:
    pod: str
    started: float  # monotonic
    ended: float | None = None
    status: int | None = None  # None: no answer
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Finished, and left nothing behind for the next pass (no held or failed trigger)."""
        return self.status == 200 and not self.body.get("held") and not self.body.get("failed")


class PingSource:
    def __init__(
        self, sink: Callable[[], list[Pod]], every: float, content: tuple[str, bytes], token: str | None
    ) -> None:
        self.sink, self.every = sink, every
        self.content_type, self.data = content
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.passes: list[Pass] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count()
        self._turn = itertools.count()
        self._ticker = threading.Thread(target=self._tick, name="pingsource", daemon=True)

    def start(self) -> PingSource:
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._ticker.join()
        for thread in list(self._threads):
            thread.join(timeout=PASS_TIMEOUT)

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            pods = self.sink()
            if not pods:
                continue
            pod = pods[next(self._turn) % len(pods)]
            thread = threading.Thread(target=self._ping, args=(pod,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _ping(self, pod: Pod) -> None:
        record = Pass(pod.name, time.monotonic())
        with self._lock:
            self.passes.append(record)
        headers = {
            "ce-specversion": "1.0",
            "ce-type": "dev.knative.sources.ping",
            "ce-source": "/apis/v1/namespaces/kfp-chain/pingsources/kfp-chain-reconcile",
            "ce-id": f"ping-{next(self._ids)}",
            "content-type": self.content_type,
            **self.auth,
        }
        status, raw = post(pod.url, headers, self.data, PASS_TIMEOUT)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        record.status, record.body, record.ended = (
            status,
            body if isinstance(body, dict) else {},
            time.monotonic(),
        )

    def clean_pass_since(self, moment: float) -> Pass | None:
        """A pass that began at or after `moment` and finished clean."""
        with self._lock:
            return next((p for p in self.passes if p.started >= moment and p.ended and p.clean), None)

    def totals(self) -> dict[str, int]:
        with self._lock:
            finished = [p for p in self.passes if p.status == 200]
            totals = {
                "passes": len(self.passes),
                "finished (200)": len(finished),
                "stopped by a fault (5xx)": sum(1 for p in self.passes if p.status and p.status >= 500),
                "no answer": sum(1 for p in self.passes if p.ended and p.status is None),
            }
            for key in ("pending", "started", "duplicates", "adopted", "held", "skipped", "failed"):
                totals[f"sum of '{key}'"] = sum(int(p.body.get(key) or 0) for p in finished)
            return totals
