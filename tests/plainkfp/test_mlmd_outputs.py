"""A finished run's outputs as the real resolver reads them from ML Metadata, over real gRPC.

Runs are written into the fake the way KFP's driver and launcher write them (kfp_fakes.mlmd.store).
"""

from __future__ import annotations

import pytest
from kfp_chain.adapters.ports import OutputArtifact
from kfp_chain.errors import ArtifactsNotYetKnown, TemporaryError
from kfp_fakes.mlmd import FakeMlmd, Task

RUN = "9f1c6a52-5b1e-4c0a-a3c5-2d7f0e3b8a11"
EARLIER = "0b7d2e44-1a2b-4c3d-8e9f-001122334455"


def by_task_output(outputs: tuple[OutputArtifact, ...]) -> dict[tuple[str, str], OutputArtifact]:
    return {(o.task_name, o.output): o for o in outputs}


def test_the_outputs_of_a_kfp_shaped_run_are_every_output_of_every_task(mlmd: FakeMlmd, resolver) -> None:
    run = mlmd.record_run(
        RUN,
        "penguin-pipeline-examples",
        [
            Task("example-gen", {"examples": {}}, types={"examples": "system.Dataset"}),
            Task("trainer", {"model": {"accuracy": 0.93}, "metrics": {}}, types={"model": "system.Model"}),
        ],
    )

    outputs = resolver.outputs(RUN)

    assert sorted(by_task_output(outputs)) == [
        ("example-gen", "examples"),
        ("trainer", "metrics"),
        ("trainer", "model"),
    ]
    examples = by_task_output(outputs)[("example-gen", "examples")]
    assert examples.uri == run.uri("example-gen", "examples")
    assert examples.uri.startswith(
        f"minio://mlpipeline/v2/artifacts/penguin-pipeline-examples/{RUN}/example-gen/"
    )
    assert examples.uri.endswith("/examples")
    assert examples.display_name == "example-gen"
    assert by_task_output(outputs)[("trainer", "model")].metadata == {
        "accuracy": 0.93,
        "display_name": "model",
    }


def test_the_output_name_comes_from_the_event_even_when_user_metadata_overrides_display_name(
    mlmd: FakeMlmd, resolver
) -> None:
    mlmd.record_run(RUN, "pipe", [Task("trainer", {"model": {"display_name": "Penguin classifier v7"}})])

    (model,) = resolver.outputs(RUN)

    assert model.output == "model"
    assert model.metadata["display_name"] == "Penguin classifier v7"


def test_a_task_with_a_display_name_of_its_own_keeps_its_dag_key_as_task_name(
    mlmd: FakeMlmd, resolver
) -> None:
    mlmd.record_run(RUN, "pipe", [Task("trainer", {"model": {}}, display_name="Train the model")])

    (model,) = resolver.outputs(RUN)

    assert (model.task_name, model.display_name) == ("trainer", "Train the model")


def test_metadata_is_plain_json_with_booleans_as_one_and_zero_and_without_store_session_info(
    mlmd: FakeMlmd, resolver
) -> None:
    metadata = {
        "pushed": True,
        "blessed": False,
        "epochs": 12,
        "accuracy": 0.5,
        "framework": "tensorflow",
        "labels": ["adelie", "gentoo", 3],
        "schema": {"columns": ["bill", "flipper"], "nested": {"deep": True}},
        "odd": {"list": [1]},  # a user's dict whose only key is "list" stays a dict
    }
    mlmd.record_run(RUN, "pipe", [Task("trainer", {"model": metadata})])

    (model,) = resolver.outputs(RUN)

    assert model.metadata == {
        "pushed": 1,
        "blessed": 0,
        "epochs": 12.0,
        "accuracy": 0.5,
        "framework": "tensorflow",
        "labels": ["adelie", "gentoo", 3.0],
        "schema": {"columns": ["bill", "flipper"], "nested": {"deep": True}},
        "odd": {"list": [1.0]},
        "display_name": "model",
    }
    assert type(model.metadata["pushed"]) is int
    assert "store_session_info" not in model.metadata


