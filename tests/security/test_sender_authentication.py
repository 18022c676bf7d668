"""Only allowed senders start pipelines: each kind of token, through the real function and TokenReview.

The function runs as deployed (functions-framework, KFP_CHAIN_AUTH=oidc, in-cluster style kubeconfig)
against the Kubernetes fake, which answers TokenReview from the tokens each test issues, and the KFP fake,
where a started run would show up.
"""

from __future__ import annotations

import time

import pytest
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import API_SERVER_AUDIENCE, FakeKubernetes

from tests.security.support import (
    AUDIENCE,
    SENSOR_SENDER,
    STRANGER,
    TRIGGER_SENDER,
    metric,
    post,
    signed,
    token_reviews,
)

REFUSED = "kfp_chain_requests_refused_total"


def test_without_a_token_the_answer_is_401_and_no_run_starts(chain, kfp, oidc_function):
    function = oidc_function()

    status, body, headers = post(function, signed(None))

    assert status == 401
    assert body["error"] == "missing-token"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert kfp.runs() == []
    assert token_reviews(chain) == 0
    assert metric(function, REFUSED, code="401", reason="missing-token") == 1


@pytest.mark.parametrize(
    "authorization",
    ["garbage", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b", "Token a.b.c"],
)
def test_a_malformed_authorization_header_is_refused_without_asking_the_api_server(
    chain, kfp, oidc_function, authorization
):
    function = oidc_function()
    headers, body = signed(None)
    headers["Authorization"] = authorization

    status, answer, _ = post(function, (headers, body))

    assert status == 401
    assert answer["error"] in ("missing-token", "malformed-token")
    assert kfp.runs() == [] and token_reviews(chain) == 0


def test_a_garbage_jwt_the_api_server_does_not_know_is_401(chain, kfp, oidc_function):
    function = oidc_function()

    status, body, _ = post(function, signed("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"))

    assert status == 401 and body["error"] == "invalid-token"
    assert kfp.runs() == []
    assert token_reviews(chain) == 1


def test_an_expired_token_is_401(chain, kfp, oidc_function):
    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE], expires_in=-60)

    status, _, _ = post(function, signed(token))

    assert status == 401
    assert kfp.runs() == []


def test_a_token_for_another_audience_is_401(chain, kfp, oidc_function):
    """The sender is allowed, but its token was issued for someone else: it cannot be replayed here."""
    function = oidc_function()
    for audience in ("kfp-chain-dead-letter", API_SERVER_AUDIENCE):
        token = chain.tokens.issue(TRIGGER_SENDER, [audience])

        status, _, _ = post(function, signed(token))

        assert status == 401
    assert kfp.runs() == []
    assert token_reviews(chain) == 2


def test_an_authenticator_that_ignores_audiences_does_not_let_a_foreign_token_in(chain, kfp, oidc_function):
    """status.audiences must contain ours: an authenticator may answer without checking spec.audiences."""
    function = oidc_function()
    chain.tokens.audience_aware = False
    token = chain.tokens.issue(TRIGGER_SENDER, [API_SERVER_AUDIENCE])  # e.g. a pod's own default token

    status, body, _ = post(function, signed(token))

    assert status == 401 and body["error"] == "wrong-audience"
    assert kfp.runs() == []


def test_an_authenticated_sender_that_is_not_listed_is_403(chain, kfp, oidc_function):
    function = oidc_function()
    token = chain.tokens.issue(STRANGER, [AUDIENCE])

    status, body, _ = post(function, signed(token))

    assert status == 403
    assert body["error"] == "not-allowed" and STRANGER in body["message"]
    assert kfp.runs() == []
    assert metric(function, REFUSED, code="403", reason="not-allowed") == 1


@pytest.mark.parametrize("sender", [TRIGGER_SENDER, SENSOR_SENDER])
def test_an_allowed_sender_starts_the_dependent_run(chain, kfp, oidc_function, sender):
    function = oidc_function()
    token = chain.tokens.issue(sender, [AUDIENCE])

    status, body, _ = post(function, signed(token))

    assert status == 200, body
    assert [d["outcome"] for d in body["dependents"]] == ["started"]
    assert [r["display_name"] for r in kfp.runs()] == ["b/down <- a/up run r1"]


def test_health_readiness_and_metrics_need_no_token(chain, kfp, oidc_function):
    function = oidc_function()

    for path in ("/healthz", "/readyz", "/metrics"):
        assert function.client.get(path).status_code == 200, path
    assert token_reviews(chain) == 0


