"""Fault injection for both fakes: one misbehaviour per `Fault`, matched on method and path.

Where it sits: every `FakeServer` has a `FaultInjector` (`fake.faults.add(...)`); `http.py` asks it
about each request before the handler runs and acts on the mode of the fault it returns.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fault", "FaultInjector"]


@dataclass
class Fault:
    """One injected misbehaviour, matched on method and a path regex.

    mode:
      "status"  - answer `status` without touching state (the request never happened).
      "drop"    - close the connection without an answer, state untouched.
      "after"   - let the handler run (state changes!) and then answer `status`, or drop
                  the connection when status is 0: a write whose answer is lost.
      "delay"   - sleep `delay` seconds, then handle normally.
      "hold"    - keep the request waiting, once it has arrived, until the test calls `release()`
                  (or `delay` seconds pass, default 10), then handle normally: a request that is
                  provably in flight. `wait_arrived(n)` blocks until n matching requests are held.
    """

    method: str = "*"
    path: str = ".*"
    mode: str = "status"
    status: int = 500
    times: int | None = 1  # None = forever
    delay: float = 0.0
    probability: float = 1.0
    hits: int = 0
    _held: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _released: bool = False

    def wait_arrived(self, count: int = 1, timeout: float = 10.0) -> bool:
        """True once `count` requests matched this fault (for "hold": are being held)."""
        with self._held:
            return self._held.wait_for(lambda: self.hits >= count, timeout)

    def release(self) -> None:
        """Lets every held request (and any later one) through."""
        with self._held:
            self._released = True
            self._held.notify_all()

    def _arrived(self) -> None:
        with self._held:
            self._held.notify_all()

    def _hold(self) -> None:
        with self._held:
            self._held.wait_for(lambda: self._released, self.delay or 10.0)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, **kwargs: Any) -> Fault:
        fault = Fault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and self._random.random() < fault.probability:
                    with fault._held:
                        fault.hits += 1
                    fault._arrived()
                    return fault
        return None
