"""In steady state an event costs no Kubernetes read: lookups come from the watched index.

Drives the real function (functions/main.py behind functions-framework) against the Kubernetes
and KFP fakes, and counts the requests the Kubernetes fake saw while it handled the events.
"""

from __future__ import annotations

from collections.abc import Callable

from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import binary_event, event_data, runconfiguration
from tests.support import Function, eventually

MakeFunction = Callable[..., Function]
LISTS = r"/apis/pipelines\.kubeflow\.org/v1beta1/runconfigurations$"


def seed(kube: FakeKubernetes, count: int) -> None:
    for i in range(count):
        kube.put(runconfiguration(f"lonely-{i:04d}"))
    kube.put(runconfiguration("down", triggers=("upstream",), pipeline="pipe"))
    kube.put(runconfiguration("upstream"))


def ready(function: Function) -> bool:
    return function.get("/readyz")[0] == 200


def test_events_nobody_depends_on_make_no_kubernetes_call(
    kube: FakeKubernetes, cluster_function: MakeFunction
) -> None:
    seed(kube, 50)
    function = cluster_function(KFP_CHAIN_INDEX="watch", RECORD_LATEST_RUNS="false")
    assert eventually(lambda: ready(function))
    assert kube.wait_for_watches(1)
    kube.reset_log()

    for i in range(40):
        status, body = function.post(binary_event(event_data(f"team/lonely-{i:04d}", run_id=f"r{i}")))
        assert status == 200, body

    assert [(r.method, r.path) for r in kube.calls()] == []


def test_recording_the_latest_run_is_the_only_call_left(
    kube: FakeKubernetes, cluster_function: MakeFunction
) -> None:
    seed(kube, 5)
    function = cluster_function(KFP_CHAIN_INDEX="watch", RECORD_LATEST_RUNS="true")
    assert eventually(lambda: ready(function))
    assert kube.wait_for_watches(1)
    kube.reset_log()

    for i in range(10):
        assert function.post(binary_event(event_data(f"team/lonely-{i % 5:04d}", run_id=f"r{i}")))[0] == 200

    calls = [(r.method, r.path) for r in kube.calls()]
    assert len(calls) == 10
    assert all(method == "PATCH" and path.endswith("/status") for method, path in calls)


def test_a_triggering_event_reads_no_list(
    kube: FakeKubernetes, kfp: FakeKfp, cluster_function: MakeFunction
) -> None:
    seed(kube, 5)
    function = cluster_function(KFP_CHAIN_INDEX="watch", RECORD_LATEST_RUNS="false")
    assert eventually(lambda: ready(function))
    assert kube.wait_for_watches(1)
    kube.reset_log()

    status, body = function.post(binary_event(event_data("team/upstream", run_id="u1")))

    assert status == 200, body
    assert [d["outcome"] for d in body["dependents"]] == ["started"], body
    assert [r.query for r in kube.calls("GET", LISTS)] == [], "the dependents came from the index"
    touched = {r.path.split("/runconfigurations/")[-1] for r in kube.calls(path="/runconfigurations")}
    assert touched <= {"down", "down/status"}, "only the claim and completion on the dependent"


def test_the_naive_list_mode_lists_on_every_event(
    kube: FakeKubernetes, cluster_function: MakeFunction
) -> None:
    seed(kube, 5)
    function = cluster_function(KFP_CHAIN_INDEX="list", RECORD_LATEST_RUNS="false")
    kube.reset_log()

    for i in range(3):
        assert function.post(binary_event(event_data("team/lonely-0001", run_id=f"r{i}")))[0] == 200

    assert len(kube.calls("GET", LISTS)) == 3
