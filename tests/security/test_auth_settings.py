"""KFP_CHAIN_AUTH, KFP_CHAIN_OIDC_AUDIENCE, KFP_CHAIN_ALLOWED_SENDERS, KFP_CHAIN_VERIFY_UPSTREAM."""

from __future__ import annotations

import pytest
from kfp_chain.errors import ConfigurationError
from kfp_chain.settings import Settings

BASE = {"RUNCONFIGURATIONS": "kubernetes"}


def test_auth_is_off_by_default():
    settings = Settings.from_env(BASE)
    assert settings.auth == "none" and settings.verify_upstream is False


def test_oidc_reads_the_audience_and_a_comma_separated_sender_list():
    settings = Settings.from_env(
        {**BASE, "KFP_CHAIN_AUTH": "OIDC", "KFP_CHAIN_OIDC_AUDIENCE": "aud",
         "KFP_CHAIN_ALLOWED_SENDERS": " system:serviceaccount:a:b ,, system:serviceaccount:c:d "}
    )  # fmt: skip
    assert settings.auth == "oidc" and settings.oidc_audience == "aud"
    assert settings.allowed_senders == ("system:serviceaccount:a:b", "system:serviceaccount:c:d")


@pytest.mark.parametrize(
    ("extra", "missing"),
    [
        ({}, "KFP_CHAIN_OIDC_AUDIENCE and KFP_CHAIN_ALLOWED_SENDERS"),
        ({"KFP_CHAIN_OIDC_AUDIENCE": "aud"}, "KFP_CHAIN_ALLOWED_SENDERS"),
        ({"KFP_CHAIN_ALLOWED_SENDERS": "x"}, "KFP_CHAIN_OIDC_AUDIENCE"),
        ({"KFP_CHAIN_OIDC_AUDIENCE": " ", "KFP_CHAIN_ALLOWED_SENDERS": " , "}, "KFP_CHAIN_OIDC_AUDIENCE and"),
    ],
)
def test_oidc_without_an_audience_or_senders_refuses_to_start_with_one_line(extra, missing):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**BASE, "KFP_CHAIN_AUTH": "oidc", **extra})
    message = str(raised.value)
    assert message.startswith(f"KFP_CHAIN_AUTH=oidc needs {missing}")
    assert "\n" not in message


def test_an_unknown_auth_mode_is_refused():
    with pytest.raises(ConfigurationError, match="KFP_CHAIN_AUTH='jwt' must be one of none, oidc"):
        Settings.from_env({**BASE, "KFP_CHAIN_AUTH": "jwt"})


def test_upstream_verification_needs_a_kfp_host():
    with pytest.raises(ConfigurationError, match="KFP_CHAIN_VERIFY_UPSTREAM=true needs KFP_HOST"):
        Settings.from_env({**BASE, "KFP_CHAIN_VERIFY_UPSTREAM": "true"})
    assert Settings.from_env(
        {**BASE, "KFP_CHAIN_VERIFY_UPSTREAM": "true", "KFP_HOST": "http://kfp"}
    ).verify_upstream


def test_the_kfp_token_is_not_in_the_settings_repr():
    settings = Settings.from_env({**BASE, "KFP_TOKEN": "s3cr3t-kfp-token"})
    assert settings.kfp_token == "s3cr3t-kfp-token"
    assert "s3cr3t-kfp-token" not in repr(settings)
