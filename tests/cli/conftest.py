"""CLI tests run `kfp-chain` in-process with click's CliRunner against the YAML fixtures here
(paths and the golden-file check in support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from kfp_chain.cli import main

from tests.cli.support import SEED, Cli


@pytest.fixture(autouse=True)
def private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A tmp HOME and working directory, so no test reads or leaves a kfp context or a state store."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name in ("RUNCONFIGURATIONS", "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KFP_CHAIN_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    import kfp

    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(home / ".config" / "kfp" / "context.json"))
    yield home


@pytest.fixture
def state_db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def cli(state_db: Path) -> Cli:
    """Runs `kfp-chain ARGS` with a folder source (default: the seed scenario) and a private state store."""

    def run(*args: str, folder: Path | str = SEED, **env: str) -> Result:
        environment = {"RUNCONFIGURATIONS": str(folder), "KFP_CHAIN_STATE_DB": str(state_db), **env}
        return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)

    return run
