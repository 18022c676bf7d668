"""Reconcile's fixtures: upstream successes written the way kfp-operator's controller writes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kfp_chain.cli import main
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.conftest import ROOT, rc, ref, write_kubeconfig

Reconcile = Callable[..., tuple[int, dict[str, Any]]]


def succeeded(run_id: str, **artifacts: str) -> dict[str, Any]:
    """`status.latestRuns.succeeded`, as kfp-operator records an upstream's latest success."""
    return {
        "latestRuns": {
            "succeeded": {
                "providerId": run_id,
                "artifacts": [{"name": k, "location": v} for k, v in artifacts.items()],
            }
        }
    }


def consumed(**upstreams: str) -> dict[str, Any]:
    """`status.triggers.runConfigurations`: which upstream run a dependent last consumed."""
    return {"triggers": {"runConfigurations": {u: {"providerId": r} for u, r in upstreams.items()}}}


def chain_of_two(kube: FakeKubernetes, latest: str | None = "r1", consumed_run: str | None = None) -> None:
    """a/up (latest success `latest`, artifact model) -> a/down (parameter model <- up:model)."""
    kube.put(rc("a", "up", artifacts=[{"name": "model", "path": "train:model"}],
                status=succeeded(latest, model=f"gs://b/{latest}/model") if latest else None))  # fmt: skip
    kube.put(rc("a", "down", triggers=["up"], parameters=[ref("up", "model", param="model")],
                status=consumed(**{"a/up": consumed_run}) if consumed_run else None))  # fmt: skip


@pytest.fixture
def cluster_env(kube: FakeKubernetes, kfp: FakeKfp, tmp_path: Path) -> dict[str, str]:
    """The environment a deployment gives both the function and `kfp-chain reconcile`."""
    return {
        "RUNCONFIGURATIONS": "kubernetes",
        "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", kube.url)),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_RETRY_BUDGET_SECONDS": "1",
        "LOG_FORMAT": "text",
        "HOME": str(tmp_path),
    }


@pytest.fixture
def reconcile_cli(cluster_env: dict[str, str]) -> Reconcile:
    """`kfp-chain reconcile -o json [ARGS]` in this process; returns (exit code, JSON output)."""

    def run(*args: str, **env: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(main, ["reconcile", "-o", "json", *args], env={**cluster_env, **env})
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}

    return run


def installed_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The `kfp-chain` console script as a user runs it, in its own process."""
    script = Path(sys.executable).parent / "kfp-chain"
    return subprocess.run(
        [str(script), *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
