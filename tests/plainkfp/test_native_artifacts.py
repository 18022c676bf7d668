"""KfpArtifactResolver: a run's outputs from KFP's native task API, over real HTTP against the KFP fake.

The client is the one the launcher uses (`kfp_client`: real kfp.Client, bounded timeouts, bearer
token); the fake serves `GET /apis/v2beta1/runs/{id}/tasks` with the tasks KFP's driver and launcher
would write (tests/fakes/kfp_fakes/kfp/tasks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kfp_chain.adapters.kfp.artifacts import KfpArtifactResolver
from kfp_chain.adapters.kfp.launcher import kfp_client
from kfp_chain.adapters.ports import OutputArtifact
from kfp_chain.artifact_paths import select
from kfp_chain.errors import BackendUnavailable, DeploymentFault, TemporaryError
from kfp_chain.runconfiguration import Artifact, ArtifactDeclaration
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kfp.tasks import FakeArtifact, FakeTask

TASKS = r"/runs/[^/]+/tasks$"


@pytest.fixture
def connect(kfp: FakeKfp, private_home: Path) -> Callable[..., KfpArtifactResolver]:
    def make(page_size: int = 100, **client: Any) -> KfpArtifactResolver:
        return KfpArtifactResolver(lambda: kfp_client(kfp.url, **client), page_size=page_size)

    return make


@pytest.fixture
def resolver(connect: Callable[..., KfpArtifactResolver]) -> KfpArtifactResolver:
    return connect()


def start_run(kfp: FakeKfp, resolver: KfpArtifactResolver, name: str = "r") -> str:
    """A run stored by the fake, created through the real client (as kfp-chain's launcher creates them)."""
    import kfp_server_api

    pipeline_id = resolver.client.get_pipeline_id("pipe")
    versions = resolver.client.list_pipeline_versions(pipeline_id).pipeline_versions
    body = kfp_server_api.V2beta1Run(
        display_name=name,
        pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id=pipeline_id, pipeline_version_id=versions[0].pipeline_version_id
        ),
    )
    run_id = str(resolver.client._run_api.run_service_create_run(run=body).run_id)
    kfp.set_run_state(run_id, "SUCCEEDED")
    return run_id


def brief(outputs: tuple[OutputArtifact, ...]) -> list[tuple[str, str, str, str | None, int]]:
    return [(o.task_name, o.display_name, o.output, o.uri, o.order) for o in outputs]


def test_outputs_of_runtime_and_importer_tasks_without_metrics_logs_or_dag_copies(
    kfp: FakeKfp, resolver: KfpArtifactResolver
) -> None:
    run_id = start_run(kfp, resolver)
    kfp.add_tasks(
        run_id,
        [
            FakeTask("importer", {"artifact": ["gs://data/raw"]}, importer=True),
            FakeTask(
                "train-model",
                {
                    "model": [FakeArtifact("gs://b/model", {"framework": "sklearn"})],
                    "stats": ["gs://b/stats"],
                },
                display_name="Train the model",
                metrics={"accuracy": 0.93, "loss": 0.2},
                logs=True,
                parent="training",  # nested in a DAG: its outputs are copied up to it and to ROOT
            ),
        ],
    )

    outputs = resolver.outputs(run_id)

    assert brief(outputs) == [
        ("importer", "importer", "artifact", "gs://data/raw", 0),
        ("train-model", "Train the model", "model", "gs://b/model", 1),
        ("train-model", "Train the model", "stats", "gs://b/stats", 2),
    ]
    assert outputs[1].metadata == {"framework": "sklearn"}
    listed = [t for t in kfp.add_tasks(run_id, []) if t["type"] in ("ROOT", "DAG")]
    assert all(t.get("outputs", {}).get("artifacts") for t in listed)  # the copies were there to skip


