"""The delivery window's rules at their edges (`kfp_chain.delivery`), each term counted once.

`tests/infra/test_knative.py` holds the shipped Trigger and Services to the rules; here each rule is
pinned where one term decides: the clock skew is what tips a lease that would otherwise fit.
"""

from __future__ import annotations

from kfp_chain.delivery import DeliveryPolicy, Timings, window_problems

SHIPPED = DeliveryPolicy(retry=6, backoff_policy="exponential", backoff_delay=1.0, timeout=30.0)


def timings(lease: float, skew: float = 1.0) -> Timings:
    return Timings(lease=lease, retry_budget=10.0, connect_timeout=5.0, read_timeout=10.0, clock_skew=skew)


def test_the_shipped_numbers_fit() -> None:
    assert window_problems(SHIPPED, timings(20.0)) == []


def test_a_lease_that_outlasts_the_last_retry_only_by_the_clock_skew_breaks_the_window() -> None:
    # 31.5 s <= 32 s, the wait before the last retry; + 1 s of skew it does not.
    [problem] = window_problems(SHIPPED, timings(31.5))
    assert "outlasts the broker's wait before its last retry" in problem and "clock skew 1s" in problem
    assert window_problems(SHIPPED, timings(31.5, skew=0.0)) == []


def test_a_lease_shorter_than_one_call_plus_the_clock_skew_breaks_the_window() -> None:
    # 15.5 s >= 15 s (connect + read timeout), < 16 s with the skew.
    [problem] = window_problems(SHIPPED, timings(15.5))
    assert "shorter than one call" in problem
    assert window_problems(SHIPPED, timings(15.5, skew=0.0)) == []
