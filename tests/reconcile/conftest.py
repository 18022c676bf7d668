"""Reconcile's fixtures: the CLI on the environment a deployment gives the function."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from kfp_chain.cli import main

Reconcile = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def reconcile_cli(cluster_env: dict[str, str]) -> Reconcile:
    """`kfp-chain reconcile -o json [ARGS]` in this process; returns (exit code, JSON output)."""

    def run(*args: str, **env: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(main, ["reconcile", "-o", "json", *args], env={**cluster_env, **env})
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}

    return run