def test_a_burst_from_one_sender_costs_one_token_review(chain, kfp, oidc_function):
    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])

    answers = [post(function, signed(token, run_id=f"r{i}"))[0] for i in range(20)]

    assert answers == [200] * 20
    assert token_reviews(chain) == 1
    assert metric(function, "kfp_chain_token_reviews_total", result="authenticated") == 1
    assert len(kfp.runs()) == 20


def test_a_refused_token_replayed_is_not_reviewed_again_and_again(chain, kfp, oidc_function):
    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, ["somebody-else"])

    answers = [post(function, signed(token, run_id=f"r{i}"))[0] for i in range(10)]

    assert answers == [401] * 10
    assert token_reviews(chain) == 1


def test_a_failing_token_review_is_503_so_the_broker_retries_and_never_401(chain, kfp, oidc_function):
    """A genuine event must not be dead-lettered because the API server had a bad moment."""
    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])
    chain.faults.add(method="POST", path=r"tokenreviews$", status=500, times=1)
    chain.faults.add(method="POST", path=r"tokenreviews$", mode="drop", times=1)

    first, body, _ = post(function, signed(token))
    second, _, _ = post(function, signed(token))
    third, _, _ = post(function, signed(token))

    assert (first, second) == (503, 503), body
    assert kfp.runs() != [] and third == 200  # the redelivery after the fault passed starts the run
    assert len(kfp.runs()) == 1
    assert metric(function, "kfp_chain_token_reviews_total", result="error") == 2


def test_a_slow_api_server_is_503_within_the_request_timeout(chain, kfp, oidc_function):
    function = oidc_function(KFP_CHAIN_REQUEST_TIMEOUT_SECONDS="0.5")
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])
    chain.faults.add(method="POST", path=r"tokenreviews$", mode="delay", delay=2.0, times=1)

    started = time.monotonic()
    status, _, _ = post(function, signed(token))

    assert status == 503
    assert time.monotonic() - started < 2.0
    assert kfp.runs() == []


def test_without_the_right_to_create_token_reviews_every_event_is_503_and_logged(
    chain, kfp, oidc_function, capsys
):
    """RBAC forgot `create tokenreviews`: an operator's mistake, not the sender's, so nothing dead-letters."""
    chain.tokens.callers = {"test-token": "system:serviceaccount:kfp-chain:kfp-chain"}  # the kubeconfig's
    chain.tokens.reviewers = set()
    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])

    status, _, _ = post(function, signed(token))

    assert status == 503
    assert kfp.runs() == []
    assert "may not create TokenReviews" in capsys.readouterr().out
    assert metric(function, "kfp_chain_deployment_faults_total", backend="kubernetes") == 1

    chain.tokens.reviewers = {"system:serviceaccount:kfp-chain:kfp-chain"}  # the role is fixed
    assert post(function, signed(token))[0] == 200


def test_the_function_asks_with_the_audience_and_the_token_it_was_given(
    chain: FakeKubernetes, kfp: FakeKfp, oidc_function
):
    """TokenReview carries spec.audiences: without it the API server would accept any token of the cluster."""
    seen: list[dict[str, object]] = []
    original = chain.tokens.status

    def spy(token: str, requested: list[str]) -> dict[str, object]:
        seen.append({"token": token, "audiences": requested})
        return original(token, requested)

    chain.tokens.status = spy  # type: ignore[method-assign]
    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])

    assert post(function, signed(token))[0] == 200
    assert seen == [{"token": token, "audiences": [AUDIENCE]}]


def test_auth_off_by_default_keeps_a_laptop_setup_working(chain, kfp, cluster_function):
    function = cluster_function()

    status, _, _ = post(function, signed(None))

    assert status == 200
    assert token_reviews(chain) == 0


def test_two_first_requests_with_one_token_send_one_token_review(chain, kfp, oidc_function):
    """The second request waits for the review the first has in flight rather than sending its own."""
    import threading

    function = oidc_function()
    token = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])
    held = chain.faults.add(method="POST", path=r"tokenreviews$", mode="hold", times=None)
    answers: dict[str, int] = {}

    def send(run_id: str) -> None:
        answers[run_id] = post(function, signed(token, run_id=run_id))[0]

    first = threading.Thread(target=send, args=("r1",))
    first.start()
    assert held.wait_arrived(1)
    second = threading.Thread(target=send, args=("r2",))
    second.start()
    deadline = time.monotonic() + 10
    while metric(function, "kfp_chain_token_reviews_total", result="shared") < 1:
        assert time.monotonic() < deadline, "the second request did not wait for the review in flight"
        time.sleep(0.01)
    held.release()
    first.join(10)
    second.join(10)

    assert answers == {"r1": 200, "r2": 200}
    assert token_reviews(chain) == 1
    assert metric(function, "kfp_chain_token_reviews_total", result="authenticated") == 1