def test_loop_iterations_count_in_iteration_order_even_when_created_in_the_same_second(
    kfp: FakeKfp, resolver: KfpArtifactResolver
) -> None:
    run_id = start_run(kfp, resolver)
    same_second = datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)
    kfp.add_tasks(
        run_id,
        [
            FakeTask(
                "train",
                {"model": [FakeArtifact(f"gs://b/{i}", {"acc": acc})]},
                iteration=i,
                created=same_second,
            )
            for i, acc in ((2, 0.99), (0, 0.7), (1, 0.95))
        ],
    )

    outputs = resolver.outputs(run_id)

    assert [o.uri for o in outputs] == ["gs://b/0", "gs://b/1", "gs://b/2"]
    found, missing = select(
        [
            ArtifactDeclaration("first", "train:model"),
            ArtifactDeclaration("good", "train:model[acc == 0.95 or acc == 0.99]"),
            ArtifactDeclaration("second_good", "train:model:1[acc == 0.95 or acc == 0.99]"),
            ArtifactDeclaration("third_good", "train:model:2[acc == 0.95 or acc == 0.99]"),
        ],
        outputs,
    )
    assert found == (
        Artifact("first", "gs://b/0"),
        Artifact("good", "gs://b/1"),
        Artifact("second_good", "gs://b/2"),
    )
    assert missing == ("third_good",)


def test_metadata_arrives_as_plain_json_so_a_bool_compares_as_true_and_as_1(
    kfp: FakeKfp, resolver: KfpArtifactResolver
) -> None:
    run_id = start_run(kfp, resolver)
    kfp.add_tasks(
        run_id,
        [
            FakeTask("pusher", {"pushed_model": [FakeArtifact("gs://b/skipped", {"pushed": False})]}),
            FakeTask(
                "pusher",
                {
                    "pushed_model": [
                        FakeArtifact("gs://b/pushed", {"pushed": True, "info": {"stage": "prod"}})
                    ]
                },
            ),
        ],
    )

    outputs = resolver.outputs(run_id)

    assert outputs[1].metadata == {"pushed": True, "info": {"stage": "prod"}}
    found, _ = select(
        [
            ArtifactDeclaration("as_int", "pusher:pushed_model[pushed == 1]"),
            ArtifactDeclaration("as_bool", "pusher:pushed_model[pushed == true]"),
            ArtifactDeclaration("nested", "pusher:pushed_model[info.stage == prod]"),
        ],
        outputs,
    )
    assert {a.location for a in found} == {"gs://b/pushed"} and len(found) == 3


def test_every_page_is_read_with_order_by_and_the_token(
    kfp: FakeKfp, connect: Callable[..., KfpArtifactResolver]
) -> None:
    resolver = connect(page_size=2)
    run_id = start_run(kfp, resolver)
    kfp.add_tasks(
        run_id, [FakeTask(f"t{i}", {"out": [f"gs://b/{i}"]}) for i in range(5)]
    )  # 6 tasks with ROOT
    kfp.reset_log()

    outputs = resolver.outputs(run_id)

    assert [o.uri for o in outputs] == [f"gs://b/{i}" for i in range(5)]
    calls = kfp.calls("GET", TASKS)
    assert len(calls) == 3
    assert all(c.query.get("order_by") == ["create_time"] and "sort_by" not in c.query for c in calls)
    assert [("page_token" in c.query) for c in calls] == [False, True, True]
    assert all(c.query["page_size"] == ["2"] for c in calls)


def test_a_known_run_without_tasks_has_no_outputs(kfp: FakeKfp, resolver: KfpArtifactResolver) -> None:
    assert resolver.outputs(start_run(kfp, resolver)) == ()


def test_a_404_on_the_task_route_of_a_run_kfp_knows_means_kfp_has_no_native_api(
    kfp: FakeKfp, resolver: KfpArtifactResolver
) -> None:
    run_id = start_run(kfp, resolver)
    kfp.add_tasks(run_id, [FakeTask("t", {"out": ["gs://b/x"]})])
    kfp.native_tasks_api = False  # as KFP <= 2.18

    with pytest.raises(DeploymentFault, match="KFP_CHAIN_ARTIFACT_SOURCE=mlmd") as caught:
        resolver.outputs(run_id)

    assert isinstance(caught.value, TemporaryError) and caught.value.status == 404


