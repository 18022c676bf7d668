"""A fake of ML Metadata's gRPC server: the four RPCs kfp-chain calls, over real gRPC on loopback.

Where it sits: tests start a `FakeMlmd`, write runs into it with `record_run` (store.py writes them
the way KFP does), point the real `MlmdArtifactResolver(fake.address, timeout)` at it and read back
what was asked with `calls()`. Served on `ml_metadata.MetadataStoreService`, with MLMD's semantics
(PLAIN-KFP-FACTS.md §3):

- `GetContextByTypeAndName`: OK with `context` unset when the type or the name is unknown;
- `GetExecutionsByContext`: without `options` every execution in one page; with `options` at
  most `max_result_size` (default 20, capped at 100) and a `next_page_token`;
- `GetEventsByExecutionIDs`: every event of those executions (unknown ids: none);
- `GetArtifactsByID`: the artifacts that exist, by id, unknown ids left out (not index-aligned).
Any other method is UNIMPLEMENTED, as gRPC answers for a method no handler serves.

Faults (`fake.faults.add(path=<method regex>, mode=..., times=N)`, the injector the HTTP fakes
use; `path` is matched against `/ml_metadata.MetadataStoreService/<Method>`):
- mode "status": answer the gRPC code `status` (14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 16
  UNAUTHENTICATED, ...) without reading the store;
- mode "delay": wait `delay` seconds first (longer than a client's deadline: DEADLINE_EXCEEDED);
- mode "hold": wait for `fault.release()`;
- mode "unknown": `GetContextByTypeAndName` answers as for a run MLMD has not heard of.
`times=N` heals the fault after N matching calls. `stop()` then `start()` restarts the server on the
same port, for a client whose channel has to reconnect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from kfp_fakes.faults import FaultInjector
from kfp_fakes.mlmd.store import DEFAULT_PIPELINE_ROOT, MlmdStore, RecordedRun, Task
from kfp_fakes.mlmd.wire import SERVICE, m

__all__ = ["FakeMlmd", "LoggedCall"]

_MAX_PAGE = 100
_DEFAULT_PAGE = 20


@dataclass(frozen=True)
class LoggedCall:
    method: str  # e.g. "GetContextByTypeAndName"
    request: Any  # the request as the fake parsed it (the fake's own message class)
    raw: bytes  # the request's bytes as they came over the wire
    peer: str  # the client's address ("ipv4:127.0.0.1:<port>"): one per connection


class FakeMlmd:
    """ML Metadata's gRPC server, in process; `address` is `127.0.0.1:<port>`."""

    def __init__(self, port: int = 0) -> None:
        self.store = MlmdStore()
        self.faults = FaultInjector()
        self._port = port
        self._server: grpc.Server | None = None
        self._stopping = threading.Event()
        self._log: list[LoggedCall] = []
        self._log_lock = threading.Lock()

    # -- what tests use -----------------------------------------------------------------
    def record_run(
        self,
        run_id: str,
        pipeline: str,
        tasks: Sequence[Task] = (),
        *,
        namespace: str = "kubeflow",
        pipeline_root: str = DEFAULT_PIPELINE_ROOT,
        root_outputs: Sequence[tuple[str, str]] = (),
    ) -> RecordedRun:
        """Writes `run_id` as KFP's driver and launcher would (see store.py)."""
        return self.store.record_run(
            run_id,
            pipeline,
            tasks,
            namespace=namespace,
            pipeline_root=pipeline_root,
            root_outputs=root_outputs,
        )

    def calls(self, method: str | None = None) -> list[LoggedCall]:
        with self._log_lock:
            return [c for c in self._log if method is None or c.method == method]

    @property
    def address(self) -> str:
        assert self._port, "server not started"
        return f"127.0.0.1:{self._port}"

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeMlmd:
        self._stopping.clear()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-mlmd"))
        server.add_generic_rpc_handlers((self._handlers(),))
        port = server.add_insecure_port(f"127.0.0.1:{self._port}")
        if not port:
            raise OSError(f"fake ML Metadata cannot bind 127.0.0.1:{self._port}")
        self._port = port
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stops serving (the port is kept for `start()`); delayed and held calls end at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop(grace=None).wait(10)
            self._server = None

    def __enter__(self) -> FakeMlmd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ------------------------------------------------------------------------
    def _handlers(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Any, Callable[[Any], Any]]] = {
            "GetContextByTypeAndName": (m.GetContextByTypeAndNameRequest, self._get_context),
            "GetExecutionsByContext": (m.GetExecutionsByContextRequest, self._get_executions),
            "GetEventsByExecutionIDs": (m.GetEventsByExecutionIDsRequest, self._get_events),
            "GetArtifactsByID": (m.GetArtifactsByIDRequest, self._get_artifacts),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    self._serving(name, kind, answer),
                    request_deserializer=lambda raw: raw,  # parsed in _serving, so the raw bytes are logged
                    response_serializer=lambda reply: reply.SerializeToString(),
                )
                for name, (kind, answer) in methods.items()
            },
        )

    def _serving(self, name: str, kind: Any, answer: Callable[[Any], Any]) -> Callable[[bytes, Any], Any]:
        def serve(raw: bytes, context: grpc.ServicerContext) -> Any:
            request = kind.FromString(raw)
            with self._log_lock:
                self._log.append(LoggedCall(name, request, raw, context.peer()))
            fault = self.faults.take("POST", f"/{SERVICE}/{name}")
            if fault is not None:
                if fault.mode == "status":
                    code = next(c for c in grpc.StatusCode if c.value[0] == fault.status)
                    context.abort(code, f"injected fault: {code.name}")
                elif fault.mode == "delay":
                    self._stopping.wait(fault.delay)
                elif fault.mode == "hold":
                    fault._hold()
                elif fault.mode == "unknown" and name == "GetContextByTypeAndName":
                    return m.GetContextByTypeAndNameResponse()
            with self.store.lock:
                return answer(request)

        return serve

    def _get_context(self, request: Any) -> Any:
        context = self.store.contexts.get((request.type_name, request.context_name))
        reply = m.GetContextByTypeAndNameResponse()
        if context is not None:
            reply.context.CopyFrom(context)
        return reply

    def _get_executions(self, request: Any) -> Any:
        ids = self.store.attributions.get(request.context_id, [])
        reply = m.GetExecutionsByContextResponse()
        if request.HasField("options"):
            size = (
                request.options.max_result_size
                if request.options.HasField("max_result_size")
                else _DEFAULT_PAGE
            )
            start = int(request.options.next_page_token or 0)
            end = start + min(max(size, 1), _MAX_PAGE)
            if end < len(ids):
                reply.next_page_token = str(end)
            ids = ids[start:end]
        reply.executions.extend(self.store.executions[i] for i in ids)
        return reply

    def _get_events(self, request: Any) -> Any:
        wanted = set(request.execution_ids)
        reply = m.GetEventsByExecutionIDsResponse()
        reply.events.extend(e for e in self.store.events if e.execution_id in wanted)
        return reply

    def _get_artifacts(self, request: Any) -> Any:
        reply = m.GetArtifactsByIDResponse()
        ids = sorted({i for i in request.artifact_ids if i in self.store.artifacts})
        reply.artifacts.extend(self.store.artifacts[i] for i in ids)
        return reply
