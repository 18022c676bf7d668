"""The enums go on the wire as the plain strings they replaced, in every format we write.

`OutcomeKind`, `RunStatus`, `LocalRunStatus`, `AnswerClass` and `PassResult` are `StrEnum`s so that
answers, log fields, metric labels and span attributes stay byte-identical to the strings the code
used before: dashboards, alerts, log queries and the dead-letter function match on those strings.
A plain `Enum` (or a `str()` that gave `OutcomeKind.STARTED`) would break each of them silently.
"""

from __future__ import annotations

import json
import logging

import orjson
import pytest
from kfp_chain.intake import RunCompletion, RunStatus, parse_data
from kfp_chain.observability.logs import JsonFormatter, TextFormatter
from kfp_chain.observability.metrics import Metrics, PassResult
from kfp_chain.observability.observers import LogObserver
from kfp_chain.outcomes import Outcome, OutcomeKind, Report
from kfp_chain.runconfiguration import RcKey

UPSTREAM = RcKey("base-namespace", "up")
DEPENDENT = RcKey("dependant-namespace", "down")


def _event() -> RunCompletion:
    return parse_data({"status": "succeeded", "runConfigurationName": str(UPSTREAM), "runId": "u-1"})


def test_an_answer_body_carries_the_plain_strings() -> None:
    event = _event()
    report = Report(event, (Outcome(DEPENDENT, OutcomeKind.STARTED, run_id="r-1"),))

    body = orjson.dumps(report.as_body())

    assert b'"status":"succeeded"' in body
    assert b'"outcome":"started"' in body
    assert json.dumps(report.as_body()) == json.dumps(json.loads(body))  # the stdlib writes the same


def test_parsing_gives_the_enum_and_it_equals_its_wire_string() -> None:
    event = _event()
    assert event.status is RunStatus.SUCCEEDED
    assert (
        event.status == "succeeded" and str(event.status) == "succeeded" and f"{event.status}" == "succeeded"
    )


@pytest.mark.parametrize(
    ("formatter", "expected"),
    [(JsonFormatter(), '"outcome": "skipped"'), (TextFormatter(), "outcome=skipped")],
)
def test_a_decision_log_line_carries_the_plain_outcome(
    formatter: logging.Formatter, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = Outcome(DEPENDENT, OutcomeKind.SKIPPED, reason="missing-artifact", detail="no examples")
    with caplog.at_level(logging.INFO, logger="kfp_chain.decisions"):
        LogObserver().on_outcome(_event(), outcome)
    (record,) = [r for r in caplog.records if r.name == "kfp_chain.decisions"]

    line = formatter.format(record)

    assert expected in line
    assert "OutcomeKind" not in line


def test_metric_labels_carry_the_plain_strings() -> None:
    metrics = Metrics()
    metrics.observe_request(RunStatus.FAILED, 200, 0.01)
    metrics.observe_request(RunStatus.SUCCEEDED, 503, 0.01)
    metrics.observe_reconcile(3, 1, PassResult.PARTIAL)

    exposition = metrics.exposition().decode()

    assert 'kfp_chain_events_received_total{outcome="handled",status="failed"} 1.0' in exposition
    assert 'kfp_chain_events_received_total{outcome="retry",status="succeeded"} 1.0' in exposition
    assert 'kfp_chain_reconcile_passes_total{result="partial"} 1.0' in exposition
