"""Who sent a request, as the API server tells: `authentication.k8s.io/v1` TokenReviews."""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes import client as k8s

from ...errors import BackendUnavailable, DeploymentFault, KfpChainError
from ..ports import Review
from .errors import kubernetes_errors

__all__ = ["KubernetesTokenReviewer"]

log = logging.getLogger("kfp_chain.auth")


class KubernetesTokenReviewer:
    """`authentication.k8s.io/v1` TokenReview through the `kubernetes` client (RBAC: tokenreviews create).

    Any failure to get an answer is `BackendUnavailable` (503), because it says nothing about the
    sender; our own credentials refused (401/403) is a `DeploymentFault`. No error carries the
    API's answer along (`from None`): a TokenReview echoes the token it was asked about.
    """

    def __init__(self, api_client: k8s.ApiClient, timeout: tuple[float, float] = (5.0, 15.0)) -> None:
        self._api = k8s.AuthenticationV1Api(api_client)
        self._timeout = timeout

    def review(self, token: str, audience: str) -> Review:
        body = k8s.V1TokenReview(
            api_version="authentication.k8s.io/v1",
            kind="TokenReview",
            spec=k8s.V1TokenReviewSpec(token=token, audiences=[audience]),
        )
        try:
            with kubernetes_errors("TokenReview"):
                # Unparsed: the answer echoes spec.token, and the client logs every parsed body at DEBUG.
                response = self._api.create_token_review(
                    body, _request_timeout=self._timeout, _preload_content=False
                )
            answer = json.loads(response.data)
        except DeploymentFault as exc:  # our credentials or RBAC: the deployment's fault, not the sender's
            log.error(
                "kfp-chain may not create TokenReviews: grant its ServiceAccount "
                "'create tokenreviews' (infra/base/rbac.yaml)",
                extra={"status": exc.status},
            )
            raise DeploymentFault(str(exc), exc.backend, exc.status) from None
        except KfpChainError as exc:
            raise BackendUnavailable(str(exc)) from None
        except ValueError:
            raise BackendUnavailable("TokenReview: the answer is not JSON") from None
        return _review(answer)


def _review(answer: Any) -> Review:
    """A TokenReview's status, read defensively: anything unexpected is simply not authenticated."""
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict):
        return Review(False, error="TokenReview answer without a status")
    user = status.get("user")
    username = user.get("username") if isinstance(user, dict) else None
    audiences = status.get("audiences")
    error = status.get("error")
    return Review(
        authenticated=status.get("authenticated") is True,
        username=username if isinstance(username, str) and username else None,
        audiences=tuple(a for a in audiences if isinstance(a, str)) if isinstance(audiences, list) else (),
        error=error if isinstance(error, str) and error else None,
    )
