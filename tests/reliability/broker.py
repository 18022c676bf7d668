"""A Knative broker's dispatcher, as the shipped Trigger configures it, in front of real server processes.

What Knative Eventing does with each event routed by a Trigger (the MT channel-based broker's
dispatcher), reduced to what matters for exactly-once, and timed in real seconds:
- every message is its own delivery with its own schedule; at most `concurrency` are in flight;
- an attempt is one POST, in CloudEvents binary mode, to a ready pod of the subscriber Service,
  bounded by the delivery `timeout`, with the Trigger's OIDC token for the subscriber's audience
  (dead letters: for the sink's audience) when the manifests ask for one;
- a 2xx acknowledges; no answer (timeout, refused, reset: a pod that died mid-request), 5xx, 404,
  408, 409 and 429 are retried after `backoff(k)` for retry k = 1..`retry`; any other 4xx is not;
- what is not acknowledged after the last retry (or is refused with a 4xx) goes to the dead-letter
  sink, with the extensions `knativeerrorcode`, `knativeerrordest` and `knativeerrordata` (the
  last answer's body, base64), and is gone from the event path.

Not modelled: the ingress and channel hops before the dispatcher (a message is published straight
into it), per-subscriber ordering (Knative has none either), and the activator's queueing.
"""

from __future__ import annotations

import base64
import heapq
import http.client
import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kfp_chain.delivery import DeliveryPolicy

from tests.builders import binary_event
from tests.reliability.graph import Event
from tests.reliability.processes import Pod
from tests.reliability.shipped import retryable

__all__ = ["Attempt", "Broker", "Message", "Tally", "post"]

DEAD_LETTER_TRIES = 5


@dataclass
class Attempt:
    pod: str
    status: int | None  # None: no answer
    body: dict[str, Any]
    at: float  # when the answer came, seconds since the broker started
    took: float = 0.0  # seconds from sending to the answer (or to giving up)


@dataclass
class Message:
    event: Event
    copy: int
    headers: dict[str, str]
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)
    settled: str | None = None  # "acknowledged" | "dead-lettered"

    @classmethod
    def of(cls, event: Event, copy: int) -> Message:
        headers, body = binary_event(event.data, event_id=event.event_id)
        return cls(event, copy, headers, body)


@dataclass
class Tally:
    published: int = 0
    deliveries: int = 0  # every attempt
    redeliveries: int = 0  # attempts after a message's first
    answers: Counter[str] = field(default_factory=Counter)  # "200", "503", "none"
    reasons: Counter[str] = field(default_factory=Counter)  # why a 5xx: the dependents' retry reasons
    outcomes: Counter[str] = field(default_factory=Counter)  # per dependent, in 2xx answers
    surprises: list[dict[str, Any]] = field(default_factory=list)  # skipped for an unplanned reason
    planned_skips: frozenset[str] = frozenset({"missing-artifact"})  # skip reasons that are no surprise
    dead_lettered: list[Message] = field(default_factory=list)  # given up by the broker
    dead_letters_received: int = 0  # 2xx from the dead-letter sink
    max_in_flight: int = 0


