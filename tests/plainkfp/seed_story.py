"""Builders and fixtures for the seed tutorial told whole on plain KFP (no kfp-operator).

A deployment is the function targets of functions/main.py (`on_reconcile`, `on_kfp_poll`,
`on_run_completion`) as functions-framework serves them, one module per replica, on the environment
the plain-KFP overlay gives them: the Kubernetes and KFP fakes over HTTP, the ML Metadata fake over
gRPC, schedules on. KFP's side of a run (finishing it, recording its outputs in ML Metadata or its
tasks) is done here the way KFP's own components would.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.mlmd import FakeMlmd, Task

from tests.builders import TRAINING_RC
from tests.support import function_app

EXAMPLES_STATUS = ("base-namespace", "penguin-pipeline-examples-rc")
EXAMPLES_PIPELINE = "penguin-pipeline-examples"


def finish_in_mlmd(kfp: FakeKfp, mlmd: FakeMlmd, run_id: str) -> str:
    """The run as KFP <= 2.18 leaves it: finished in KFP, its outputs in ML Metadata; the URI."""
    recorded = mlmd.record_run(run_id, EXAMPLES_PIPELINE, [Task("CsvExampleGen", {"examples": {}})])
    kfp.finish_run(run_id, "SUCCEEDED")
    return recorded.uri("CsvExampleGen", "examples")


def training_runs(kfp: FakeKfp) -> list[dict[str, Any]]:
    return [r for r in kfp.runs() if r["display_name"].startswith(f"{TRAINING_RC} <- ")]


def examples_pipeline(kfp: FakeKfp) -> tuple[str, str]:
    """The examples pipeline's id and latest version id, as a notebook uploading runs would pick them."""
    [pipeline] = [p for p in kfp._pipelines.values() if p["display_name"] == EXAMPLES_PIPELINE]
    versions = kfp._versions[pipeline["pipeline_id"]].values()
    return pipeline["pipeline_id"], max(versions, key=kfp._order)["pipeline_version_id"]


class Deployment:
    """Replicas of the function targets; each `replica` loads functions/main.py afresh, as a pod would."""

    def __init__(self) -> None:
        self._modules: list[Any] = []

    def replica(self, target: str) -> Any:
        client = function_app(target).test_client()
        self._modules.append(sys.modules["main"])
        return client

    def post(
        self, target: str, request: tuple[dict[str, str], bytes] = ({}, b"")
    ) -> tuple[int, dict[str, Any]]:
        """One POST to a new replica of `target` (by default a PingSource tick): status and JSON body."""
        headers, body = request
        answer = self.replica(target).post("/", headers=headers, data=body)
        return answer.status_code, answer.get_json()

    def at_once(self, target: str, replicas: int = 2) -> list[tuple[int, dict[str, Any]]]:
        """One POST to each of `replicas` replicas of `target`, released together."""
        clients = [self.replica(target) for _ in range(replicas)]
        gate = threading.Barrier(replicas, timeout=30)
        answers: list[tuple[int, dict[str, Any]]] = []

        def tick(client: Any) -> None:
            gate.wait()
            answer = client.post("/", data=b"")
            answers.append((answer.status_code, answer.get_json()))

        threads = [threading.Thread(target=tick, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return answers

    def close(self) -> None:
        for module in self._modules:
            poll = getattr(module, "_poll", None)
            for app in (
                getattr(module, "_app", None),
                getattr(module, "_reconcile", None),
                poll and poll.app,
            ):
                if app is not None:
                    app.close()


@pytest.fixture
def plain_kfp_env(cluster_env: dict[str, str], mlmd: FakeMlmd) -> dict[str, str]:
    """What the plain-KFP overlay gives every target and the CLI: schedules on, ML Metadata's address."""
    return {**cluster_env, "KFP_CHAIN_SCHEDULES": "true", "KFP_CHAIN_MLMD_ADDRESS": mlmd.address}


@pytest.fixture
def deployment(plain_kfp_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for key, value in plain_kfp_env.items():
        monkeypatch.setenv(key, value)
    made = Deployment()
    yield made
    made.close()
