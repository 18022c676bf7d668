"""kfp-operator's cron in KFP's form: what converts, and what is refused with its reason.

KFP parses with robfig/cron v1.2.0 (seconds first); `schedules.kfp_cron` is pure, so it is tested
on its own here, and through reconcile and `validate` in the other schedules tests.
"""

from __future__ import annotations

import re

import pytest
from kfp_chain.errors import BadSchedule
from kfp_chain.runconfiguration import RcKey, RunConfiguration, Schedule
from kfp_chain.schedules import kfp_cron, schedule_problems


@pytest.mark.parametrize(
    ("operator", "kfp"),
    [
        ("0 * * * *", "0 0 * * * *"),
        ("*/15 9-17 * * mon-fri", "0 */15 9-17 * * mon-fri"),
        ("  30   2 1,15 JAN-jun ?  ", "0 30 2 1,15 JAN-jun ?"),
        ("5/10 * * * 0", "0 5/10 * * * 0"),
        ("15 0 0 * * *", "15 0 0 * * *"),  # six fields: KFP's form already (kfp-operator passes it on)
    ],
)
def test_five_fields_get_seconds_in_front(operator, kfp):
    assert kfp_cron(operator) == kfp


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("@hourly", "descriptors"),
        ("* * * *", "4 field(s)"),
        ("0 0 * * * * 2026", "7 field(s)"),
        ("0 2 * * 7", "write 0 (or sun) for Sunday"),
        ("0 2 L * *", "no L, W or #"),
        ("0 2 * * 1#2", "no L, W or #"),
        ("60 * * * *", "within 0-59"),
        ("0 24 * * *", "within 0-23"),
        ("0 0 0 * *", "within 1-31"),
        ("*/0 * * * *", "positive number"),
        ("10-5 * * * *", "runs backwards"),
        ("0 2 * * someday", "not a number or a name"),
        ("1,,2 * * * *", "not a number"),
    ],
)
def test_what_kfp_cannot_run_is_refused_with_its_reason(cron, why):
    with pytest.raises(BadSchedule, match=re.escape(why)):
        kfp_cron(cron)


def test_times_must_be_rfc3339_with_an_offset_and_end_after_start():
    rc = RunConfiguration(
        RcKey("a", "b"),
        "pipe",
        schedules=(
            Schedule("0 * * * *", "2026-01-01", None),
            Schedule("0 * * * *", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
            Schedule("0 * * * *", "2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00Z"),
            Schedule("0 * * * *", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ),
    )

    problems = schedule_problems(rc)

    assert len(problems) == 2
    assert "schedules[0]: startTime '2026-01-01' has no time zone offset" in problems[0]
    assert "schedules[1]: endTime 2026-01-01T00:00:00Z is not after startTime" in problems[1]
