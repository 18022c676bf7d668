"""Kubernetes Events on the dependent RunConfiguration, as `kubectl describe mlrc` selects them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import kubernetes.client
import pytest
from kfp_chain.adapters.kubernetes.events import KubernetesEventObserver
from kfp_chain.chain import Outcome
from kfp_chain.intake import RunCompletion
from kfp_chain.runconfiguration import RcKey
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import EXAMPLES_RC, TRAINING_RC, binary_event, event_data, seed_objects
from tests.support import Function

NAMESPACE, NAME = TRAINING_RC.split("/")
ORDER = ["TriggerStarted", "TriggerDuplicate", "TriggerSkipped"]  # Events of one second tie on timestamps


def described(kube: FakeKubernetes) -> list[dict[str, object]]:
    """The Events `kubectl describe` lists: selected by involvedObject name, namespace, kind and uid."""
    rc = kube.get(NAMESPACE, NAME)
    assert rc is not None
    selector = ",".join(
        [
            f"involvedObject.name={NAME}",
            f"involvedObject.namespace={NAMESPACE}",
            "involvedObject.kind=RunConfiguration",
            f"involvedObject.uid={rc['metadata']['uid']}",
        ]
    )
    api = kubernetes.client.CoreV1Api(kube.api_client())
    events = api.list_namespaced_event(NAMESPACE, field_selector=selector).to_dict()["items"]
    return [{"reason": e["reason"], "type": e["type"], "message": e["message"]} for e in events]


@pytest.fixture
def function(cluster_function: Callable[..., Function], kube: FakeKubernetes) -> Function:
    for obj in seed_objects():
        kube.put(obj)
    return cluster_function(KFP_CHAIN_INDEX="list")


def test_started_duplicate_and_skipped_each_leave_an_event_on_the_dependent(
    function: Function, kube: FakeKubernetes, kfp: FakeKfp
) -> None:
    started = function.post(binary_event(event_data(run_id="r-1")))
    function.post(binary_event(event_data(run_id="r-1")))
    function.post(binary_event(event_data(run_id="r-2", artifacts=[])))

    run_id = started[1]["dependents"][0]["run_id"]
    display = f"{TRAINING_RC} <- {EXAMPLES_RC} run r-1"
    assert sorted(described(kube), key=lambda e: ORDER.index(str(e["reason"]))) == [
        {
            "reason": "TriggerStarted",
            "type": "Normal",
            "message": f"started KFP run {run_id} ({display}) after {EXAMPLES_RC} run r-1",
        },
        {
            "reason": "TriggerDuplicate",
            "type": "Normal",
            "message": f"not started again: {EXAMPLES_RC} run r-1 already triggered KFP run (recorded) (already-triggered)",
        },
        {
            "reason": "TriggerSkipped",
            "type": "Warning",
            "message": f"not started after {EXAMPLES_RC} run r-2: missing-artifact: parameter 'examples_location' <- "
            f"{EXAMPLES_RC}:examples: event r-2 of {EXAMPLES_RC} has no artifact 'examples' (it has: none)",
        },
    ]
    stored = kube.events(NAMESPACE)[0]
    assert stored["involvedObject"]["apiVersion"] == "pipelines.kubeflow.org/v1beta1"
    assert stored["source"] == {"component": "kfp-chain"}
    assert stored["count"] == 1 and stored["firstTimestamp"] == stored["lastTimestamp"]
    assert kube.events("base-namespace") == []


def test_a_temporary_fault_writes_no_event(function: Function, kube: FakeKubernetes, kfp: FakeKfp) -> None:
    kfp.faults.add(method="POST", path=r"/runs$", status=503, times=None)

    status, _ = function.post(binary_event(event_data(run_id="r-3")))

    assert status == 503
    assert kube.events() == []


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def event_log() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("kfp_chain.kube_events")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_an_event_that_cannot_be_written_is_logged_and_the_run_still_starts(
    function: Function, kube: FakeKubernetes, kfp: FakeKfp, event_log: Collect
) -> None:
    kube.faults.add(method="POST", path=r"/events$", status=500, times=None)

    status, body = function.post(binary_event(event_data(run_id="r-4")))

    assert (status, body["dependents"][0]["outcome"]) == (200, "started")
    assert len(kfp.runs()) == 1
    assert kube.events() == []
    (record,) = [r for r in event_log.records if r.getMessage() == "could not write Kubernetes Event"]
    assert record.dependent == TRAINING_RC  # type: ignore[attr-defined]
    assert record.reason == "TriggerStarted"  # type: ignore[attr-defined]
    assert "500" in record.error  # type: ignore[attr-defined]


def test_without_the_uid_the_event_is_still_written(kube: FakeKubernetes) -> None:
    observer = KubernetesEventObserver(kube.api_client(), instance="replica-1")
    event = RunCompletion(RcKey("base-namespace", "up"), "succeeded", "u-1")

    observer.on_outcome(
        event, Outcome(RcKey("elsewhere", "gone"), "skipped", reason="cycle", detail="a -> b")
    )

    (written,) = kube.events("elsewhere")
    assert written["involvedObject"] == {
        "apiVersion": "pipelines.kubeflow.org/v1beta1",
        "kind": "RunConfiguration",
        "name": "gone",
        "namespace": "elsewhere",
    }
    assert (written["reason"], written["type"]) == ("TriggerSkipped", "Warning")
    assert written["message"] == "not started after base-namespace/up run u-1: cycle: a -> b"
    assert written["reportingInstance"] == "replica-1"


def test_a_uid_the_index_knows_is_used_without_asking_the_api_server(kube: FakeKubernetes) -> None:
    observer = KubernetesEventObserver(
        kube.api_client(), known_uid=lambda key: "uid-from-the-index" if key == RcKey("t", "down") else None
    )

    observer.write(RcKey("t", "down"), "TriggerStarted", "started", "Normal")

    (written,) = kube.events("t")
    assert written["involvedObject"]["uid"] == "uid-from-the-index"
    assert kube.calls("GET", r"/runconfigurations/") == []


def test_a_skipped_trigger_delivered_again_and_again_leaves_one_event(
    function: Function, kube: FakeKubernetes, kfp: FakeKfp
) -> None:
    """Redeliveries and copies decide the same skip again: one Event per trigger and reason."""
    for _ in range(3):
        function.post(binary_event(event_data(run_id="r-2", artifacts=[])))
    function.post(binary_event(event_data(run_id="r-3", artifacts=[])))  # another trigger: its own Event

    skipped = [e for e in described(kube) if e["reason"] == "TriggerSkipped"]
    assert len(skipped) == 2, skipped
    assert kfp.runs() == []


def test_replicas_write_one_invalid_run_configuration_event_per_object_and_problem(
    kube: FakeKubernetes,
) -> None:
    from kfp_chain.invalid import InvalidObject

    replicas = [KubernetesEventObserver(kube.api_client(), instance=f"replica-{i}") for i in range(3)]
    broken = InvalidObject("t/down", ("spec.run.pipeline is missing",), RcKey("t", "down"), "uid-1")
    other = InvalidObject("t/down", ("spec.triggers is not a list",), RcKey("t", "down"), "uid-1")

    for replica in replicas:
        replica.on_invalid(broken)
    replicas[0].on_invalid(other)

    written = sorted(e["message"] for e in kube.events("t") if e["reason"] == "InvalidRunConfiguration")
    assert written == [
        "skipped by kfp-chain until fixed: spec.run.pipeline is missing",
        "skipped by kfp-chain until fixed: spec.triggers is not a list",
    ]
