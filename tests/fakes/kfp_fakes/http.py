"""The HTTP plumbing shared by the two fakes: a threaded loopback server with routes.

The Kubernetes and KFP fakes are real HTTP servers on loopback so that the real
`kubernetes` client and the real `kfp.Client` talk to them exactly as they talk to a
cluster. This module gives them routing, JSON and chunked streaming (watch), a request
log (to count API calls per event) and the hook where `faults.py` misbehaves on purpose
(status codes, delays, dropped connections, "commit then fail").
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kfp_fakes.faults import FaultInjector

__all__ = ["DropConnection", "FakeServer", "LoggedRequest", "Request", "Response", "Route"]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None  # chunked body, e.g. a watch


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, e.g. "content-type"


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class DropConnection(Exception):
    """Raise from a handler or a streamed body to close the connection without a (complete) answer."""


_Dropped = DropConnection


class FakeServer:
    """A threaded loopback HTTP server with routes; subclasses register handlers."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults = FaultInjector()
        self.requests: list[LoggedRequest] = []
        self._routes: list[Route] = []
        self._log_lock = threading.Lock()
        self._host, self._port = host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routing ---------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append(Route(method, re.compile(f"^{pattern}$"), handler))

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for route in self._routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            allowed = True
            if route.method == request.method:
                request.params = match.groupdict()
                return route.handler(request)
        return self.not_found(request, method_not_allowed=allowed)

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        status = 405 if method_not_allowed else 404
        return Response(status, {"error": f"no route for {request.method} {request.path}"})

    def fault_response(self, status: int, committed: bool) -> Response:
        """The answer of an injected fault; subclasses return their API's error body."""
        message = "injected fault after commit" if committed else "injected fault"
        return Response(status, {"error": message, "code": status})

    # -- lifecycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, every answer waits ~40 ms for an ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = _HTTPServer((self._host, self._port), _Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Requests seen so far, optionally filtered by method and a path regex."""
        with self._log_lock:
            logged = list(self.requests)
        return [
            r
            for r in logged
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        ]

    def reset_log(self) -> None:
        with self._log_lock:
            self.requests.clear()

    # -- one request -----------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        request = Request(
            method=h.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        fault = self.faults.take(request.method, request.path)
        status = 0
        logged = False
        try:
            if fault is not None and fault.mode == "delay":
                time.sleep(fault.delay)
                fault = None
            if fault is not None and fault.mode == "hold":
                fault._hold()
                fault = None
            if fault is not None and fault.mode == "drop":
                raise _Dropped
            if fault is not None and fault.mode == "status":
                response = self.fault_response(fault.status, committed=False)
            else:
                try:
                    response = self.dispatch(request)
                except _Dropped:
                    raise
                except Exception as exc:  # a bug in a fake must be visible, not a hang
                    response = Response(500, {"error": f"fake crashed: {exc!r}"})
                if fault is not None and fault.mode == "after":
                    if fault.status == 0:
                        raise _Dropped
                    response = self.fault_response(fault.status, committed=True)
            status = response.status
            self._log(request, status)
            logged = True
            self._write(h, response)
        except (_Dropped, BrokenPipeError, ConnectionResetError):
            if not logged:  # before the socket closes, so a client that saw the drop sees the request
                self._log(request, status)
                logged = True
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(2)
        finally:
            if not logged:
                self._log(request, status)

    def _log(self, request: Request, status: int) -> None:
        # Logged before the answer is written, so a client that has its answer sees its request here.
        with self._log_lock:
            self.requests.append(
                LoggedRequest(request.method, request.path, request.query, status, request.headers)
            )

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, response: Response) -> None:
        h.send_response(response.status)
        for key, value in response.headers.items():
            h.send_header(key, value)
        if response.stream is not None:
            h.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for chunk in _iter(response.stream):
                h.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
            return
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        if "Content-Type" not in response.headers:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)


class _HTTPServer(ThreadingHTTPServer):
    # Many client threads connect at once in load tests; the default backlog of 5 resets connections.
    request_queue_size = 128
    daemon_threads = True


def _iter(stream: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in stream:
        if chunk:
            yield chunk
