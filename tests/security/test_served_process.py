"""The function as a deployment runs it: a functions-framework process, configured by its environment.

One process with KFP_CHAIN_AUTH=oidc answers each kind of sender; one without an audience or allowed
senders refuses to start and says why in its last line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.builders import write_kubeconfig
from tests.security.support import AUDIENCE, STRANGER, TRIGGER_SENDER, signed
from tests.support import ROOT, wait_until_serving

SERVER = [str(Path(sys.executable).parent / "functions-framework"), "--source", str(ROOT / "functions" / "main.py"),
          "--target", "on_run_completion"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answer(port: int, token: str | None, run_id: str) -> int:
    headers, body = signed(token, run_id=run_id)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_served_function_answers_401_403_and_200(chain, kfp, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "RUNCONFIGURATIONS": "kubernetes",
        "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", chain.url)),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_INDEX": "list",
        "KFP_CHAIN_AUTH": "oidc",
        "KFP_CHAIN_OIDC_AUDIENCE": AUDIENCE,
        "KFP_CHAIN_ALLOWED_SENDERS": TRIGGER_SENDER,
        "LOG_FORMAT": "text",
    }
    server = subprocess.Popen([*SERVER, "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until_serving(server, f"http://127.0.0.1:{port}/healthz")
        answers = {
            "none": answer(port, None, "r1"),
            "garbage": answer(port, "a.b.c", "r2"),
            "expired": answer(port, chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE], expires_in=-5), "r3"),
            "wrong-audience": answer(port, chain.tokens.issue(TRIGGER_SENDER, ["other"]), "r4"),
            "stranger": answer(port, chain.tokens.issue(STRANGER, [AUDIENCE]), "r5"),
            "allowed": answer(port, chain.tokens.issue(TRIGGER_SENDER, [AUDIENCE]), "r6"),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answers == {"none": 401, "garbage": 401, "expired": 401, "wrong-audience": 401, "stranger": 403,
                       "allowed": 200}  # fmt: skip
    assert [r["display_name"] for r in kfp.runs()] == ["b/down <- a/up run r6"]


def test_oidc_without_audience_and_senders_does_not_start(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "RUNCONFIGURATIONS": str(tmp_path), "KFP_CHAIN_AUTH": "oidc"}
    env.pop("KFP_CHAIN_OIDC_AUDIENCE", None)
    env.pop("KFP_CHAIN_ALLOWED_SENDERS", None)

    done = subprocess.run([*SERVER, "--port", str(free_port())], env=env, capture_output=True, timeout=60)

    assert done.returncode == 2  # a bad setting: one line, no traceback (main.py, issue 12)
    assert done.stderr.decode().strip().splitlines() == [done.stderr.decode().strip()]
    assert done.stderr.decode().startswith("kfp-chain: KFP_CHAIN_AUTH=oidc needs KFP_CHAIN_OIDC_AUDIENCE")
