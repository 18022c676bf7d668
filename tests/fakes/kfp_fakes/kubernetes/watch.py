"""Watch (`?watch=true`): chunked JSON lines replayed from the store's history, as the watch cache does.

Where it sits: `custom.py` hands a list request that asks to watch to `watch()`, which answers a
streamed `Response`. `resourceVersion` unset or "0" starts with ADDED for what exists; one older than
the kept history is a single ERROR event with a 410 Expired Status. `allowWatchBookmarks` sends a
BOOKMARK every `bookmark_interval` seconds (each recorded in `bookmarks_sent`); `timeoutSeconds` ends
the stream cleanly; `drop_watches()` on the server cuts it (or ends it cleanly, `graceful=True`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from kfp_fakes.http import DropConnection, Request, Response
from kfp_fakes.kubernetes.errors import ApiError, status_body
from kfp_fakes.kubernetes.resources import ResourceType
from kfp_fakes.kubernetes.storage import Event, Store, Watcher

__all__ = ["watch"]

Selected = Callable[[dict[str, Any] | None], bool]


def _flag(request: Request, name: str) -> bool:
    return request.arg(name) in ("true", "1", "True")


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def _gone(rv: int, oldest: int) -> bytes:
    return _line("ERROR", status_body(410, "Expired", f"too old resource version: {rv} ({oldest})"))


def watch(
    store: Store,
    request: Request,
    rt: ResourceType,
    version: str,
    selected: Selected,
    out: Callable[[dict[str, Any]], dict[str, Any]],
    bookmark_interval: float,
    bookmarks_sent: list[int],
) -> Response:
    """`out` turns a stored object into the URL's version; `selected` says which objects the watch sees."""
    rv_arg = request.arg("resourceVersion") or ""
    timeout = float(request.arg("timeoutSeconds") or 0)
    bookmarks = _flag(request, "allowWatchBookmarks")

    def bookmark(rv: int) -> bytes:
        meta = {"resourceVersion": str(rv)}
        return _line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta})

    def translate(event: Event) -> list[bytes]:
        now_in, was_in = selected(event.obj), selected(event.old)
        if event.type == "DELETED":
            return [_line("DELETED", out(event.obj))] if was_in or now_in else []
        return [_line(event.type, out(event.obj))] if now_in else []

    with store.cond:
        if rv_arg in ("", "0"):
            snap = store.snapshot(rt)
            initial = [out(o) for o in snap.objs if selected(o)]
            cursor = store.rv
        else:
            try:
                cursor = int(rv_arg)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid resource version: {rv_arg!r}") from None
            if cursor < store.compacted(rt):
                return Response(200, stream=iter([_gone(cursor, store.compacted(rt) + 1)]))
            initial = []
        watcher = Watcher()
        store.watchers.add(watcher)
        store.cond.notify_all()

    def stream() -> Iterator[bytes]:
        nonlocal cursor
        try:
            for obj in initial:
                yield _line("ADDED", obj)
            now = time.monotonic()
            deadline = now + timeout if timeout > 0 else None
            next_bookmark = now + bookmark_interval if bookmarks else None
            while True:
                lines: list[bytes] = []
                finish = False
                with store.cond:
                    while True:
                        if watcher.dropped:
                            raise DropConnection
                        if watcher.ended or store.closing:
                            finish = True
                            break
                        if cursor < store.compacted(rt):  # fell behind the kept history
                            lines.append(_gone(cursor, store.compacted(rt) + 1))
                            finish = True
                            break
                        for event in store.history_after(rt, cursor):
                            lines.extend(translate(event))
                            cursor = event.rv
                        if lines:
                            break
                        now = time.monotonic()
                        if deadline is not None and now >= deadline:
                            finish = True
                            break
                        if next_bookmark is not None and now >= next_bookmark:
                            cursor = max(cursor, store.rv)
                            lines.append(bookmark(cursor))
                            bookmarks_sent.append(cursor)
                            next_bookmark = now + bookmark_interval
                            break
                        waits = [t - now for t in (deadline, next_bookmark) if t is not None]
                        store.cond.wait(min(waits) if waits else None)
                yield from lines  # written to the socket outside the lock
                if finish:
                    return
        finally:
            with store.cond:
                store.watchers.discard(watcher)

    return Response(200, stream=stream())
