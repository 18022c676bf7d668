"""The built-in APIs the code under test calls besides its custom resources.

- core/v1 Events are served by the resource machinery of `custom.py` (type `CORE_EVENTS`, no schema);
  this module adds legacyValidateEvent's namespace rule (`event_errors`).
- `authentication.k8s.io/v1` TokenReview, a create-only virtual resource that stores nothing. The fake
  decides by a table of tokens the test registers (`fake.tokens.issue(...)`: user, audiences, expiry),
  not by signatures, and answers like kube-apiserver: 201 with the request's spec echoed back (token
  included) and `status.authenticated`, `status.user`, `status.audiences` (the intersection of the
  token's and the requested audiences; the server's own audiences when none are requested), or
  `status.error` when it does not authenticate. The caller is checked only when the test asks: with
  `tokens.callers` set, an unknown caller token gets 401 and a known caller whose username is not in
  `tokens.reviewers` gets 403, as RBAC would answer without `create tokenreviews`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kfp_fakes.http import Request, Response
from kfp_fakes.kubernetes.errors import ApiError, Cause

__all__ = ["API_SERVER_AUDIENCE", "TOKEN_REVIEW_PATH", "TokenTable", "event_errors", "token_review_handler"]

API_SERVER_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


def event_errors(obj: dict[str, Any]) -> list[Cause]:
    """legacyValidateEvent's namespace rule for core/v1 Events.

    An Event without eventTime must name an involved object of its own namespace (or none, when the
    Event is in "default"); with eventTime, an involved object without a namespace is only allowed
    for Events in "default" or "kube-system".
    """
    involved = obj.get("involvedObject") or {}
    theirs = involved.get("namespace") or "" if isinstance(involved, dict) else ""
    ours = obj["metadata"].get("namespace") or ""
    if obj.get("eventTime"):
        bad = not theirs and ours not in ("default", "kube-system")
    else:
        bad = (not theirs and ours not in ("", "default")) or (bool(theirs) and theirs != ours)
    if not bad:
        return []
    return [
        (
            "FieldValueInvalid",
            "involvedObject.namespace",
            f'Invalid value: "{theirs}": does not match event.namespace',
        )
    ]


@dataclass(frozen=True)
class TokenEntry:
    username: str
    audiences: tuple[str, ...]
    expires_at: float | None  # epoch seconds; None = never (a legacy Secret token)
    groups: tuple[str, ...] = ()
    uid: str = ""


class TokenTable:
    """The tokens the fake API server knows, and who may ask it about them."""

    def __init__(self, api_audiences: tuple[str, ...] = (API_SERVER_AUDIENCE,)) -> None:
        self.api_audiences = api_audiences
        self.callers: dict[str, str] | None = None  # caller bearer token -> username; None: no caller auth
        self.reviewers: set[str] = set()  # usernames RBAC lets create tokenreviews
        # False plays an authenticator that does not support audiences (e.g. some webhooks): it
        # authenticates whatever the audience and leaves status.audiences out, as the API allows.
        self.audience_aware = True
        self._tokens: dict[str, TokenEntry] = {}
        self._lock = threading.Lock()

    def register(
        self,
        token: str,
        username: str,
        audiences: Iterable[str] = (API_SERVER_AUDIENCE,),
        expires_at: float | None = None,
        groups: Iterable[str] = (),
    ) -> str:
        entry = TokenEntry(username, tuple(audiences), expires_at, tuple(groups), str(uuid.uuid4()))
        with self._lock:
            self._tokens[token] = entry
        return token

    def issue(
        self,
        username: str,
        audiences: Iterable[str] = (API_SERVER_AUDIENCE,),
        expires_in: float | None = 3600.0,
        groups: Iterable[str] = (),
    ) -> str:
        """A JWT-shaped token (the payload carries `aud`, `sub`, `exp` as a real one does), registered."""
        audiences = tuple(audiences)
        now = time.time()
        expires_at = None if expires_in is None else now + expires_in
        claims: dict[str, Any] = {
            "aud": list(audiences),
            "sub": username,
            "iat": int(now),
            "iss": API_SERVER_AUDIENCE,
        }
        if expires_at is not None:
            claims["exp"] = int(expires_at)

        def part(value: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        signature = base64.urlsafe_b64encode(uuid.uuid4().bytes * 8).rstrip(b"=").decode()
        token = f"{part({'alg': 'RS256', 'kid': 'fake'})}.{part(claims)}.{signature}"
        return self.register(token, username, audiences, expires_at, groups)

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def authorize(self, request: Request) -> None:
        """401/403 for a caller without rights, when the test models callers at all."""
        if self.callers is None:
            return
        header = request.headers.get("authorization", "")
        caller = self.callers.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if caller is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if caller not in self.reviewers:
            raise ApiError(
                403,
                "Forbidden",
                f'tokenreviews.authentication.k8s.io is forbidden: User "{caller}" cannot create resource '
                '"tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
                {"group": "authentication.k8s.io", "kind": "tokenreviews"},
            )

    def status(self, token: str, requested: list[str]) -> dict[str, Any]:
        with self._lock:
            entry = self._tokens.get(token)
        wanted = tuple(requested) or self.api_audiences
        if entry is None:
            return {
                "user": {},
                "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive]",
            }
        if entry.expires_at is not None and entry.expires_at <= time.time():
            return {"user": {}, "error": "[invalid bearer token, service account token has expired]"}
        common = [a for a in wanted if a in entry.audiences]
        if not self.audience_aware:
            return {"authenticated": True, "user": {"username": entry.username, "uid": entry.uid}}
        if not common:
            return {
                "user": {},
                "error": f"[invalid bearer token, token audiences {list(entry.audiences)} is invalid for the "
                f"target audiences {list(wanted)}]",
            }
        user: dict[str, Any] = {"username": entry.username, "uid": entry.uid}
        if entry.groups:
            user["groups"] = list(entry.groups)
        status: dict[str, Any] = {"authenticated": True, "user": user}
        if requested:  # the server answers audiences only when they were asked for
            status["audiences"] = common
        return status


def token_review_handler(
    tokens: TokenTable, body_of: Callable[[Request], Any]
) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        tokens.authorize(request)
        body = body_of(request)
        if not isinstance(body, dict) or body.get("kind", "TokenReview") != "TokenReview":
            raise ApiError(400, "BadRequest", "the body of the request was not a TokenReview")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise ApiError(400, "BadRequest", "token is required for TokenReview in authentication")
        audiences = spec.get("audiences") or []
        answer = {
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": tokens.status(token, [str(a) for a in audiences]),
        }
        return Response(201, answer)

    return handle
