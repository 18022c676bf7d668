"""Entry points of the deployable functions (functions-framework HTTP targets).

    functions-framework --source functions/main.py --target on_run_completion
    functions-framework --source functions/main.py --target on_dead_letter

HTTP functions rather than `@cloud_event` ones, because the same endpoint must also take the plain
JSON body an Argo Events sensor posts; the cloudevents SDK still decodes binary and structured
mode (in `kfp_chain.intake`). No logic lives here: route, call the core, answer.
"""

from __future__ import annotations

import threading

import flask
import functions_framework
from kfp_chain.app import App, build_app, configure, respond
from kfp_chain.metrics import CONTENT_TYPE_LATEST
from kfp_chain.settings import Settings

_app: App | None = None
_lock = threading.Lock()


def get_app() -> App:
    """The process's one App, built on first use (functions-framework imports this module early)."""
    global _app
    with _lock:
        if _app is None:
            settings = Settings.from_env()
            configure(settings)
            _app = build_app(settings)
        return _app


def _json(status: int, body: object) -> flask.Response:
    return flask.Response(flask.json.dumps(body), status=status, mimetype="application/json")


@functions_framework.http  # type: ignore[untyped-decorator]
def on_run_completion(request: flask.Request) -> flask.Response:
    app = get_app()
    if request.method == "GET":
        if request.path == "/readyz":
            ready = app.ready()
            return _json(200 if ready else 503, {"ready": ready})
        if request.path in ("/healthz", "/"):
            return _json(200, {"ok": True})
        if request.path == "/metrics":
            return flask.Response(app.metrics.exposition(), status=200, content_type=CONTENT_TYPE_LATEST)
        return _json(404, {"error": "not-found"})
    if request.method != "POST":
        return _json(405, {"error": "method-not-allowed"})
    status, body = respond(app, dict(request.headers), request.get_data(cache=False))
    return _json(status, body)
