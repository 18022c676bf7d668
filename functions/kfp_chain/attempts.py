"""The attempts of one delivery: what they learn together, and how often they are made.

Beside `chain`, which makes them: an event's delivery (or a reconcile pass's trigger) retries its
temporary faults within its own budget, and past it answers RETRY so the broker's schedule
(`delivery.py`) takes over. Pure but for the sleep it is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from .errors import TemporaryError, TriggerInProgress

__all__ = ["Delivery", "retrying"]

log = logging.getLogger("kfp_chain")
T = TypeVar("T")


@dataclass
class Delivery:
    """What the attempts of one delivery (one holder) have learnt together: whether a run may exist.

    A join's claim must stay held once its run may exist, and a later attempt whose lookup fails has
    made nothing itself: only the delivery knows an earlier attempt sent the create.
    """

    run_may_exist: bool = False  # an attempt found the trigger's run, or sent its create


def retrying(work: Callable[[], T], deadline: float, holder_wait: float, sleep: Callable[[float], None]) -> T:
    """Retries temporary faults until `deadline` (monotonic); past it, the broker's retries take over.

    Another holder's live claim is retried only for `holder_wait` seconds: long enough for a
    holder's find -> create -> complete, short enough not to hold a broker slot for long.
    """
    waiting_until = time.monotonic() + holder_wait

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("temporary fault, retrying", extra={"attempt": state.attempt_number, "error": str(exc)})

    budget = max(0.0, deadline - time.monotonic())
    policy = Retrying(
        retry=retry_if_exception_type(TemporaryError)
        & (
            retry_if_not_exception_type(TriggerInProgress)
            | retry_if_exception(lambda _: time.monotonic() < waiting_until)
        ),
        stop=stop_after_delay(budget) | stop_after_attempt(8),
        wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.2),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return policy(work)
