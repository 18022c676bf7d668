"""Entry points of the deployable functions (functions-framework HTTP targets).

    functions-framework --source functions/main.py --target on_run_completion
    functions-framework --source functions/main.py --target on_dead_letter
    functions-framework --source functions/main.py --target on_reconcile
    functions-framework --source functions/main.py --target on_kfp_poll

HTTP functions rather than `@cloud_event` ones, because the same endpoint must also take the plain
JSON body an Argo Events sensor posts; the cloudevents SDK still decodes binary and structured
mode (in `kfp_chain.intake`). No logic lives here: route, call the core, answer.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

import flask
import functions_framework
import orjson
from kfp_chain.errors import ConfigurationError
from kfp_chain.observability.metrics import CONTENT_TYPE_LATEST
from kfp_chain.service.app import (
    App,
    DeadLetterApp,
    PollApp,
    build_app,
    build_dead_letter_app,
    build_poll_app,
    build_reconcile_app,
    configure,
    poll_pass,
    reconcile_pass,
    respond,
    respond_dead_letter,
)
from kfp_chain.service.auth import Authenticator, check_sender
from kfp_chain.service.probes import check_start_up, reconcile_readiness
from kfp_chain.settings import Settings

_app: App | None = None
_dead_letter: DeadLetterApp | None = None
_reconcile: App | None = None
_poll: PollApp | None = None
_pid = os.getpid()
_lock = threading.Lock()


def get_app() -> App:
    """This process's App, built on first use.

    Per process: gunicorn imports this module in its master and forks the workers, and threads
    (the watch index, the local runner) do not survive a fork.
    """
    global _app, _pid
    app = _app
    if app is not None and _pid == os.getpid():
        return app  # every request asks: no lock once built
    with _lock:
        if _app is None or _pid != os.getpid():
            settings = Settings.from_env()
            configure(settings)
            _app, _pid = build_app(settings), os.getpid()
            atexit.register(_app.close)  # gunicorn lets in-flight requests finish on SIGTERM, then exits
        return _app


def get_dead_letter_app() -> DeadLetterApp:
    global _dead_letter
    with _lock:
        if _dead_letter is None:
            settings = Settings.from_env()
            configure(settings)
            _dead_letter = build_dead_letter_app(settings)
        return _dead_letter


def get_reconcile_app() -> App:
    global _reconcile
    with _lock:
        if _reconcile is None:
            settings = Settings.from_env()
            configure(settings)
            _reconcile = build_reconcile_app(settings)
            atexit.register(_reconcile.close)
        return _reconcile


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> flask.Response:
    # orjson: an answer is on every event's path, and most events (nothing depends on them) do little else
    return flask.Response(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def _refused(
    request: flask.Request, headers: dict[str, str], senders: Authenticator | None
) -> flask.Response | None:
    """The answer to a request no target acts on (not a POST, or a sender not allowed), else None."""
    if request.method != "POST":
        return _json(405, {"error": "method-not-allowed"})
    refused = check_sender(senders, headers)
    return None if refused is None else _json(*refused)


def _configuration_error_in_one_line(kind: type[BaseException], exc: BaseException, tb: object) -> None:
    """A bad setting that stops the server is one line and exit status 2, not a traceback.

    The error still propagates as `ConfigurationError` to whoever imports this module (tests,
    functions-framework's `create_app`); only when nothing catches it does this print it.
    """
    if isinstance(exc, ConfigurationError):
        sys.stderr.write(f"kfp-chain: {exc}\n")
        sys.stderr.flush()
        os._exit(2)
    _previous_excepthook(kind, exc, tb)  # type: ignore[arg-type]


_previous_excepthook = sys.excepthook
sys.excepthook = _configuration_error_in_one_line

# At start-up, so that a bad setting stops the server with its message rather than failing events.
check_start_up(Settings.from_env())


@functions_framework.http  # type: ignore[untyped-decorator]
def on_run_completion(request: flask.Request) -> flask.Response:
    if request.method == "GET" and request.path in ("/healthz", "/"):
        return _json(200, {"ok": True})  # alive: the process answers, whatever its backends do
    app = get_app()
    if request.method == "GET":
        if request.path == "/readyz":
            ready, body = app.readiness()
            return _json(200 if ready else 503, body)
        if request.path == "/metrics":
            return flask.Response(app.metrics.exposition(), status=200, content_type=CONTENT_TYPE_LATEST)
        return _json(404, {"error": "not-found"})
    headers = dict(request.headers)
    if (refused := _refused(request, headers, app.senders)) is not None:
        return refused
    status, body = respond(app, headers, request.get_data(cache=False))
    return _json(status, body)


@functions_framework.http  # type: ignore[untyped-decorator]
def on_dead_letter(request: flask.Request) -> flask.Response:
    dead_letter = get_dead_letter_app()
    if request.method == "GET":
        if request.path == "/metrics":
            return flask.Response(
                dead_letter.metrics.exposition(), status=200, content_type=CONTENT_TYPE_LATEST
            )
        return _json(200, {"ready": True} if request.path == "/readyz" else {"ok": True})
    headers = dict(request.headers)
    if (refused := _refused(request, headers, dead_letter.senders)) is not None:
        return refused
    status, body = respond_dead_letter(dead_letter, headers, request.get_data(cache=False))
    return _json(status, body)


@functions_framework.http  # type: ignore[untyped-decorator]
def on_reconcile(request: flask.Request) -> flask.Response:
    """One reconcile pass per POST (a Knative PingSource's tick; its body is not read)."""
    app = get_reconcile_app()
    if request.method == "GET":
        if request.path == "/metrics":
            return flask.Response(app.metrics.exposition(), status=200, content_type=CONTENT_TYPE_LATEST)
        if request.path == "/readyz":
            ready, body = reconcile_readiness(app)
            return _json(200 if ready else 503, body)
        return _json(200, {"ok": True})
    if (refused := _refused(request, dict(request.headers), app.senders)) is not None:
        return refused
    status, body = reconcile_pass(app)
    return _json(status, body)


def get_poll_app() -> PollApp:
    global _poll
    with _lock:
        if _poll is None:
            settings = Settings.from_env()
            configure(settings)
            _poll = build_poll_app(settings)
            atexit.register(_poll.app.close)
        return _poll


@functions_framework.http  # type: ignore[untyped-decorator]
def on_kfp_poll(request: flask.Request) -> flask.Response:
    """One poll pass of plain KFP per POST (a Knative PingSource's tick; its body is not read)."""
    poll = get_poll_app()
    if request.method == "GET":
        if request.path == "/metrics":
            return flask.Response(poll.app.metrics.exposition(), status=200, content_type=CONTENT_TYPE_LATEST)
        return _json(200, {"ok": True})
    if (refused := _refused(request, dict(request.headers), poll.app.senders)) is not None:
        return refused
    status, body = poll_pass(poll)
    return _json(status, body)
