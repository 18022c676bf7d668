"""The CloudEvent's traceparent becomes the parent of the span each event is handled in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp_chain.chain import Outcome
from kfp_chain.intake import RunCompletion
from kfp_chain.observability.logs import JsonFormatter
from kfp_chain.observability.tracing import current_trace_id
from kfp_chain.service.app import App, build_app, respond
from kfp_chain.settings import Settings
from kfp_fakes.kfp import FakeKfp

from tests.builders import binary_event, event_data
from tests.support import SEED

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class TraceRecorder:
    """An observer that notes which trace each decision was made in."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def on_outcome(self, event: RunCompletion, outcome: Outcome) -> None:
        self.seen.append((outcome.outcome, current_trace_id()))


@pytest.fixture
def app_and_traces(kfp: FakeKfp, tmp_path: Path) -> Iterator[tuple[App, TraceRecorder]]:
    recorder = TraceRecorder()
    settings = Settings(
        runconfigurations=str(SEED.parent), kfp_host=kfp.url, state_db=tmp_path / "state.db", holder="t"
    )
    app = build_app(settings, observers=[recorder])
    yield app, recorder
    app.close()


def with_traceparent(request: tuple[dict[str, str], bytes], header: str) -> tuple[dict[str, str], bytes]:
    headers, body = request
    return {**headers, header: TRACEPARENT}, body


@pytest.mark.parametrize("header", ["ce-traceparent", "traceparent"])
def test_decisions_are_made_inside_the_remote_trace(
    app_and_traces: tuple[App, TraceRecorder], header: str
) -> None:
    app, recorder = app_and_traces

    status, _ = respond(app, *with_traceparent(binary_event(event_data(run_id="t-1")), header))

    assert status == 200
    assert recorder.seen == [("started", TRACE_ID)]
    assert current_trace_id() is None  # the span ended with the event


def test_without_traceparent_there_is_no_trace(app_and_traces: tuple[App, TraceRecorder]) -> None:
    app, recorder = app_and_traces

    respond(app, *binary_event(event_data(run_id="t-2")))

    assert recorder.seen == [("started", None)]


def test_the_decision_log_line_carries_the_traceparent(app_and_traces: tuple[App, TraceRecorder]) -> None:
    app, _ = app_and_traces
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kfp_chain.decisions")
    logger.addHandler(handler)
    try:
        respond(
            app, *with_traceparent(binary_event(event_data(run_id="t-3"), event_id="e-3"), "ce-traceparent")
        )
    finally:
        logger.removeHandler(handler)

    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert (line["traceparent"], line["eventId"], line["outcome"]) == (TRACEPARENT, "e-3", "started")
