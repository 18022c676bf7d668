"""The one place where the Kubernetes API's answers become kfp-chain's errors.

Every call to the API runs inside `kubernetes_errors(what)`, like kopf's `check_response`: the
caller then deals only in kfp-chain's errors, and decides on a 404 or a 409 by catching `NotFound`
or `Conflict` rather than by reading HTTP statuses. What each status means for an event:

- no answer, 429, 5xx: `BackendUnavailable`, the broker retries;
- 401, 403, 422: `DeploymentFault`, kfp-chain's service account or the CRD it writes needs fixing
  (none is the event's fault, so none may become a skip), retried and counted;
- 404, 409, 410: `NotFound`, `Conflict`, `Gone`, which the adapters turn into decisions;
- any other 4xx: `RejectedByBackend`, permanent for this dependent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import urllib3
from kubernetes.client.exceptions import ApiException

from ...errors import BackendUnavailable, DeploymentFault, RejectedByBackend

__all__ = ["DEPLOYMENT_STATUSES", "Conflict", "Gone", "NotFound", "kubernetes_errors"]

DEPLOYMENT_STATUSES = (401, 403, 422)


class NotFound(RejectedByBackend):
    """404: the object (or its namespace) does not exist."""


class Conflict(RejectedByBackend):
    """409: a resourceVersion precondition failed, someone wrote first."""


class Gone(RejectedByBackend):
    """410: a watch's resourceVersion is too old to resume from; relist."""


_BY_STATUS: dict[int, type[RejectedByBackend]] = {404: NotFound, 409: Conflict, 410: Gone}


@contextmanager
def kubernetes_errors(what: str) -> Iterator[None]:
    """Translates the `kubernetes` client's exceptions raised by `what` (see the module's docstring)."""
    try:
        yield
    except ApiException as exc:
        status = int(exc.status or 0)
        message = f"Kubernetes API {what}: HTTP {status} {exc.reason}"
        if status in (0, 429) or status >= 500:
            raise BackendUnavailable(message) from exc
        if status in DEPLOYMENT_STATUSES:
            raise DeploymentFault(
                f"{message}: kfp-chain's service account or the CRD it writes needs fixing",
                "kubernetes",
                status,
            ) from exc
        raise _BY_STATUS.get(status, RejectedByBackend)(message, status) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise BackendUnavailable(f"Kubernetes API {what}: {type(exc).__name__}: {exc}") from exc
