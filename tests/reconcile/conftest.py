"""Reconcile's fixtures: the CLI on the environment a deployment gives the function."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kfp_chain.cli import main
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import write_kubeconfig

Reconcile = Callable[..., tuple[int, dict[str, Any]]]


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
