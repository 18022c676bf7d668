"""Sender authentication: only the senders an operator allows may start pipelines.

Where it sits: at the HTTP boundary of both functions, before intake reads the body
(`functions/main.py` calls `check_sender` once per POST). Off unless `KFP_CHAIN_AUTH=oidc`, so a
laptop setup keeps working. `GET /healthz`, `/readyz` and `/metrics` never reach it.

With it on, a POST must carry `Authorization: Bearer <token>`: the OIDC token Knative Eventing sends
for a Trigger's subscriber (feature flag `authentication-oidc`), or a service-account token the Argo
Events Sensor sends. The token is verified by the API server itself with a `TokenReview` whose
`spec.audiences` is `KFP_CHAIN_OIDC_AUDIENCE` (no JWT library, no key handling here):

- no token, a malformed one, one the API server does not authenticate (garbage, expired, revoked),
  or one whose `status.audiences` does not include ours            -> 401 `Unauthenticated`
- authenticated, but `status.user.username` is not in `KFP_CHAIN_ALLOWED_SENDERS` -> 403 `Forbidden`
- the TokenReview itself failed (API server 5xx, timeout, unreachable, or our own ServiceAccount may
  not create TokenReviews)                                          -> 503: a genuine event must be
  redelivered, never dead-lettered as if its sender were wrong.

Answers are cached by the token's SHA-256 (never the token itself) so that a burst of events is one
TokenReview: an authenticated one until shortly before the token's `exp` (read from the JWT payload
without trusting it for anything else; capped so that a revoked token is refused again within
`MAX_CACHE_SECONDS`), an unauthenticated one briefly, so a replayed bad token cannot make every
request a TokenReview. The cache holds at most `MAX_CACHE_ENTRIES` answers (least recently used go).

Refusals are logged and counted (`kfp_chain_requests_refused_total{code,reason}`) without the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..adapters.ports import Review, TokenReviewer
from ..errors import (
    ConfigurationError,
    DeploymentFault,
    Forbidden,
    Refused,
    TemporaryError,
    Unauthenticated,
)

if TYPE_CHECKING:
    from ..observability.metrics import Metrics
    from ..settings import Settings

__all__ = [
    "Authenticator",
    "Review",
    "ReviewCache",
    "TokenReviewer",
    "build_authenticator",
    "check_sender",
]

log = logging.getLogger("kfp_chain.auth")

MAX_TOKEN_CHARS = 16384
MAX_CACHE_ENTRIES = 4096
MAX_CACHE_SECONDS = 300.0  # how long a revoked (but unexpired) token may still be accepted
EXPIRY_MARGIN_SECONDS = 30.0  # stop trusting a cached answer this long before the token expires
NO_EXPIRY_CACHE_SECONDS = 60.0  # a token whose payload names no `exp`
NEGATIVE_CACHE_SECONDS = 10.0  # a token the API server refused
FLIGHT_WAIT_SECONDS = 30.0  # longest a request waits for the review another request has in flight

# A JWS in compact serialisation: three base64url parts. Anything else is refused without a review.
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class ReviewCache:
    """token digest -> (Review, monotonic deadline); bounded, least recently used evicted first."""

    def __init__(
        self, max_entries: int = MAX_CACHE_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, tuple[Review, float]] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, digest: str) -> Review | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[0]

    def put(self, digest: str, review: Review, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._entries[digest] = (review, self._clock() + seconds)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class _Flight:
    """One TokenReview in flight for a token: later requests with that token wait for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.review: Review | None = None
        self.error: TemporaryError | None = None