def post(url: str, headers: dict[str, str], body: bytes, timeout: float | None) -> tuple[int | None, bytes]:
    """One HTTP POST; (None, b"") when there is no answer: refused, reset, timed out."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path or "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None, b""
    finally:
        connection.close()


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Broker:
    """Delivers published messages to `subscribers()` under `spec`; see the module docstring."""

    def __init__(
        self,
        spec: DeliveryPolicy,
        subscribers: Callable[[], list[Pod]],
        dead_letter_sink: Callable[[], list[Pod]],
        concurrency: int,
        seed: int,
        tokens: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.spec, self.subscribers, self.dead_letter_sink = spec, subscribers, dead_letter_sink
        # OIDC bearer tokens for the subscriber's and the dead-letter sink's audience (None: no token).
        self._auth = [{"Authorization": f"Bearer {t}"} if t else {} for t in tokens]
        self.tally = Tally()
        self.messages: list[Message] = []
        self._random = random.Random(seed)
        self._queue: list[tuple[float, int, Message]] = []
        self._sequence = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._intake_open = True
        self._stopping = False
        self.started = time.monotonic()
        self._workers = [
            threading.Thread(target=self._work, name=f"dispatcher-{i}", daemon=True)
            for i in range(concurrency)
        ]
        for worker in self._workers:
            worker.start()

    def now(self) -> float:
        return time.monotonic() - self.started

    # -- the publishing side ---------------------------------------------------------
    def publish(self, message: Message, delay: float = 0.0) -> None:
        with self._cond:
            assert self._intake_open, "published after close_intake"
            self.messages.append(message)
            self.tally.published += 1
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._sequence), message))
            self._cond.notify_all()

    def close_intake(self) -> None:
        with self._cond:
            self._intake_open = False
            self._cond.notify_all()

    def wait_settled(self, timeout: float) -> bool:
        """True once intake is closed and every message is acknowledged or dead-lettered."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._intake_open or self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=60)

    # -- the dispatcher --------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, message = heapq.heappop(self._queue)
                self._in_flight += 1
                self.tally.max_in_flight = max(self.tally.max_in_flight, self._in_flight)
            try:
                self._attempt(message)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _attempt(self, message: Message) -> None:
        pods = self.subscribers()
        pod = self._random.choice(pods) if pods else None
        sent = self.now()
        if pod is None:  # no ready endpoint: the activator would hold it; here it is a failed attempt
            status, raw = None, b""
        else:
            status, raw = post(pod.url, {**message.headers, **self._auth[0]}, message.body, self.spec.timeout)
        answer = _json(raw)
        with self._cond:
            now = self.now()
            self._record(message, Attempt(pod.name if pod else "-", status, answer, now, now - sent))
            retry_number = len(message.attempts)  # the retry that would come next
            if status is not None and 200 <= status < 300:
                message.settled = "acknowledged"
                return
            if retryable(status) and retry_number <= self.spec.retry:
                due = time.monotonic() + self.spec.waits()[retry_number - 1]
                heapq.heappush(self._queue, (due, next(self._sequence), message))
                return
            message.settled = "dead-lettered"
            self.tally.dead_lettered.append(message)
        self._dead_letter(message, pod, status, raw)

    def _record(self, message: Message, attempt: Attempt) -> None:
        tally = self.tally
        tally.deliveries += 1
        if message.attempts:
            tally.redeliveries += 1
        message.attempts.append(attempt)
        status, answer = attempt.status, attempt.body
        tally.answers["none" if status is None else str(status)] += 1
        if status is not None and 200 <= status < 300:
            for d in answer.get("dependents", []):
                tally.outcomes[d["outcome"] + (f" ({d['reason']})" if d.get("reason") else "")] += 1
                if d["outcome"] == "skipped" and d.get("reason") not in tally.planned_skips:
                    tally.surprises.append(d)
        elif status is None:
            tally.reasons["no answer"] += 1
        else:
            tally.reasons.update(
                d.get("reason", "?") for d in answer.get("dependents", []) if d["outcome"] == "retry"
            )
            if "error" in answer:
                tally.reasons[answer["error"]] += 1

    def _dead_letter(self, message: Message, pod: Pod | None, status: int | None, raw: bytes) -> None:
        headers = {
            **message.headers,
            **self._auth[1],
            "ce-knativeerrordest": pod.url if pod else "",
            "ce-knativeerrorcode": str(status or 0),
        }
        if raw:
            headers["ce-knativeerrordata"] = base64.b64encode(raw).decode()
        for _ in range(DEAD_LETTER_TRIES):
            sinks = self.dead_letter_sink()
            if sinks:
                answer, _ = post(self._random.choice(sinks).url, headers, message.body, self.spec.timeout)
                if answer is not None and 200 <= answer < 300:
                    with self._cond:
                        self.tally.dead_letters_received += 1
                    return
            time.sleep(self.spec.backoff_delay)