@pytest.mark.parametrize("multi_user", [False, True])
def test_a_run_kfp_does_not_know_is_temporary_not_a_run_without_artifacts(
    kfp: FakeKfp, resolver: KfpArtifactResolver, multi_user: bool
) -> None:
    kfp.multi_user = multi_user  # single-user KFP lists nothing for it, multi-user KFP answers 404

    with pytest.raises(BackendUnavailable, match="does not know the run") as caught:
        resolver.outputs("0b5e5a7e-0000-4000-8000-000000000000")

    assert not isinstance(caught.value, DeploymentFault)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_failing_kfp_is_temporary(kfp: FakeKfp, resolver: KfpArtifactResolver, status: int) -> None:
    run_id = start_run(kfp, resolver)
    kfp.add_tasks(run_id, [FakeTask("t", {"out": ["gs://b/x"]})])
    kfp.faults.add(method="GET", path=TASKS, status=status)

    with pytest.raises(BackendUnavailable, match=f"HTTP {status}"):
        resolver.outputs(run_id)

    assert [o.uri for o in resolver.outputs(run_id)] == ["gs://b/x"]  # the fault passed: so does the error


def test_a_fault_on_a_later_page_fails_the_whole_read(
    kfp: FakeKfp, connect: Callable[..., KfpArtifactResolver]
) -> None:
    resolver = connect(page_size=1)
    run_id = start_run(kfp, resolver)
    kfp.add_tasks(run_id, [FakeTask("a", {"out": ["gs://b/a"]}), FakeTask("b", {"out": ["gs://b/b"]})])
    kfp.faults.add(method="GET", path=TASKS, mode="delay", delay=0.0)  # the first page passes
    kfp.faults.add(method="GET", path=TASKS, status=502)  # the second does not

    with pytest.raises(BackendUnavailable, match="HTTP 502"):
        resolver.outputs(run_id)

    assert [c.status for c in kfp.calls("GET", TASKS)] == [200, 502]


def test_timeouts_and_dropped_connections_are_temporary(
    kfp: FakeKfp, connect: Callable[..., KfpArtifactResolver]
) -> None:
    resolver = connect(timeout=(1.0, 0.2))
    run_id = start_run(kfp, resolver)
    held = kfp.faults.add(method="GET", path=TASKS, mode="hold", times=None, delay=5.0)
    try:
        with pytest.raises(BackendUnavailable, match=r"Timeout|timed out"):
            resolver.outputs(run_id)
    finally:
        held.release()
    kfp.faults.clear()
    kfp.faults.add(method="GET", path=TASKS, mode="drop", times=None)

    with pytest.raises(BackendUnavailable):
        resolver.outputs(run_id)


def test_the_bearer_token_goes_with_the_call_and_a_refused_one_is_a_deployment_fault(
    kfp: FakeKfp, connect: Callable[..., KfpArtifactResolver]
) -> None:
    good = connect(token="good")
    run_id = start_run(kfp, good)
    kfp.add_tasks(run_id, [FakeTask("t", {"out": ["gs://b/x"]})])
    kfp.require_tokens({"good": None})

    assert [o.uri for o in good.outputs(run_id)] == ["gs://b/x"]
    assert kfp.calls("GET", TASKS)[-1].headers["authorization"] == "Bearer good"
    with pytest.raises(DeploymentFault, match="HTTP 401"):
        connect(token="stale").outputs(run_id)


def test_an_artifact_two_tasks_share_is_an_output_of_each(
    kfp: FakeKfp, resolver: KfpArtifactResolver
) -> None:
    """A cache hit inside one run points a second task at the first one's artifact (same artifact_id)."""
    run_id = start_run(kfp, resolver)
    shared = FakeArtifact("gs://b/examples", artifact_id="41")
    kfp.add_tasks(
        run_id, [FakeTask("examples", {"out": [shared]}), FakeTask("examples-again", {"out": [shared]})]
    )

    assert brief(resolver.outputs(run_id)) == [
        ("examples", "examples", "out", "gs://b/examples", 0),
        ("examples-again", "examples-again", "out", "gs://b/examples", 1),
    ]
