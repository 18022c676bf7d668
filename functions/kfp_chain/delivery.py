"""The delivery window: how the broker's retries, the claim lease and the call timeouts must relate.

Pure and side-effect free; `settings` enforces it at start-up and a test holds the shipped Knative
Trigger (`infra/components/knative-broker/trigger.yaml`) and Service env against it, so that the
relation lives in exactly one place. docs/reliability.md derives the same numbers in prose.

The three rules (each a sentence of `window_problems`):
1. A claim renewed right before a create must outlast that create: lease >= connect + read timeout
   + clock skew. Otherwise another replica could take over while the create is still in flight.
2. An orphaned claim (its holder died, or failed to release it) must expire before the broker's last
   retry: lease + clock skew <= the wait before the last retry. Every other retry comes earlier, so a
   holder that dies in any attempt but the last leaves a claim that a later attempt takes over; a
   holder that dies in the last attempt is reconcile's to recover.
3. An attempt must answer before the broker gives up on it: retry budget + one call's timeouts <=
   the per-attempt timeout. A request still retrying when the broker times it out is redelivered
   while the first is alive, which is safe but wastes the attempt.

Knative computes the wait before retry n as `backoffDelay * 2^n` (exponential) or `backoffDelay * n`
(linear), where implementations have counted n from 0 or from 1; this module takes the smaller
reading (wait before retry k = delay * 2^(k-1), k = 1..retry), so every bound holds under either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import isodate

__all__ = ["CLOCK_SKEW_SECONDS", "DeliveryPolicy", "Timings", "parse_duration", "window_problems"]

CLOCK_SKEW_SECONDS = 1.0  # how far two pods' clocks may disagree when comparing a claim's expiresAt

BackoffPolicy = Literal["exponential", "linear"]


def parse_duration(text: str) -> float:
    """An ISO-8601 duration (`PT1S`, `PT0.5S`, `PT1M30S`) in seconds, as the Trigger spells them."""
    try:
        duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as PT1S") from exc
    seconds = float(duration.total_seconds())
    if seconds < 0:
        raise ValueError(f"{text!r} is negative")
    return seconds


@dataclass(frozen=True)
class DeliveryPolicy:
    """A Knative `delivery` spec: `retry`, `backoffPolicy`, `backoffDelay`, `timeout` (per attempt)."""

    retry: int
    backoff_policy: BackoffPolicy = "exponential"
    backoff_delay: float = 1.0
    timeout: float | None = None

    @classmethod
    def from_spec(cls, delivery: Mapping[str, Any]) -> DeliveryPolicy:
        policy = delivery.get("backoffPolicy", "exponential")
        if policy not in ("exponential", "linear"):
            raise ValueError(f"backoffPolicy {policy!r} is neither exponential nor linear")
        timeout = delivery.get("timeout")
        return cls(
            retry=int(delivery.get("retry", 0)),
            backoff_policy=policy,
            backoff_delay=parse_duration(str(delivery.get("backoffDelay", "PT0S"))),
            timeout=parse_duration(str(timeout)) if timeout is not None else None,
        )

    def waits(self) -> tuple[float, ...]:
        """The wait before each retry, first to last (the smaller of Knative's two readings)."""
        if self.backoff_policy == "linear":
            return tuple(self.backoff_delay * k for k in range(1, self.retry + 1))
        return tuple(self.backoff_delay * 2 ** (k - 1) for k in range(1, self.retry + 1))

    @property
    def last_wait(self) -> float:
        """The shortest time between a failed attempt (other than the last) and the last retry."""
        waits = self.waits()
        return waits[-1] if waits else 0.0

    @property
    def backoff_total(self) -> float:
        return sum(self.waits())


@dataclass(frozen=True)
class Timings:
    """kfp-chain's own side of the window, from its settings."""

    lease: float
    retry_budget: float
    connect_timeout: float
    read_timeout: float
    clock_skew: float = CLOCK_SKEW_SECONDS

    @property
    def call(self) -> float:
        """The longest one API call can take before the client gives up on it."""
        return self.connect_timeout + self.read_timeout


def window_problems(policy: DeliveryPolicy, timings: Timings) -> list[str]:
    """Every rule of the module docstring that `policy` and `timings` break, each one sentence."""
    problems = []
    if policy.retry < 1:
        problems.append("the broker never retries (retry < 1): an orphaned claim can only wait for reconcile")
    if timings.lease < timings.call + timings.clock_skew:
        problems.append(
            f"claim lease {timings.lease:g}s is shorter than one call ({timings.call:g}s, connect + read "
            f"timeout) + clock skew ({timings.clock_skew:g}s): a replica could take a claim over while its "
            "holder's create is still in flight"
        )
    if policy.retry >= 1 and timings.lease + timings.clock_skew > policy.last_wait:
        problems.append(
            f"claim lease {timings.lease:g}s + clock skew {timings.clock_skew:g}s outlasts the broker's "
            f"wait before its last retry ({policy.last_wait:g}s): a claim orphaned by a dead replica would "
            "still be live when the last retry comes, and the event would be dead-lettered"
        )
    if policy.timeout is not None and timings.retry_budget + timings.call > policy.timeout:
        problems.append(
            f"retry budget {timings.retry_budget:g}s + one call ({timings.call:g}s) exceeds the per-attempt "
            f"timeout {policy.timeout:g}s: the broker would give up on an attempt that is still working"
        )
    return problems
