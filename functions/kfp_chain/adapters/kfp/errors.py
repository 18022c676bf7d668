"""The one place where KFP's answers become kfp-chain's errors.

Every call to KFP runs inside `kfp_errors(what)`, like kopf's `check_response` or httpx's
`map_httpcore_exceptions`: transport faults, timeouts, 429 and 5xx become `BackendUnavailable`
(the broker retries); 401/403 become `DeploymentFault` (also retried: an expired token is fixed by
the deployment, not by dropping the trigger); 404 becomes `UnknownPipeline` and other 4xx
`RejectedByBackend` (logged and acknowledged).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3

from ...errors import BackendUnavailable, DeploymentFault, RejectedByBackend, UnknownPipeline

__all__ = ["kfp_errors"]


@contextmanager
def kfp_errors(what: str, carries_spec: bool = False) -> Iterator[None]:
    """Translates the exceptions of the KFP call `what` (see the module's docstring).

    `carries_spec`: the request carries what a RunConfiguration says (the run's parameters), so a
    400 may be that RunConfiguration's fault and is acknowledged as a skip. Any other request is
    kfp-chain's own (lookups by name, experiments), and a 400 to it means the deployment is wrong:
    multi-user KFP without KFP_NAMESPACE answers exactly that.
    """
    from kfp_server_api.exceptions import ApiException  # on first use: the client is made lazily too

    try:
        yield
    except ApiException as exc:
        status = int(exc.status or 0)
        if status == 0 or status == 429 or status >= 500:
            raise BackendUnavailable(f"KFP: {what}: HTTP {status} {exc.reason}") from exc
        if status in (401, 403) or (status == 400 and not carries_spec):
            # Our token expired or lacks access, or KFP refuses a request only we shaped: the
            # deployment's fault, never the event's.
            raise DeploymentFault(
                f"KFP: {what}: HTTP {status} {_message(exc)}: kfp-chain's KFP credentials need fixing",
                "kfp",
                status,
            ) from exc
        if status == 404:
            raise UnknownPipeline(f"KFP: {what}: not found") from exc
        raise RejectedByBackend(f"KFP: {what}: HTTP {status} {_message(exc)}", status) from exc
    except (urllib3.exceptions.HTTPError, OSError, TimeoutError) as exc:
        raise BackendUnavailable(f"KFP: {what}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # e.g. get_pipeline_id with several pipelines of one name
        raise RejectedByBackend(f"KFP: {what}: {exc}") from exc


def _message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason)
    return str(body.get("message") or body.get("error") or exc.reason)
