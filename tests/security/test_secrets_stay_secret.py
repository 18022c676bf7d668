"""KFP_TOKEN and the senders' tokens appear in no log line, no response, no metric and no Kubernetes Event.

A sequence of events that takes every path the function has (started, duplicate, refused 401 and 403, an
upstream KFP does not confirm, KFP failing and refusing, a TokenReview failing, a malformed body) runs with
KFP_TOKEN set, DEBUG logging and JSON logs; then everything the function said is searched for the secrets.
"""

from __future__ import annotations

import logging

from kfp_chain.adapters.ports import Review
from kfp_chain.observability.logs import configure_logging
from kfp_chain.service.auth import Authenticator, check_sender

from tests.builders import binary_event, event_data
from tests.security.support import AUDIENCE, STRANGER, TRIGGER_SENDER, post, signed

from .test_upstream_verification import upstream_run

KFP_TOKEN = "kfp-s3cr3t-0123456789abcdef"


def test_no_secret_leaves_the_function(chain, kfp, oidc_function, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    function = oidc_function(
        KFP_TOKEN=KFP_TOKEN, KFP_CHAIN_VERIFY_UPSTREAM="true", LOG_LEVEL="DEBUG", LOG_FORMAT="json"
    )
    sender = chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])
    stranger = chain.tokens.issue(STRANGER, [AUDIENCE])
    wrong_audience = chain.tokens.issue(TRIGGER_SENDER, ["elsewhere"])
    succeeded = upstream_run(kfp, "SUCCEEDED")
    answers = []

    def send(request):
        status, body, headers = post(function, request)
        answers.append((status, repr(body), repr(dict(headers))))
        return status

    assert send(signed(sender, run_id=succeeded)) == 200  # started
    assert send(signed(sender, run_id=succeeded)) == 200  # duplicate
    assert send(signed(None)) == 401
    assert send(signed(wrong_audience)) == 401
    assert send(signed(stranger)) == 403
    assert send(signed(sender, run_id="not-in-kfp")) == 403  # upstream not confirmed
    second = upstream_run(kfp, "SUCCEEDED")
    kfp.faults.add(method="POST", path=r"/runs$", status=500, times=None)
    assert send(signed(sender, run_id=second)) == 503  # KFP failing
    kfp.faults.clear()
    kfp.faults.add(method="POST", path=r"/runs$", status=401, times=None)
    assert send(signed(sender, run_id=second)) == 503  # KFP refusing our credentials: a deployment fault
    kfp.faults.clear()
    chain.faults.add(method="POST", path=r"tokenreviews$", status=500, times=1)
    assert send(signed(chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE]), run_id=second)) == 503
    headers, _ = binary_event(event_data("a/up"))
    headers["Authorization"] = f"Bearer {sender}"
    assert send((headers, b"{not json")) == 400
    metrics = function.client.get("/metrics").get_data(as_text=True)

    assert any(c.headers.get("authorization") == f"Bearer {KFP_TOKEN}" for c in kfp.calls()), (
        "the function never used KFP_TOKEN: this test would prove nothing"
    )
    said = {
        "stdout": capsys.readouterr().out,
        "log records": caplog.text,
        "responses": repr(answers),
        "metrics": metrics,
        "events": repr(chain.events()),
    }
    assert said["stdout"].count("\n") > 10, "expected the function's JSON log lines on stdout"
    for secret in (KFP_TOKEN, sender, stranger, wrong_audience):
        for where, text in said.items():
            assert secret not in text, f"a secret appears in {where}"
            assert secret.split(".")[-1] not in text, f"a token's signature appears in {where}"


class EchoingAuthenticator:
    """An API server whose authenticator (a webhook, say) quotes the token back in its error."""

    def review(self, token: str, audience: str) -> Review:
        return Review(False, error=f"webhook: unknown token {token!r}")


def test_a_token_quoted_back_by_the_authenticator_is_not_logged(capsys):
    configure_logging("DEBUG", "json")
    authenticator = Authenticator(EchoingAuthenticator(), AUDIENCE, (TRIGGER_SENDER,))
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"

    refused = check_sender(authenticator, {"Authorization": f"Bearer {token}"})

    assert refused is not None and refused[0] == 401
    logged = capsys.readouterr().out
    assert "TokenReview did not authenticate" in logged
    assert token not in logged and token not in repr(refused)
