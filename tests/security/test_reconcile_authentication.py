"""The reconcile target (a PingSource's tick) is behind the same sender authentication, with its own audience."""

from __future__ import annotations

from tests.builders import write_kubeconfig
from tests.security.support import AUDIENCE, STRANGER
from tests.support import function_app

RECONCILE_AUDIENCE = "kfp-chain-reconcile"
PING_SENDER = "system:serviceaccount:kfp-chain:kfp-chain-reconcile-oidc-sources.knative.dev-pingsource"


def test_a_reconcile_pass_needs_the_pingsources_token(monkeypatch, tmp_path, chain, kfp):
    env = {
        "RUNCONFIGURATIONS": "kubernetes",
        "KUBECONFIG": str(write_kubeconfig(tmp_path / "kc", chain.url)),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_AUTH": "oidc",
        "KFP_CHAIN_OIDC_AUDIENCE": RECONCILE_AUDIENCE,
        "KFP_CHAIN_ALLOWED_SENDERS": PING_SENDER,
        "LOG_FORMAT": "text",
        "FUNCTION_TARGET": "on_reconcile",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = function_app("on_reconcile").test_client()

    def tick(token: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return int(client.post("/", headers=headers, data=b'{"reconcile": "all"}').status_code)

    answers = {
        "none": tick(None),
        "trigger-audience": tick(chain.tokens.issue(PING_SENDER, [AUDIENCE])),
        "stranger": tick(chain.tokens.issue(STRANGER, [RECONCILE_AUDIENCE])),
    }
    assert answers == {"none": 401, "trigger-audience": 401, "stranger": 403}
    assert not chain.calls("GET", r"/runconfigurations$"), "a refused tick must not start a pass"

    assert tick(chain.tokens.issue(PING_SENDER, [RECONCILE_AUDIENCE])) == 200
    assert chain.calls("GET", r"/runconfigurations$"), "the allowed tick ran a pass"
    assert client.get("/healthz").status_code == 200
