"""`kfp-chain send`: post a run-completion CloudEvent to a URL, as kfp-operator's event source would.

Where it sits: in front of the function (or a broker), never in its request path. The event comes
from `completion_event`, the one builder of kfp-operator's run-completion event; it is checked
with the function's own `intake.parse_data` first, so what the function would refuse with 400 is
refused here without being sent.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import click

from ..completion_event import Encoding, encode, run_completion_data, run_completion_event
from ..errors import InvalidEvent
from ..intake import RunStatus, parse_data
from ..runconfiguration import Artifact
from .terminal import emit_json

__all__ = ["send_event"]


def send_event(
    url: str,
    *,
    status: RunStatus,
    rc: str,
    artifacts: tuple[Artifact, ...],
    mode: Encoding,
    run_id: str | None,
    run_name: str | None,
    pipeline: str | None,
    source: str,
    traceparent: str | None,
    timeout: float,
    output: str,
) -> int:
    """Builds, checks and posts the event, shows the answer; exit status 1 when it is not 2xx."""
    _check_url(url)
    data = run_completion_data(
        rc,
        run_id or str(uuid.uuid4()),
        status=status,
        pipeline=pipeline or "",
        run_name=run_name or "",
        artifacts=artifacts,
        run_end_time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    try:
        parse_data(data)  # refuse here what the function would refuse with 400
    except InvalidEvent as exc:
        raise click.BadParameter(str(exc)) from exc
    event = run_completion_event(data, source=source, traceparent=traceparent)
    code, text = _post(url, *encode(event, mode), timeout=timeout)
    if output == "json":
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        emit_json({"status": code, "eventId": event["id"], "runId": data["runId"], "body": parsed})
    else:
        click.echo(f"{code} {event['id']} runId={data['runId']}")
        click.echo(text)
    return 0 if 200 <= code < 300 else 1


def _check_url(url: str) -> None:
    try:
        target = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="URL") from exc
    if target.scheme not in ("http", "https") or not target.netloc:
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="URL")


def _post(url: str, headers: dict[str, str], body: bytes, timeout: float) -> tuple[int, str]:
    """The answer's status and text, 4xx and 5xx included; the URL unreachable: one clear error."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            code, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, answer = exc.code, exc.read()
    except http.client.InvalidURL as exc:  # spaces or control characters: the URL, not the server
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="URL") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise click.ClickException(f"POST {url}: {exc}") from exc
    return code, answer.decode(errors="replace")
