"""Fixtures shared by every test folder: the two fakes, the real function wired to them, and the
environment a deployment gives the function and the CLI (`cluster_env`).

Builders of objects and events are in tests/builders.py, other helpers in tests/support.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import write_kubeconfig
from tests.support import CollectedLog, Function, FunctionFactory, function_app


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        yield fake


@pytest.fixture(scope="session")
def _kfp_server() -> Iterator[FakeKfp]:
    with FakeKfp() as fake:
        yield fake


@pytest.fixture
def kfp(_kfp_server: FakeKfp) -> FakeKfp:
    """One KFP fake per session, emptied for every test (a start costs more than a reset)."""
    _kfp_server.reset()
    _kfp_server.add_pipeline("penguin-pipeline-training", ["v1", "v2"])
    _kfp_server.add_pipeline("penguin-pipeline-examples")
    _kfp_server.add_pipeline("pipe")
    return _kfp_server


@pytest.fixture
def private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """kfp.Client reads ~/.config/kfp/context.json: give it an empty HOME of its own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    import kfp

    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(home / ".config" / "kfp" / "context.json"))
    yield home


@pytest.fixture
def function_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FunctionFactory]:
    """Builds the function from environment variables, as a deployment would."""

    made: list[Function] = []

    def make(**env: str) -> Function:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("LOG_FORMAT", env.get("LOG_FORMAT", "text"))
        monkeypatch.setenv("KFP_CHAIN_RETRY_BUDGET_SECONDS", env.get("KFP_CHAIN_RETRY_BUDGET_SECONDS", "1"))
        monkeypatch.setenv("KFP_CHAIN_INDEX", env.get("KFP_CHAIN_INDEX", "list"))
        app = function_app("on_run_completion")
        function = Function(app)
        made.append(function)
        return function

    yield make
    for function in made:
        function.close()


@pytest.fixture
def cluster_function(
    function_factory: FunctionFactory, kube: FakeKubernetes, kfp: FakeKfp, tmp_path: Path
) -> Callable[..., Function]:
    """The function on the Kubernetes source and a KFP server, both fakes, over real HTTP."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)

    def make(**env: str) -> Function:
        settings = {
            "RUNCONFIGURATIONS": "kubernetes",
            "KUBECONFIG": str(kubeconfig),
            "KFP_HOST": kfp.url,
            **env,
        }
        return function_factory(**settings)

    return make


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
def invalid_log() -> Iterator[list[str]]:
    """The reports of invalid RunConfigurations, straight from their logger (the function's own logging
    configuration stops propagation to the root logger, where caplog listens)."""
    handler = CollectedLog()
    logger = logging.getLogger("kfp_chain.invalid")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
