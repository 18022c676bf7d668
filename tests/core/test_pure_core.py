"""The pure steps (model, intake, index, cycles, resolution, naming) without any server."""

from __future__ import annotations

import pytest
from kfp_chain.adapters.ports import MAX_DISPLAY_NAME, Trigger
from kfp_chain.dependents import DependentsIndex
from kfp_chain.errors import InvalidEvent, UnresolvableParameter
from kfp_chain.intake import parse_data, parse_request
from kfp_chain.parameters import resolve_parameters
from kfp_chain.runconfiguration import RcKey, parse_runconfiguration

from tests.builders import binary_event, event_data, rc, ref, seed_objects, structured_event


def parsed(*objects):
    return [parse_runconfiguration(o) for o in objects]


def test_a_name_only_reference_means_the_referrers_namespace():
    [down] = parsed(rc("team", "down", triggers=["up", "other/up"], parameters=[ref("up", "x")]))
    assert down.triggered_by == (RcKey("team", "up"), RcKey("other", "up"))
    assert down.parameters[0].ref == RcKey("team", "up")


def test_value_and_value_from_both_set_is_reported_as_a_problem():
    obj = rc("a", "b", parameters=[{**ref("up", "x"), "value": "literal"}])
    assert "both value and valueFrom" in parse_runconfiguration(obj).problems[0]


def test_the_seed_parses_into_its_trigger_and_reference():
    examples, training = parsed(*seed_objects())
    assert examples.artifacts[0].path == "CsvExampleGen:examples"
    assert training.triggered_by == (RcKey("base-namespace", "penguin-pipeline-examples-rc"),)


def test_binary_and_structured_decode_to_the_same_event():
    a = parse_request(*binary_event(event_data()))
    b = parse_request(*structured_event(event_data()))
    assert (a.run_configuration, a.run_id, a.artifacts) == (b.run_configuration, b.run_id, b.artifacts)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "unknown"}, "status"),
        ({"status": 3}, "status"),
        ({"runConfigurationName": "UPPER/case"}, "runConfigurationName"),
        ({"runId": ""}, "runId"),
        ({"artifacts": {"name": "x"}}, "artifacts"),
        ({"artifacts": [{"name": "x", "location": "javascript:alert(1)"}]}, "artifacts[0].location"),
        ({"artifacts": [{"location": "gs://x"}]}, "artifacts[0].name"),
        ({"runEndTime": "yesterday"}, "runEndTime"),
    ],
)
def test_each_invalid_field_is_named(change, field):
    with pytest.raises(InvalidEvent) as caught:
        parse_data({**event_data(), **change})
    assert caught.value.field == field


def test_unknown_fields_are_accepted_for_forward_compatibility():
    assert parse_data({**event_data(), "someFutureField": {"x": 1}}).run_id == "123"


def test_a_body_over_the_limit_is_413():
    with pytest.raises(InvalidEvent) as caught:
        parse_request({"Content-Type": "application/json"}, b" " * 2048, max_body_bytes=1024)
    assert caught.value.status == 413


def test_the_index_follows_upserts_and_removals():
    index = DependentsIndex(parsed(rc("a", "up"), rc("a", "down", triggers=["up"])))
    assert [d.key.name for d in index.dependents_of(RcKey("a", "up"))] == ["down"]
    index.upsert(parse_runconfiguration(rc("a", "down", triggers=["elsewhere"])))
    assert index.dependents_of(RcKey("a", "up")) == []
    index.remove(RcKey("a", "down"))
    assert index.dependents_of(RcKey("a", "elsewhere")) == []
    assert len(index) == 1


def test_in_a_cycle_the_optional_feedback_edge_is_refused_and_the_required_one_kept():
    index = DependentsIndex(
        parsed(
            rc("a", "x", triggers=["y"], parameters=[ref("y", "out", optional=True)]),
            rc("a", "y", triggers=["x"], parameters=[ref("x", "out")]),
        )
    )
    x, y = RcKey("a", "x"), RcKey("a", "y")
    assert index.refused_edge(y, x) is not None
    assert index.refused_edge(x, y) is None


def test_a_cycle_of_required_edges_refuses_every_edge_and_a_self_trigger_is_a_cycle():
    index = DependentsIndex(
        parsed(
            rc("a", "x", triggers=["b/y"], parameters=[ref("b/y", "o")]),
            rc("b", "y", triggers=["a/x"], parameters=[ref("a/x", "o")]),
            rc("c", "self", triggers=["self"]),
            rc("c", "chain", triggers=["self"]),
        )
    )
    assert set(index.cycles()) == {
        (RcKey("a", "x"), RcKey("b", "y")),
        (RcKey("b", "y"), RcKey("a", "x")),
        (RcKey("c", "self"), RcKey("c", "self")),
    }


def test_resolution_names_the_exact_reference_that_failed():
    index = DependentsIndex(
        parsed(rc("a", "up"), rc("a", "down", triggers=["up"], parameters=[ref("up", "model")]))
    )
    event = parse_data(event_data("a/up"))
    with pytest.raises(
        UnresolvableParameter, match=r"'p' <- a/up:model: .* has no artifact 'model' \(it has: examples\)"
    ):
        resolve_parameters(index.get(RcKey("a", "down")), event, index.get)


def test_a_reference_to_an_rc_without_a_succeeded_run_says_so():
    index = DependentsIndex(
        parsed(rc("a", "up"), rc("a", "base"), rc("a", "down", parameters=[ref("base", "v")]))
    )
    with pytest.raises(UnresolvableParameter, match="a/base has no succeeded run yet"):
        resolve_parameters(index.get(RcKey("a", "down")), parse_data(event_data("a/up")), index.get)


def test_display_names_are_deterministic_readable_and_bounded():
    short = Trigger(RcKey("ns", "down"), RcKey("ns", "up"), "r1")
    assert short.display_name == "ns/down <- ns/up run r1"
    long_a = Trigger(RcKey("n" * 63, "d" * 200), RcKey("ns", "up"), "r1")
    long_b = Trigger(RcKey("n" * 63, "d" * 200), RcKey("ns", "up"), "r2")
    assert len(long_a.display_name) <= MAX_DISPLAY_NAME
    assert long_a.display_name != long_b.display_name
    assert long_a.display_name == Trigger(RcKey("n" * 63, "d" * 200), RcKey("ns", "up"), "r1").display_name


def test_v1alpha6_runtime_parameters_are_read_like_v1beta1_parameters():
    obj = rc("a", "down", triggers=["up"])
    obj["apiVersion"] = "pipelines.kubeflow.org/v1alpha6"
    obj["spec"]["run"]["runtimeParameters"] = [ref("up", "examples", param="e"), {"name": "n", "value": "1"}]
    obj["spec"]["run"]["parameters"] = [{"name": "n", "value": "2"}]
    down = parse_runconfiguration(obj)
    assert [(p.name, p.ref, p.value) for p in down.parameters] == [
        ("e", RcKey("a", "up"), None),
        ("n", None, "2"),
    ]