def test_a_cached_task_reports_the_earlier_runs_artifacts_as_this_runs_outputs(
    mlmd: FakeMlmd, resolver
) -> None:
    earlier = mlmd.record_run(EARLIER, "pipe", [Task("example-gen", {"examples": {"rows": 344}})])
    mlmd.record_run(RUN, "pipe", [Task("example-gen", cached_from=EARLIER), Task("trainer", {"model": {}})])

    outputs = by_task_output(resolver.outputs(RUN))

    assert outputs[("example-gen", "examples")].uri == earlier.uri("example-gen", "examples")
    assert outputs[("example-gen", "examples")].metadata["rows"] == 344.0
    assert ("trainer", "model") in outputs


@pytest.mark.parametrize("state", ["FAILED", "CANCELED", "RUNNING"])
def test_what_a_failed_cancelled_or_unfinished_task_left_behind_is_not_an_output(
    mlmd: FakeMlmd, resolver, state: str
) -> None:
    mlmd.record_run(
        RUN, "pipe", [Task("pusher", {"pushed_model": {}}, state=state), Task("trainer", {"model": {}})]
    )

    assert [(o.task_name, o.output) for o in resolver.outputs(RUN)] == [("trainer", "model")]


def test_the_root_dag_is_no_task_even_when_it_points_at_the_pipelines_outputs(
    mlmd: FakeMlmd, resolver
) -> None:
    mlmd.record_run(RUN, "pipe", [Task("trainer", {"model": {}})], root_outputs=[("trainer", "model")])

    assert [(o.task_name, o.output) for o in resolver.outputs(RUN)] == [("trainer", "model")]


def test_outputs_of_one_task_are_ordered_as_its_executions_were_recorded(mlmd: FakeMlmd, resolver) -> None:
    mlmd.record_run(
        RUN,
        "pipe",
        [Task("shard", {"part": {"i": 0}}), Task("other", {"x": {}}), Task("shard", {"part": {"i": 1}})],
    )

    shards = sorted((o for o in resolver.outputs(RUN) if o.task_name == "shard"), key=lambda o: o.order)

    assert [o.metadata["i"] for o in shards] == [0.0, 1.0]
    assert len({o.order for o in resolver.outputs(RUN)}) == 3


def test_a_run_without_task_outputs_has_none(mlmd: FakeMlmd, resolver) -> None:
    mlmd.record_run(RUN, "pipe", [Task("say-hello")])

    assert resolver.outputs(RUN) == ()


def test_a_run_ml_metadata_does_not_know_is_a_temporary_fault_not_a_run_without_outputs(
    mlmd: FakeMlmd, resolver
) -> None:
    mlmd.record_run(EARLIER, "pipe", [Task("trainer", {"model": {}})])

    with pytest.raises(ArtifactsNotYetKnown) as raised:
        resolver.outputs(RUN)

    assert isinstance(raised.value, TemporaryError)
    assert RUN in str(raised.value)


def test_a_run_learned_late_is_read_once_ml_metadata_has_it(mlmd: FakeMlmd, resolver) -> None:
    mlmd.faults.add(path="GetContextByTypeAndName", mode="unknown", times=1)
    mlmd.record_run(RUN, "pipe", [Task("trainer", {"model": {}})])

    with pytest.raises(ArtifactsNotYetKnown):
        resolver.outputs(RUN)
    assert [o.output for o in resolver.outputs(RUN)] == ["model"]


def test_the_run_is_looked_up_by_its_pipeline_run_context_not_by_any_context_of_that_name(
    mlmd: FakeMlmd, resolver
) -> None:
    mlmd.record_run(RUN, RUN, [Task("trainer", {"model": {}})])  # a pipeline named like the run

    assert [o.output for o in resolver.outputs(RUN)] == ["model"]
    (asked,) = mlmd.calls("GetContextByTypeAndName")
    assert (asked.request.type_name, asked.request.context_name) == ("system.PipelineRun", RUN)
