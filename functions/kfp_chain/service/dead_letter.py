"""The dead-letter function's core: what Knative gave up on, made visible where an operator looks.

Knative's delivery sends an event to the `deadLetterSink` once its retries are spent, adding the
extensions `knativeerrorcode` (the last HTTP status), `knativeerrordest` (who failed) and
`knativeerrordata` (the last response body, base64). The trigger function's 5xx body lists each
dependent it could not start (`outcome: retry`), so the letter usually names exactly which
RunConfigurations missed a run: each gets a Kubernetes Event `TriggerDeadLettered`; when the body
says nothing usable, the emitter gets it. A dead letter is always acknowledged once read: there is
nowhere further for it to go, and refusing it would only make the broker drop it silently.

A dead letter is not a lost run any more: the triggers it names stay pending, and reconcile (the
PingSource, every minute) starts them while the dead-lettered run is still the upstream's latest
success. The log line and the Event say exactly that, so an operator knows whether to act.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import from_http

from ..errors import InvalidEvent
from ..intake import check_nesting, decode_json
from ..outcomes import OutcomeKind
from ..runconfiguration import RcKey, nonempty

__all__ = ["DeadLetter", "handle_dead_letter", "parse_dead_letter"]

log = logging.getLogger("kfp_chain.dead_letter")

EventWriter = Callable[[RcKey, str, str], None]  # (involved RunConfiguration, reason, message)
REASON = "TriggerDeadLettered"


@dataclass(frozen=True)
class DeadLetter:
    event_id: str | None
    event_type: str | None
    source: str | None
    error_code: str | None
    error_destination: str | None
    error_data: str | None
    emitter: RcKey | None
    run_id: str | None
    missed: tuple[RcKey, ...]  # dependents the last answer said were not started

    @property
    def involved(self) -> tuple[RcKey, ...]:
        if self.missed:
            return self.missed
        return (self.emitter,) if self.emitter else ()


def parse_dead_letter(headers: Mapping[str, str], body: bytes, max_body_bytes: int = 1 << 20) -> DeadLetter:
    if len(body) > max_body_bytes:
        raise InvalidEvent(f"body of {len(body)} bytes exceeds the {max_body_bytes}-byte limit", status=413)
    check_nesting(body, "body")  # the SDK decodes it with the json module
    try:
        event = from_http({k.lower(): v for k, v in headers.items()}, body)
    except (GenericException, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"a dead letter must be a CloudEvent: {exc}", field="cloudevent") from exc
    attributes = event.get_attributes()
    data = event.get_data()
    if isinstance(data, bytes | str):
        try:
            data = decode_json(data.encode() if isinstance(data, str) else data, "data")
        except InvalidEvent:
            data = None
    data = data if isinstance(data, Mapping) else {}
    error_data = _decode(attributes.get("knativeerrordata"))
    return DeadLetter(
        event_id=nonempty(attributes.get("id")),
        event_type=nonempty(attributes.get("type")),
        source=nonempty(attributes.get("source")),
        error_code=nonempty(attributes.get("knativeerrorcode")),
        error_destination=nonempty(attributes.get("knativeerrordest")),
        error_data=error_data,
        emitter=_key(data.get("runConfigurationName")),
        run_id=nonempty(data.get("runId")),
        missed=_missed(error_data),
    )


def handle_dead_letter(letter: DeadLetter, write_event: EventWriter | None) -> dict[str, Any]:
    """Logs the letter as one structured line and records an Event on each RunConfiguration involved."""
    fields = {
        "eventId": letter.event_id,
        "eventType": letter.event_type,
        "source": letter.source,
        "errorCode": letter.error_code,
        "errorDestination": letter.error_destination,
        "emitter": str(letter.emitter) if letter.emitter else None,
        "upstreamRunId": letter.run_id,
        "missed": [str(k) for k in letter.missed] or None,
        "pending": [pending_trigger(letter, k) for k in letter.missed] or None,
        "recovery": RECOVERY,
        "errorData": (letter.error_data or "")[:512] or None,
    }
    log.error(
        "event dead-lettered: its retries are spent; its triggers stay pending for reconcile",
        extra={k: v for k, v in fields.items() if v},
    )
    recorded = []
    for key in letter.involved:
        pending = f"pending: {pending_trigger(letter, key)}; " if key in letter.missed else ""
        message = (
            f"the broker gave up delivering {letter.emitter or 'an event'} run {letter.run_id or '?'} "
            f"(last answer HTTP {letter.error_code or '?'} from {letter.error_destination or '?'}); "
            f"{pending}{RECOVERY}"
        )
        if write_event is not None:
            write_event(key, REASON, message)
            recorded.append(str(key))
    return {"deadLettered": letter.event_id, "recordedOn": recorded}


RECOVERY = (
    "reconcile starts it within a minute or two while that run is still the upstream's latest success "
    "(`kfp-chain reconcile --dry-run` shows it); an older run is not replayed: resend its event to start it"
)


def pending_trigger(letter: DeadLetter, dependent: RcKey) -> str:
    return f"{dependent} <- {letter.emitter or '?'} run {letter.run_id or '?'}"


def _key(value: Any) -> RcKey | None:
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    try:
        return RcKey.parse(value)
    except ValueError:
        return None


def _decode(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return value  # some senders put the text itself


def _missed(error_data: str | None) -> tuple[RcKey, ...]:
    if not error_data:
        return ()
    try:
        body = decode_json(error_data.encode(), "knativeerrordata")
    except InvalidEvent:
        return ()
    dependents = body.get("dependents") if isinstance(body, dict) else None
    keys = []
    for entry in dependents if isinstance(dependents, list) else ():
        if isinstance(entry, dict) and entry.get("outcome") == OutcomeKind.RETRY:
            key = _key(entry.get("dependent"))
            if key is not None:
                keys.append(key)
    return tuple(keys)
