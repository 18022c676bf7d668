"""The one place where ML Metadata's gRPC answers become kfp-chain's errors.

Every RPC of `resolver.py` runs inside `mlmd_errors(what)`, as every KFP call runs inside
`kfp_errors` and every Kubernetes call inside `kubernetes_errors`. What each status means for the
poll (no status ever becomes "the run has no artifacts": that would start a dependent without its
input, or skip it for good):

- UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN, CANCELLED,
  DATA_LOSS, or an error without a status: `BackendUnavailable`, retried on the next pass (MLMD
  restarting, its MySQL away, a slow answer, a connection torn down);
- UNAUTHENTICATED, PERMISSION_DENIED: `DeploymentFault` (a mesh policy or a proxy in front of
  MLMD refuses kfp-chain), retried and counted until the deployment is fixed;
- anything else (UNIMPLEMENTED: the address is not MLMD's; INVALID_ARGUMENT, NOT_FOUND, ...: a
  request only kfp-chain shaped was refused) is also a `DeploymentFault`. These are read-only
  lookups by a run id that KFP itself reported, so a refusal is never the run's or a
  RunConfiguration's fault and must not be acknowledged as a skip.

`DeploymentFault.status` carries the HTTP status gRPC gateways use for the code, so the metric and
the logs read the same as for the other backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from ...errors import BackendUnavailable, DeploymentFault

__all__ = ["mlmd_errors"]

_TEMPORARY = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DATA_LOSS,
    }
)

# The HTTP status a gRPC gateway answers for each code we turn into a DeploymentFault.
_HTTP_STATUS = {
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNIMPLEMENTED: 501,
}


@contextmanager
def mlmd_errors(what: str) -> Iterator[None]:
    """Translates the `grpc.RpcError` of the ML Metadata call `what` (see the module's docstring)."""
    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        name = code.name if code is not None else "no status"
        message = f"ML Metadata: {what}: {name} {details or ''}".rstrip()
        if code is None or code in _TEMPORARY:
            raise BackendUnavailable(message) from exc
        raise DeploymentFault(
            f"{message}: check KFP_CHAIN_MLMD_ADDRESS and what stands between kfp-chain and ML Metadata",
            "mlmd",
            _HTTP_STATUS.get(code, 400),
        ) from exc
