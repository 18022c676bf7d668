"""The Kubernetes fake's TokenReview answers as kube-apiserver does, through the real `kubernetes` client."""

from __future__ import annotations

import pytest
from kfp_fakes.kubernetes import API_SERVER_AUDIENCE, FakeKubernetes
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

USER = "system:serviceaccount:ns:sender"


def review(kube: FakeKubernetes, token: str, audiences: list[str] | None = None) -> k8s.V1TokenReviewStatus:
    api = k8s.AuthenticationV1Api(kube.api_client())
    body = k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=audiences))
    return api.create_token_review(body).status


def test_a_known_token_for_a_requested_audience_is_authenticated_with_the_intersection(kube):
    token = kube.tokens.issue(USER, ["a", "b"], groups=["system:serviceaccounts"])

    status = review(kube, token, ["b", "c"])

    assert status.authenticated is True
    assert status.user.username == USER and status.user.groups == ["system:serviceaccounts"]
    assert status.audiences == ["b"]


def test_without_requested_audiences_the_api_servers_own_apply_and_none_are_answered(kube):
    assert review(kube, kube.tokens.issue(USER, [API_SERVER_AUDIENCE]), None).authenticated is True
    assert review(kube, kube.tokens.issue(USER, [API_SERVER_AUDIENCE]), None).audiences is None
    assert review(kube, kube.tokens.issue(USER, ["elsewhere"]), None).authenticated is None


@pytest.mark.parametrize("case", ["unknown", "expired", "other-audience", "revoked"])
def test_tokens_that_do_not_authenticate_carry_an_error_and_no_user(kube, case):
    token = {
        "unknown": "eyJh.eyJz.c2ln",
        "expired": kube.tokens.issue(USER, ["a"], expires_in=-1),
        "other-audience": kube.tokens.issue(USER, ["x"]),
        "revoked": kube.tokens.issue(USER, ["a"]),
    }[case]
    if case == "revoked":
        kube.tokens.revoke(token)

    status = review(kube, token, ["a"])

    assert not status.authenticated
    assert status.user.username is None and status.error.startswith("[invalid bearer token")


def test_the_answer_echoes_the_spec_as_the_api_server_does(kube):
    token = kube.tokens.issue(USER, ["a"])
    api = k8s.AuthenticationV1Api(kube.api_client())

    answer = api.create_token_review(
        k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=["a"]))
    )

    assert answer.spec.token == token and answer.kind == "TokenReview"


def test_an_empty_token_is_a_bad_request(kube):
    with pytest.raises(ApiException) as raised:
        review(kube, "", ["a"])
    assert raised.value.status == 400


def test_callers_without_rights_get_401_or_403(kube):
    kube.tokens.callers = {"test-token": "system:serviceaccount:kfp-chain:kfp-chain"}
    config = k8s.Configuration()
    config.host = kube.url
    config.api_key = {"authorization": "Bearer test-token"}
    api = k8s.AuthenticationV1Api(k8s.ApiClient(config))
    body = k8s.V1TokenReview(
        spec=k8s.V1TokenReviewSpec(token=kube.tokens.issue(USER, ["a"]), audiences=["a"])
    )

    with pytest.raises(ApiException) as forbidden:
        api.create_token_review(body)
    assert forbidden.value.status == 403
    with pytest.raises(ApiException) as unauthorized:
        k8s.AuthenticationV1Api(kube.api_client()).create_token_review(body)  # no credentials
    assert unauthorized.value.status == 401

    kube.tokens.reviewers = {"system:serviceaccount:kfp-chain:kfp-chain"}
    assert api.create_token_review(body).status.authenticated is True
