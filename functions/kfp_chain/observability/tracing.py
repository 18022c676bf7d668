"""Tracing: one span per event, child of the CloudEvent's `traceparent`, when OpenTelemetry is there.

Where it sits: `app.respond` opens `event_span(event)` around the chain's handling, and
`TracingObserver` adds one span event per decision. The W3C `traceparent` is already parsed into
`RunCompletion.traceparent` (and written into every decision log line by `LogObserver`), so a log
line and a span of the same event share a trace id.

Only the OpenTelemetry *API* is used (installed with kfp). Without an SDK the API is a no-op that
still carries the remote parent as the current span context, so nothing is exported and nothing
costs; configure an SDK and exporter (e.g. `opentelemetry-instrument` with OTLP env vars) and the
same code emits real spans. Without the API package installed at all, every function here is a
no-op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..intake import RunCompletion
from ..outcomes import Outcome

__all__ = ["TracingObserver", "current_trace_id", "event_span"]

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import ProxyTracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _PROPAGATOR: Any = TraceContextTextMapPropagator()
    _TRACER: Any = _trace.get_tracer("kfp_chain")
except ImportError:  # pragma: no cover - opentelemetry-api comes with kfp
    _trace = None  # type: ignore[assignment]
    _PROPAGATOR = _TRACER = ProxyTracerProvider = None  # type: ignore[assignment,misc]


@contextlib.contextmanager
def event_span(event: RunCompletion) -> Iterator[Any]:
    """The span of handling one event; its parent is the event's `traceparent` when there is one."""
    if _trace is None or (
        not event.traceparent and isinstance(_trace.get_tracer_provider(), ProxyTracerProvider)
    ):
        # No parent to carry and no SDK to record: a span would cost ~35 µs of a ~1 ms event for nothing.
        yield None
        return
    carrier = {"traceparent": event.traceparent} if event.traceparent else {}
    parent = _PROPAGATOR.extract(carrier)
    attributes = {
        "cloudevents.event_id": event.event_id or "",
        "cloudevents.event_source": event.source or "",
        "kfp_chain.emitter": event.emitter,
        "kfp_chain.upstream_run_id": event.run_id,
        "kfp_chain.status": str(event.status),  # a plain str: exporters need not know our enums
    }
    with _TRACER.start_as_current_span(
        "kfp-chain handle run-completion",
        context=parent,
        kind=_trace.SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span


def current_trace_id() -> str | None:
    """The current span context's trace id (32 hex digits), or None outside any valid trace."""
    if _trace is None:
        return None
    context = _trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


class TracingObserver:
    """Adds each decision to the event's span, so a trace shows which dependents started and why not."""

    def on_outcome(self, event: RunCompletion, outcome: Outcome) -> None:
        if _trace is None:
            return
        span = _trace.get_current_span()
        if not span.is_recording():
            return
        attributes = {
            "kfp_chain.dependent": str(outcome.dependent),
            "kfp_chain.outcome": str(outcome.outcome),
            "kfp_chain.reason": outcome.reason or "",
            "kfp_chain.kfp_run_id": outcome.run_id or "",
        }
        span.add_event("kfp-chain decision", attributes)
