"""`workflow_events.recognise`: which requests are a KFP run's Workflow, finished, and which run they name.

Pure: headers and bytes in, a value out, built the way each sender builds them (tests/nudge/workflows.py).
The requests the run-completion intake accepts never get here, and the ones it refuses that are not
Workflow events must stay its 400: `recognise` answers None for them.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kfp_chain.errors import InvalidEvent
from kfp_chain.intake import parse_request
from kfp_chain.workflow_events import Ignored, Nudge, Why, recognise

from tests.builders import binary_event, plain_event, structured_event

from .workflows import apiserver_event, argo_event_data, sensor_payload, workflow

RUN = "6f1c0b8e-1d7e-4b7e-9b0a-6b1b0c1d2e3f"
WORKFLOW = "kubeflow/penguin-pipeline-examples-x7k2p"


# -- the Knative ApiServerSource ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Error"])
@pytest.mark.parametrize("change", ["update", "add"])
def test_a_finished_kfp_workflow_from_the_apiserversource_is_a_nudge(
    mode: str, phase: str, change: str
) -> None:
    request = apiserver_event(workflow(phase=phase), mode, f"dev.knative.apiserver.resource.{change}")
    assert recognise(*request) == Nudge(RUN, "kubeflow", WORKFLOW, "apiserversource")


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_running_workflow_is_ignored_as_not_finished(mode: str) -> None:
    seen = recognise(*apiserver_event(workflow(phase="Running"), mode))
    assert isinstance(seen, Ignored) and seen.why == Why.NOT_FINISHED
    assert RUN in seen.message


def test_either_sign_of_completion_is_enough_and_a_final_phase_needs_its_finish_time() -> None:
    only_label = workflow(phase=None, completed_label=True)
    only_status = workflow(phase="Failed", completed_label=False)
    no_finish_time = workflow(phase="Succeeded", completed_label=False, finished=False)
    assert isinstance(recognise(*apiserver_event(only_label)), Nudge)
    assert isinstance(recognise(*apiserver_event(only_status)), Nudge)
    assert recognise(*apiserver_event(no_finish_time)) == Ignored(
        Why.NOT_FINISHED, f"Workflow {WORKFLOW} of run {RUN} has not finished"
    )


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_delete_and_reference_mode_events_are_acknowledged_and_ignored(mode: str) -> None:
    deleted = recognise(*apiserver_event(workflow(), mode, "dev.knative.apiserver.resource.delete"))
    assert isinstance(deleted, Ignored) and deleted.why == Why.DELETED
    reference = {
        "kind": "Workflow",
        "namespace": "kubeflow",
        "name": "w",
        "apiVersion": "argoproj.io/v1alpha1",
    }
    ref = recognise(*apiserver_event(reference, mode, "dev.knative.apiserver.ref.update"))
    assert isinstance(ref, Ignored) and ref.why == Why.NOT_A_WORKFLOW


def test_a_workflow_without_a_usable_run_id_label_is_not_a_kfp_run() -> None:
    for labelled in (workflow(run_id=None), workflow(run_id="not a run id"), workflow(run_id="x" * 64)):
        seen = recognise(*apiserver_event(labelled))
        assert isinstance(seen, Ignored) and seen.why == Why.NOT_KFP, labelled["metadata"]["labels"]


def test_other_kinds_of_object_are_not_workflows() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "kubeflow", "labels": {"pipeline/runid": RUN}},
    }
    foreign = {**workflow(), "apiVersion": "example.com/v1"}
    for document in (pod, foreign):
        seen = recognise(*apiserver_event(document))
        assert isinstance(seen, Ignored) and seen.why == Why.NOT_A_WORKFLOW
    not_an_object = apiserver_event(workflow())[0], b'["a list"]'
    assert recognise(*not_an_object) == Ignored(
        Why.NOT_A_WORKFLOW, "dev.knative.apiserver.resource.update: the data is not a Kubernetes object"
    )


def test_a_structured_event_may_carry_its_data_as_a_string_or_base64() -> None:
    headers, body = apiserver_event(workflow(), "structured")
    envelope = json.loads(body)
    as_string = {**envelope, "data": json.dumps(envelope["data"])}
    as_base64 = {k: v for k, v in envelope.items() if k != "data"}
    as_base64["data_base64"] = base64.b64encode(json.dumps(envelope["data"]).encode()).decode()
    for document in (as_string, as_base64):
        assert isinstance(recognise(headers, json.dumps(document).encode()), Nudge)


def test_the_namespace_is_the_workflows_and_a_malformed_one_is_left_out() -> None:
    assert recognise(*apiserver_event(workflow(namespace="team-a"))) == Nudge(
        RUN, "team-a", "team-a/penguin-pipeline-examples-x7k2p", "apiserversource"
    )
    odd = workflow()
    odd["metadata"]["namespace"] = "Not/A Namespace"
    seen = recognise(*apiserver_event(odd))
    assert isinstance(seen, Nudge) and seen.namespace is None


# -- an Argo Events Sensor ------------------------------------------------------------------------------


def test_the_whole_resource_event_data_is_read() -> None:
    assert recognise(*sensor_payload(argo_event_data(workflow()))) == Nudge(
        RUN, "kubeflow", WORKFLOW, "argo-events"
    )
    added = recognise(*sensor_payload(argo_event_data(workflow(), "ADD")))
    assert isinstance(added, Nudge)


def test_the_payload_the_shipped_sensor_sends_is_read() -> None:
    """infra/components/workflow-nudge-argo-events: type, group, version, resource and body (no oldBody)."""
    data = {k: v for k, v in argo_event_data(workflow()).items() if k != "oldBody"}
    assert recognise(*sensor_payload(data)) == Nudge(RUN, "kubeflow", WORKFLOW, "argo-events")


def test_the_workflow_alone_or_only_the_fields_a_sensor_picked_are_read() -> None:
    whole = workflow()
    picked = {
        "metadata": {
            "namespace": "kubeflow",
            "name": "w",
            "labels": {"pipeline/runid": RUN, "workflows.argoproj.io/completed": "true"},
        }
    }
    assert recognise(*sensor_payload(whole)) == Nudge(RUN, "kubeflow", WORKFLOW, "argo-events")
    assert recognise(*sensor_payload(picked)) == Nudge(RUN, "kubeflow", "kubeflow/w", "argo-events")


def test_argo_events_deletes_other_resources_and_empty_bodies_are_ignored() -> None:
    cases = {
        Why.DELETED: argo_event_data(workflow(), "DELETE"),
        Why.NOT_A_WORKFLOW: {**argo_event_data(workflow()), "group": "apps", "resource": "deployments"},
        Why.NOT_FINISHED: argo_event_data(workflow(phase="Running")),
        Why.NOT_KFP: argo_event_data(workflow(run_id=None)),
    }
    for why, data in cases.items():
        seen = recognise(*sensor_payload(data))
        assert isinstance(seen, Ignored) and seen.why == why, data
    empty = recognise(*sensor_payload({**argo_event_data(workflow()), "body": None}))
    assert isinstance(empty, Ignored) and empty.why == Why.NOT_A_WORKFLOW


def test_a_sensor_may_wrap_the_payload_in_a_cloudevent_of_its_own_type() -> None:
    headers, body = apiserver_event(argo_event_data(workflow()), "structured", "resource")
    assert recognise(headers, body) == Nudge(RUN, "kubeflow", WORKFLOW, "argo-events")


# -- what is not a Workflow event stays the intake's ----------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        apiserver_event(workflow(), "binary"),
        apiserver_event(workflow(), "structured"),
        apiserver_event(workflow(), "binary", "dev.knative.apiserver.resource.delete"),
        sensor_payload(argo_event_data(workflow())),
        sensor_payload(workflow()),
    ],
    ids=["binary", "structured", "delete", "argo-event", "workflow"],
)
def test_the_intake_refuses_every_workflow_event_so_the_dispatch_sees_it(
    request_: tuple[dict[str, str], bytes],
) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse_request(*request_)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "data",
    [
        {"runId": "r1"},
        {"status": "succeded", "runId": "r1"},
        {"status": "succeeded", "runId": "r1", "artifacts": "gs://x"},
        {"status": {"phase": "Succeeded"}, "runId": "r1"},
        {"data": "not an object"},
        {"metadata": "x", "kind": "Workflow"},
        {"type": "UPDATE"},
        {},
    ],
)
@pytest.mark.parametrize(
    "encode", [binary_event, structured_event, plain_event], ids=["binary", "structured", "plain"]
)
def test_a_broken_run_completion_event_is_not_taken_for_a_workflow_event(data, encode) -> None:
    assert recognise(*encode(data)) is None


@pytest.mark.parametrize(
    "request_",
    [
        ({"content-type": "application/json"}, b'{"metadata": '),
        ({"content-type": "application/json"}, b""),
        ({"content-type": "application/json"}, b"[1, 2]"),
        ({"content-type": "application/json"}, b"\xff\xfe"),
        ({"content-type": "application/json"}, b"[" * 5000 + b"]" * 5000),
        # binary mode without the attributes CloudEvents require
        (
            {k: v for k, v in apiserver_event(workflow())[0].items() if k.lower() != "ce-id"},
            apiserver_event(workflow())[1],
        ),
        # a binary event of an unknown apiserver type
        (
            {**apiserver_event(workflow())[0], "ce-type": "dev.knative.apiserver.resource.patch"},
            apiserver_event(workflow())[1],
        ),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "type": "dev.knative.apiserver.resource.update", "source": "s", "data": {}}',
        ),
    ],
    ids=["bad-json", "empty", "list", "not-utf8", "deep", "no-ce-id", "unknown-type", "no-id"],
)
def test_what_is_no_event_at_all_is_not_recognised(request_: tuple[dict[str, str], bytes]) -> None:
    assert recognise(*request_) is None


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
keys = st.sampled_from(
    [
        "kind",
        "apiVersion",
        "metadata",
        "labels",
        "body",
        "type",
        "group",
        "status",
        "phase",
        "finishedAt",
        "pipeline/runid",
        "workflows.argoproj.io/completed",
        "data",
        "specversion",
        "id",
        "source",
        "namespace",
        "name",
    ]
)
shaped = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(
            [
                "true",
                "Succeeded",
                "UPDATE",
                "DELETE",
                "Workflow",
                "argoproj.io/v1alpha1",
                "argoproj.io",
                RUN,
                "dev.knative.apiserver.resource.update",
            ]
        ),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)
headers = st.one_of(
    st.just({"content-type": "application/json"}),
    st.just({"content-type": "application/cloudevents+json"}),
    st.fixed_dictionaries(
        {
            "ce-specversion": st.just("1.0"),
            "ce-id": st.text(max_size=3),
            "ce-source": st.text(max_size=3),
            "ce-type": st.sampled_from(
                ["dev.knative.apiserver.resource.update", "dev.knative.apiserver.ref.add", "x"]
            ),
        }
    ),
)


@settings(max_examples=300, deadline=None, database=None)
@given(headers=headers, document=st.one_of(json_values, shaped))
def test_odd_input_never_raises_and_a_nudge_always_names_a_valid_run_id(headers, document) -> None:
    seen = recognise(headers, json.dumps(document).encode())
    assert seen is None or isinstance(seen, Ignored | Nudge)
    if isinstance(seen, Nudge):
        assert seen.run_id == RUN
