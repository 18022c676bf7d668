"""`RUNCONFIGURATIONS=kubernetes` without a usable cluster configuration never serves.

A kubeconfig that cannot be loaded (missing, malformed YAML, not a kubeconfig) stops every target at
start-up with one line naming the file and exit status 2, as any other unusable setting does; the
CLI says the same in one line. A cluster that is only unreachable is a different thing: the
function serves, stays alive (`/healthz` 200) and its readiness fails saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.builders import write_kubeconfig
from tests.support import ROOT, installed_cli, wait_until_serving

TARGETS = ["on_run_completion", "on_dead_letter", "on_reconcile"]
KUBECONFIGS = {
    "missing": None,
    "malformed-yaml": "clusters: [unclosed\n  x",
    "not-a-kubeconfig": "just a string\n",
    "no-context": "apiVersion: v1\nkind: Config\n",
}


def server(target: str, port: int) -> list[str]:
    functions_framework = str(Path(sys.executable).parent / "functions-framework")
    source = str(ROOT / "functions" / "main.py")
    return [
        functions_framework,
        "--source",
        source,
        "--target",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def environment(tmp_path: Path, kubeconfig: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "RUNCONFIGURATIONS": "kubernetes",
        "KUBECONFIG": str(kubeconfig),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return env


def unusable(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"kubeconfig-{kind}"
    if KUBECONFIGS[kind] is not None:
        path.write_text(KUBECONFIGS[kind])
    return path


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", ["missing", "malformed-yaml"])
def test_a_served_target_with_an_unusable_kubeconfig_exits_2_in_one_line(tmp_path, target, kind):
    kubeconfig = unusable(tmp_path, kind)

    done = subprocess.run(server(target, 0), env=environment(tmp_path, kubeconfig), capture_output=True,
                          timeout=120)  # fmt: skip

    stderr = done.stderr.decode().strip()
    assert done.returncode == 2, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("kfp-chain: RUNCONFIGURATIONS=kubernetes") and str(kubeconfig) in stderr


@pytest.mark.parametrize("kind", sorted(KUBECONFIGS))
def test_the_cli_names_the_unusable_kubeconfig_in_one_line_with_exit_2(tmp_path, kind):
    kubeconfig = unusable(tmp_path, kind)

    done = installed_cli({"RUNCONFIGURATIONS": "kubernetes", "KUBECONFIG": str(kubeconfig)}, "validate")

    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(kubeconfig) in done.stderr, done.stderr
    assert "internal error" not in done.stderr


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_an_unreachable_cluster_keeps_the_function_alive_and_unready_saying_why(tmp_path):
    from tests.security.test_served_process import free_port

    port, nobody = free_port(), free_port()  # nothing listens on `nobody`
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{nobody}")
    env = {**environment(tmp_path, kubeconfig), "KFP_CHAIN_INDEX": "watch", "LOG_LEVEL": "ERROR"}
    process = subprocess.Popen(server("on_run_completion", port), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}/healthz")
        deadline_reached = not _eventually_has_reason(port)
        status, body = get(f"http://127.0.0.1:{port}/readyz")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not deadline_reached, body
    assert status == 503 and body["ready"] is False, body
    assert "127.0.0.1" in str(body["reason"]) or "Connection" in str(body["reason"]), body


def _eventually_has_reason(port: int) -> bool:
    from tests.support import eventually

    return eventually(lambda: "reason" in get(f"http://127.0.0.1:{port}/readyz")[1], timeout=60)
