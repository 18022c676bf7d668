"""Fixtures shared by every test folder: the two fakes, and the real function wired to them."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = FIXTURES / "seed" / "runconfigurations.yaml"
EXAMPLES_RC = "base-namespace/penguin-pipeline-examples-rc"
TRAINING_RC = "dependant-namespace/penguin-pipeline-training-rc"


def seed_objects() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(SEED.read_text()) if d]


def rc(
    namespace: str,
    name: str,
    pipeline: str = "pipe",
    triggers: list[str] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    artifacts: list[dict[str, str]] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A RunConfiguration object as kubectl would apply it."""
    run: dict[str, Any] = {"provider": "kubeflow/kfp", "pipeline": pipeline}
    if parameters:
        run["parameters"] = parameters
    if artifacts:
        run["artifacts"] = artifacts
    obj: dict[str, Any] = {
        "apiVersion": "pipelines.kubeflow.org/v1beta1",
        "kind": "RunConfiguration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"run": run, "triggers": {"runConfigurations": triggers or []}},
    }
    if status:
        obj["status"] = status
    return obj


def ref(name: str, artifact: str, optional: bool = False, param: str = "p") -> dict[str, Any]:
    reference: dict[str, Any] = {"name": name, "outputArtifact": artifact}
    if optional:
        reference["optional"] = True
    return {"name": param, "valueFrom": {"runConfigurationRef": reference}}


def event_data(
    rc_name: str = EXAMPLES_RC,
    run_id: str = "123",
    status: str = "succeeded",
    artifacts: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "runConfigurationName": rc_name,
        "pipelineName": rc_name.split("/")[0] + "/pipe",
        "runId": run_id,
        "runName": f"run-{run_id}",
        "artifacts": [{"name": "examples", "location": "gs://bucket/examples/123"}]
        if artifacts is None
        else artifacts,
        "provider": "kfp",
        "runStartTime": "2026-11-25T10:00:00Z",
        "runEndTime": "2026-11-25T10:05:00Z",
    }


def binary_event(data: dict[str, Any], event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    from cloudevents.conversion import to_binary
    from cloudevents.http import CloudEvent

    attributes = {"type": "org.kubeflow.pipelines.run-completion", "source": "kfp-operator/test"}
    if event_id:
        attributes["id"] = event_id
    headers, body = to_binary(CloudEvent(attributes, data))
    return dict(headers), body


def structured_event(data: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    from cloudevents.conversion import to_structured
    from cloudevents.http import CloudEvent

    headers, body = to_structured(
        CloudEvent({"type": "org.kubeflow.pipelines.run-completion", "source": "kfp-operator/test"}, data)
    )
    return dict(headers), body


def plain_event(data: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/json"}, json.dumps(data).encode()


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


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "test-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class Function:
    """The real trigger function (functions/main.py) behind functions-framework's Flask app."""

    def __init__(self, app: Any) -> None:
        self.flask = app
        self.client = app.test_client()

    def post(self, request: tuple[dict[str, str], bytes]) -> tuple[int, dict[str, Any]]:
        headers, body = request
        response = self.client.post("/", headers=headers, data=body)
        return response.status_code, response.get_json(silent=True) or {}

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        response = self.client.get(path)
        return response.status_code, response.get_json(silent=True) or {}

    def close(self) -> None:
        import sys

        module = sys.modules.get("main")
        app = getattr(module, "_app", None)
        if app is not None:
            app.close()


FunctionFactory = Callable[..., Function]


@pytest.fixture
def function_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FunctionFactory]:
    """Builds the function from environment variables, as a deployment would."""
    import functions_framework

    made: list[Function] = []

    def make(**env: str) -> Function:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("LOG_FORMAT", env.get("LOG_FORMAT", "text"))
        monkeypatch.setenv("KFP_CHAIN_RETRY_BUDGET_SECONDS", env.get("KFP_CHAIN_RETRY_BUDGET_SECONDS", "1"))
        monkeypatch.setenv("KFP_CHAIN_INDEX", env.get("KFP_CHAIN_INDEX", "list"))
        app = functions_framework.create_app(
            target="on_run_completion", source=str(ROOT / "functions" / "main.py")
        )
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


def run_concurrently(work: Callable[[], Any], workers: int) -> list[Any]:
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers

    def one(i: int) -> None:
        barrier.wait()
        results[i] = work()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def invalid_log() -> Iterator[list[str]]:
    """The reports of invalid RunConfigurations, straight from their logger (the function's own logging
    configuration stops propagation to the root logger, where caplog listens)."""
    handler = _Collected()
    logger = logging.getLogger("kfp_chain.invalid")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
