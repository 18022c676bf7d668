"""Any Authorization header through the real function: never a 5xx, never a run, 401 unless it is valid.

Hypothesis writes the header (or leaves it out); the function is the deployed one with KFP_CHAIN_AUTH=oidc
in front of a dependent that any accepted event would start, so a header wrongly accepted fails the test
by starting a KFP run. Near misses of a real token are generated too: one changed character, a cut, a
suffix, another scheme, each of which the API server must refuse.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.support import AUDIENCE, TRIGGER_SENDER, post, signed
from tests.support import Function

SETTINGS = settings(
    max_examples=int(os.environ.get("AUTH_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Header values a client can send: latin-1 without control characters (HTTP forbids CR/LF in a value).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=300
)
base64url = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1)
jwt_shaped = st.builds(lambda a, b, c: f"{a}.{b}.{c}", base64url, base64url, base64url)
schemes = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", "Bearer:", ""])


@pytest.fixture
def function(chain, kfp, oidc_function) -> Function:
    """Built once per test: Hypothesis runs every example against the same function and fakes."""
    return oidc_function()


@pytest.fixture
def token(chain) -> str:
    return chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE])


def _mutate(token: str, data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from(["flip", "cut", "suffix", "prefix"]))
    if kind == "flip":
        index = data.draw(st.integers(0, len(token) - 1))
        replacement = data.draw(st.sampled_from("AbZ09-_."))
        if replacement == token[index]:
            replacement = "x" if token[index] != "x" else "y"
        return token[:index] + replacement + token[index + 1 :]
    if kind == "cut":
        return token[: data.draw(st.integers(0, len(token) - 1))]
    if kind == "suffix":
        return token + data.draw(base64url)
    return data.draw(base64url) + token


@SETTINGS
@given(header=st.one_of(st.none(), header_text, st.builds(lambda s, t: f"{s} {t}", schemes, jwt_shaped)))
def test_any_header_but_a_valid_token_is_401(function, kfp, header):
    headers, body = signed(None)
    if header is not None:
        headers["Authorization"] = header

    status, _, _ = post(function, (headers, body))

    assert status == 401
    assert kfp.runs() == []


@SETTINGS
@given(data=st.data())
def test_near_misses_of_a_valid_token_are_401(function, kfp, token, data):
    headers, body = signed(None)
    scheme = data.draw(st.sampled_from(["Bearer", "bearer", "Basic", "Bearer:", ""]))
    mutated = _mutate(token, data)
    if scheme.lower() == "bearer" and mutated == token:
        return
    headers["Authorization"] = f"{scheme} {mutated}"

    status, _, _ = post(function, (headers, body))

    assert status == 401
    assert kfp.runs() == []


@SETTINGS
@given(scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]), spaces=st.text(" ", min_size=1, max_size=3))
def test_the_valid_token_is_accepted_in_any_spelling_of_the_scheme(function, kfp, token, scheme, spaces):
    headers, body = signed(None, run_id="valid")
    headers["Authorization"] = f"{scheme}{spaces}{token}"

    status, _, _ = post(function, (headers, body))

    assert status == 200
    assert len(kfp.runs_named("b/down <- a/up run valid")) == 1
