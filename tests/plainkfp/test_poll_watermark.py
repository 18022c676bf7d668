"""The poll's watermark rule (`watermark.py`), as properties over any runs, passes and faults.

The simulation drives the pure rule the way `service/poll.py` does: runs finish at some time and
become visible in KFP up to `lookback - period` later, a pass every `period` lists what is visible
from `listed_since`, decides what `unhandled` names (a temporary fault leaves a run waiting), and
stores `advance`'s answer; two pollers store theirs through `merge`, as the mark stores do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st
from kfp_chain.watermark import Done, Mark, advance, from_json, listed_since, merge, to_json, unhandled

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LOOKBACK = timedelta(seconds=300)
PERIOD = 60


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


done_st = st.builds(lambda r, s: (f"r{r}", at(s)), st.integers(0, 30), st.integers(0, 2000))
mark_st = st.builds(
    lambda a, h, w: Mark(a, frozenset(h), frozenset(w) - frozenset(h)),
    st.none() | st.integers(0, 2000).map(at),
    st.sets(done_st, max_size=12),
    st.sets(done_st, max_size=3),
)


@settings(deadline=None)  # no timing: a loaded machine must not fail a property
@given(mark_st, st.sets(done_st, max_size=12), st.data())
def test_the_mark_never_moves_back_nor_past_a_waiting_run(mark: Mark, listed: set[Done], data) -> None:
    todo = unhandled(mark, listed, LOOKBACK)
    waiting = set(data.draw(st.sets(st.sampled_from(todo)) if todo else st.just(set())))
    handled = [d for d in todo if d not in waiting]
    new = advance(mark, listed, handled, waiting, LOOKBACK)

    assert mark.at is None or (new.at is not None and new.at >= mark.at)
    still = waiting | (set(mark.waiting) - set(handled))
    if still and new.at is not None:  # never past a waiting run, unless the mark already was
        oldest = min(f for _, f in still)
        assert new.at <= max(oldest, mark.at) if mark.at is not None else new.at <= oldest
    since = listed_since(new, LOOKBACK, at(5000))
    for run in waiting | (set(mark.waiting) - set(handled)):
        assert run[1] >= since, "a run that could not be handled is no longer listed"
        assert unhandled(new, [run], LOOKBACK) == [run]
    for run in todo:
        if run not in waiting and run[1] >= since:
            assert unhandled(new, [run], LOOKBACK) == [], "a handled run would be handed again"


@settings(deadline=None)  # no timing: a loaded machine must not fail a property
@given(mark_st, mark_st)
def test_two_marks_merge_into_one_that_keeps_both(a: Mark, b: Mark) -> None:
    merged = merge(a, b, LOOKBACK)

    assert merged == merge(b, a, LOOKBACK)
    assert merge(merged, merged, LOOKBACK) == merged
    since = listed_since(merged, LOOKBACK, at(5000))
    for run in a.handled | b.handled:
        if run[1] >= since:
            assert run in merged.handled
    for run in (a.waiting | b.waiting) - (a.handled | b.handled):
        assert run[1] >= since and run in merged.waiting
    if a.at is not None and b.at is not None:
        assert merged.at is not None and merged.at >= min(a.at, b.at)


@settings(deadline=None)  # no timing: a loaded machine must not fail a property
@given(mark_st)
def test_the_mark_reads_back_as_written(mark: Mark) -> None:
    assert from_json(to_json(mark)) == mark
    assert from_json({"at": "not a time"}) == Mark()


def test_a_retried_run_finishing_again_is_a_new_completion() -> None:
    first = advance(Mark(), [("r1", at(10))], [("r1", at(10))], [], LOOKBACK)

    assert unhandled(first, [("r1", at(10)), ("r1", at(70))], LOOKBACK) == [("r1", at(70))]


runs_st = st.lists(
    st.tuples(st.integers(0, 1200), st.integers(0, LOOKBACK.seconds - PERIOD)),  # finished, learned late by
    max_size=25,
)


def simulate(runs: list[tuple[int, int]], faults: set[tuple[int, int]], pollers: int) -> dict[Done, int]:
    """How many times each run was handed to the chain over every pass until well after the last."""
    completions = [(f"r{i}", at(f), f + late) for i, (f, late) in enumerate(runs)]
    stored = Mark()
    handed: dict[Done, int] = {}
    for tick in range(0, 1200 + LOOKBACK.seconds + 10 * PERIOD, PERIOD):
        loaded = [stored for _ in range(pollers)]  # every poller reads before any writes: overlap
        for p, mark in enumerate(loaded):
            now = tick + p
            since = listed_since(mark, LOOKBACK, at(now))
            listed = [(r, f) for r, f, seen in completions if seen <= now and f >= since]
            handled, waiting = [], []
            for run in unhandled(mark, listed, LOOKBACK):
                if (tick, int(run[0][1:])) in faults:
                    waiting.append(run)
                else:
                    handed[run] = handed.get(run, 0) + 1
                    handled.append(run)
            stored = merge(advance(mark, listed, handled, waiting, LOOKBACK), stored, LOOKBACK)
    return handed


@settings(max_examples=150, deadline=None)
@example(runs=[(0, 0), (0, 0), (0, 0), (181, 240), (301, 0)], faults={(480, 3)})  # pruned, then listed again
@given(runs_st, st.sets(st.tuples(st.integers(0, 1500).map(lambda t: t - t % PERIOD), st.integers(0, 24))))
def test_one_poller_hands_every_run_once_however_late_it_is_learned_and_whatever_faults(runs, faults) -> None:
    handed = simulate(runs, faults, pollers=1)

    assert sorted(handed) == sorted((f"r{i}", at(f)) for i, (f, _) in enumerate(runs))
    assert set(handed.values()) <= {1}


@settings(max_examples=100, deadline=None)
@given(runs_st, st.sets(st.tuples(st.integers(0, 1500).map(lambda t: t - t % PERIOD), st.integers(0, 24))))
def test_two_pollers_at_once_miss_no_run(runs, faults) -> None:
    handed = simulate(runs, faults, pollers=2)

    # Both may hand one run (the chain's claim makes the second a duplicate); neither misses one.
    assert sorted(handed) == sorted((f"r{i}", at(f)) for i, (f, _) in enumerate(runs))
