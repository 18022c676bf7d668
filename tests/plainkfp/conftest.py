"""Plain KFP (no kfp-operator): the ML Metadata fake and resolver, and the environment a plain-KFP
deployment gives `on_kfp_poll` and `kfp-chain poll`.

`mlmd` is a real gRPC server (kfp_fakes.mlmd.FakeMlmd) per test; `resolver` is the real
`MlmdArtifactResolver` pointed at it, closed after the test. `poll_cli` runs `kfp-chain poll -o json`
in this process, on the root conftest's `cluster_env` (the Kubernetes and KFP fakes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from kfp_chain.adapters.mlmd import MlmdArtifactResolver
from kfp_chain.cli import main
from kfp_fakes.mlmd import FakeMlmd

# Generous: a deadline that passes under load would turn a green test red. Tests about deadlines
# build their own resolver with a short one.
TIMEOUT = 10.0

Poll = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def mlmd() -> Iterator[FakeMlmd]:
    with FakeMlmd() as fake:
        yield fake


@pytest.fixture
def resolver(mlmd: FakeMlmd) -> Iterator[MlmdArtifactResolver]:
    with MlmdArtifactResolver(mlmd.address, TIMEOUT) as made:
        yield made


@pytest.fixture
def poll_cli(cluster_env: dict[str, str]) -> Poll:
    """`kfp-chain poll -o json [ARGS]` in this process; returns (exit code, JSON output)."""

    def run(*args: str, **env: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(main, ["poll", "-o", "json", *args], env={**cluster_env, **env})
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}

    return run
