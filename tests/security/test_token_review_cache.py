"""The cache of reviewed tokens: a burst is one TokenReview, yet expiry, revocation and memory stay bounded.

The real `KubernetesTokenReviewer` asks the Kubernetes fake; only the clocks are the test's, so that an
hour of token lifetime takes no time.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from kfp_chain.adapters.kubernetes.tokenreview import KubernetesTokenReviewer
from kfp_chain.errors import Unauthenticated
from kfp_chain.service.auth import (
    EXPIRY_MARGIN_SECONDS,
    MAX_CACHE_SECONDS,
    NO_EXPIRY_CACHE_SECONDS,
    Authenticator,
    ReviewCache,
)
from kfp_fakes.kubernetes import FakeKubernetes

from tests.security.support import AUDIENCE, TRIGGER_SENDER, token_reviews


class Clocks:
    def __init__(self) -> None:
        self.elapsed = 0.0
        self.start = time.time()

    def monotonic(self) -> float:
        return self.elapsed

    def wall(self) -> float:
        return self.start + self.elapsed


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def authenticator(kube: FakeKubernetes, clocks: Clocks, max_entries: int = 4096) -> Authenticator:
    return Authenticator(
        KubernetesTokenReviewer(kube.api_client()),
        AUDIENCE,
        (TRIGGER_SENDER,),
        cache=ReviewCache(max_entries, clock=clocks.monotonic),
        wall_clock=clocks.wall,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_exp(kube: FakeKubernetes, clocks: Clocks, seconds: float | None) -> str:
    """A token the fake accepts (for an hour of real time) whose payload says it expires in `seconds`."""
    token = kube.tokens.issue(TRIGGER_SENDER, [AUDIENCE])
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.pop("exp")
    if seconds is not None:
        claims["exp"] = int(clocks.wall() + seconds)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return kube.tokens.register(f"{head}.{encoded}.{signature}", TRIGGER_SENDER, [AUDIENCE])


def test_an_answer_is_reused_until_shortly_before_the_token_expires(kube, clocks):
    check = authenticator(kube, clocks)
    token = with_exp(kube, clocks, 100)

    assert check.authenticate(bearer(token)) == TRIGGER_SENDER
    clocks.elapsed = 100 - EXPIRY_MARGIN_SECONDS - 1
    check.authenticate(bearer(token))
    assert token_reviews(kube) == 1

    clocks.elapsed = 100 - EXPIRY_MARGIN_SECONDS + 1
    check.authenticate(bearer(token))
    assert token_reviews(kube) == 2


def test_a_long_lived_token_is_reviewed_again_after_the_cap_so_revocation_takes_effect(kube, clocks):
    check = authenticator(kube, clocks)
    token = with_exp(kube, clocks, 24 * 3600)  # a far-away (or forged) exp does not stretch the cache
    check.authenticate(bearer(token))
    kube.tokens.revoke(token)  # e.g. the sender's ServiceAccount was deleted

    clocks.elapsed = MAX_CACHE_SECONDS - 1
    check.authenticate(bearer(token))
    clocks.elapsed = MAX_CACHE_SECONDS + 1
    with pytest.raises(Unauthenticated):
        check.authenticate(bearer(token))
    assert token_reviews(kube) == 2


def test_a_token_without_exp_is_cached_briefly(kube, clocks):
    check = authenticator(kube, clocks)
    token = with_exp(kube, clocks, None)
    check.authenticate(bearer(token))

    clocks.elapsed = NO_EXPIRY_CACHE_SECONDS + 1
    check.authenticate(bearer(token))

    assert token_reviews(kube) == 2


def test_a_token_expiring_within_the_margin_is_not_cached(kube, clocks):
    check = authenticator(kube, clocks)
    token = with_exp(kube, clocks, EXPIRY_MARGIN_SECONDS - 5)

    check.authenticate(bearer(token))
    check.authenticate(bearer(token))

    assert token_reviews(kube) == 2


def test_an_exp_in_the_payload_never_makes_a_token_valid(kube, clocks):
    check = authenticator(kube, clocks)
    forged = with_exp(kube, clocks, 3600)
    kube.tokens.revoke(forged)  # same shape and claims, but the API server does not know it

    with pytest.raises(Unauthenticated):
        check.authenticate(bearer(forged))


def test_the_cache_holds_at_most_its_bound(kube, clocks):
    check = authenticator(kube, clocks, max_entries=3)
    tokens = [kube.tokens.issue(TRIGGER_SENDER, [AUDIENCE]) for _ in range(5)]

    for token in tokens:
        check.authenticate(bearer(token))
    assert len(check.cache) == 3

    check.authenticate(bearer(tokens[-1]))  # recent: still cached
    assert token_reviews(kube) == 5
    check.authenticate(bearer(tokens[0]))  # evicted first: reviewed again
    assert token_reviews(kube) == 6


def test_the_cache_is_keyed_by_digest_and_never_holds_a_token(kube, clocks):
    check = authenticator(kube, clocks)
    token = kube.tokens.issue(TRIGGER_SENDER, [AUDIENCE])
    check.authenticate(bearer(token))

    assert token not in repr(vars(check.cache))
    assert token.split(".")[2] not in repr(vars(check.cache))