class Authenticator:
    """Decides who sent a request: the allowed username, or `Refused` / `TemporaryError`."""

    def __init__(
        self,
        reviewer: TokenReviewer,
        audience: str,
        allowed: tuple[str, ...],
        cache: ReviewCache | None = None,
        metrics: Metrics | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.reviewer = reviewer
        self.audience = audience
        self.allowed = frozenset(allowed)
        self.cache = cache if cache is not None else ReviewCache()
        self.metrics = metrics
        self._now = wall_clock
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()

    def authenticate(self, headers: Mapping[str, str]) -> str:
        token = bearer_token(headers)
        review = self._review(token)
        if not review.authenticated:
            # The API server's reason (expired, wrong audience, bad signature) is for the operator's log,
            # not for the sender; it never holds the token (see _review).
            log.info("TokenReview did not authenticate the token", extra={"reviewError": review.error})
            raise Unauthenticated("the bearer token is not valid", reason="invalid-token")
        if self.audience not in review.audiences:
            raise Unauthenticated(
                f"the bearer token is not issued for audience {self.audience!r}", reason="wrong-audience"
            )
        username = review.username or ""
        if username not in self.allowed:
            raise Forbidden(f"sender {username!r} is not allowed to send events here", reason="not-allowed")
        return username

    def _review(self, token: str) -> Review:
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        # One review in flight per token: a burst of first requests (a broker's parallel deliveries
        # with one fresh token) would otherwise send one TokenReview each before the first is cached.
        with self._flights_lock:
            flight = self._flights.get(digest)
            leading = flight is None
            if flight is None:
                flight = self._flights[digest] = _Flight()
        if not leading:
            self._count_review("shared")
            flight.done.wait(FLIGHT_WAIT_SECONDS)
            if flight.review is not None:
                return flight.review
            if flight.error is not None:
                raise flight.error
            return self._ask(token, digest)  # the review in flight outlived our patience: ask ourselves
        try:
            flight.review = self._ask(token, digest)
            return flight.review
        except TemporaryError as exc:
            flight.error = exc
            raise
        finally:
            with self._flights_lock:
                self._flights.pop(digest, None)
            flight.done.set()

    def _ask(self, token: str, digest: str) -> Review:
        try:
            review = self.reviewer.review(token, self.audience)
        except TemporaryError:
            self._count_review("error")
            raise
        self._count_review("authenticated" if review.authenticated else "unauthenticated")
        if review.error and token in review.error:  # never keep (or log) what an authenticator echoed
            review = Review(review.authenticated, review.username, review.audiences, "(withheld)")
        self.cache.put(digest, review, self._lifetime(token, review))
        return review

    def _lifetime(self, token: str, review: Review) -> float:
        if not review.authenticated:
            return NEGATIVE_CACHE_SECONDS
        expiry = token_expiry(token)
        if expiry is None:
            return NO_EXPIRY_CACHE_SECONDS
        return min(expiry - self._now() - EXPIRY_MARGIN_SECONDS, MAX_CACHE_SECONDS)

    def _count_review(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.token_reviews.labels(result).inc()


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of `Authorization: Bearer <token>`; `Unauthenticated` for anything else."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if value is None or not value.strip():
        raise Unauthenticated("no Authorization header: a bearer token is required", reason="missing-token")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", reason="malformed-token")
    if len(token) > MAX_TOKEN_CHARS or not _JWT.match(token):
        raise Unauthenticated("the bearer token is not a JSON Web Token", reason="malformed-token")
    return token


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT's payload, unverified: used for the cache lifetime and nothing else."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def check_sender(
    authenticator: Authenticator | None, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """None when the request may go on; otherwise the (status, body, headers) to answer. Never raises.

    The entry points call this before reading the body, so a refused request costs no parsing.
    """
    if authenticator is None:
        return None
    started = time.perf_counter()
    try:
        authenticator.authenticate(headers)
    except Refused as exc:
        log.warning(
            "request refused: %s", exc, extra={"status": exc.status, "reason": exc.reason}
        )  # the message names a sender at most, never the token
        _count(authenticator.metrics, exc.status, exc.reason, started)
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else {}
        return exc.status, exc.as_body(), challenge
    except TemporaryError as exc:
        log.warning("could not verify the sender, the broker will retry: %s", exc)
        _count(authenticator.metrics, 503, None, started)
        if isinstance(exc, DeploymentFault) and authenticator.metrics is not None:
            authenticator.metrics.deployment_faults.labels(exc.backend).inc()
        return 503, {"error": exc.reason, "message": f"could not verify the sender: {exc}"}, {}
    except Exception as exc:  # a bug must still answer, and a 5xx keeps the event
        log.exception("unexpected error while verifying the sender")
        _count(authenticator.metrics, 500, None, started)
        return 500, {"error": "internal", "message": type(exc).__name__}, {}
    return None


def _count(metrics: Metrics | None, status: int, reason: str | None, started: float) -> None:
    if metrics is None:
        return
    if reason is not None:
        metrics.refused.labels(str(status), reason).inc()
    metrics.observe_request(None, status, time.perf_counter() - started)


def build_authenticator(settings: Settings, metrics: Metrics | None = None) -> Authenticator | None:
    """None unless KFP_CHAIN_AUTH=oidc (settings have already checked audience and senders)."""
    if settings.auth != "oidc":
        return None
    from ..adapters.kubernetes.client import kubernetes_api_client
    from ..adapters.kubernetes.tokenreview import KubernetesTokenReviewer

    if not settings.oidc_audience or not settings.allowed_senders:  # Settings.from_env refuses this too
        raise ConfigurationError(
            "KFP_CHAIN_AUTH=oidc needs KFP_CHAIN_OIDC_AUDIENCE and KFP_CHAIN_ALLOWED_SENDERS"
        )
    return Authenticator(
        KubernetesTokenReviewer(kubernetes_api_client(), settings.request_timeout),
        settings.oidc_audience,
        settings.allowed_senders,
        metrics=metrics,
    )
