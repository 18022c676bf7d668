"""LocalLauncher runs compiled packages on kfp.local and reports each run as a cluster would."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from kfp_chain.adapters.local.runner import LocalLauncher, find_artifacts, package_path
from kfp_chain.adapters.local.runs import list_runs
from kfp_chain.adapters.ports import RunRequest
from kfp_chain.errors import UnknownPipeline
from kfp_chain.runconfiguration import ArtifactDeclaration, RcKey

from tests.local.support import EventSink

EXAMPLES_RC = RcKey("base-namespace", "penguin-pipeline-examples-rc")
TRAINING_RC = RcKey("dependant-namespace", "penguin-pipeline-training-rc")


def _examples_request(name: str = "examples by test") -> RunRequest:
    return RunRequest(
        runconfiguration=EXAMPLES_RC,
        display_name=name,
        pipeline="penguin-pipeline-examples",
        experiment="Default",
        parameters={},
        artifacts=(ArtifactDeclaration("examples", "CsvExampleGen:examples"),),
    )


def _launcher(tmp_path: Path, pipelines_dir: Path, sink_url: str | None) -> LocalLauncher:
    return LocalLauncher(pipelines_dir, tmp_path / "runs", tmp_path / "state.db", sink_url)


def _path(location: str) -> Path:
    parsed = urlparse(location)
    assert parsed.scheme == "file", location
    return Path(parsed.path)


@pytest.mark.slow
def test_examples_run_posts_a_succeeded_event_with_the_examples_file(
    tmp_path: Path, pipelines_dir: Path, sink: EventSink
) -> None:
    launcher = _launcher(tmp_path, pipelines_dir, sink.url + "/")
    try:
        began = time.monotonic()
        run_id = launcher.start_run(_examples_request())
        assert time.monotonic() - began < 1.0, "start_run must not wait for the run"
        (event,) = sink.wait(1, timeout=60)
    finally:
        launcher.close()

    assert event.status == "succeeded"
    assert event.run_id == run_id and event.run_name == "examples by test"
    assert event.run_configuration == EXAMPLES_RC
    assert event.pipeline == "base-namespace/penguin-pipeline-examples"
    assert event.provider == "local" and event.run_start_time and event.run_end_time
    assert event.source == "kfp-chain/local"
    headers = sink.raw[0].headers
    assert headers["ce-type"] == "org.kubeflow.pipelines.run-completion", "binary mode: attributes in headers"
    (artifact,) = event.artifacts
    assert artifact.name == "examples"
    with _path(artifact.location).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 300 and {"species", "bill_length_mm"} <= set(rows[0])

    (run,) = list_runs(tmp_path / "state.db")
    assert (run.run_id, run.status, run.event_status) == (run_id, "succeeded", 200)
    run_dir = Path(run.run_dir)
    assert not (run_dir / "tmp").exists() and not (run_dir / "workspace").exists()
    assert not list(run_dir.rglob("ephemeral_component.py")), "per-task temp dirs must be cleaned"
    assert "csv-example-gen" in (run_dir / "run.log").read_text()


@pytest.mark.slow
def test_runs_are_found_by_display_name_after_a_restart(
    tmp_path: Path, pipelines_dir: Path, sink: EventSink
) -> None:
    first = _launcher(tmp_path, pipelines_dir, sink.url + "/")
    try:
        run_id = first.start_run(_examples_request("the one"))
        assert first.start_run(_examples_request("the one")) == run_id, "a repeated name must not run twice"
    finally:
        first.close()
    second = _launcher(tmp_path, pipelines_dir, sink.url + "/")
    try:
        assert second.find_run("the one") == run_id
        assert second.find_run("another one") is None
    finally:
        second.close()
    assert len(sink.events) == 1 and len(list_runs(tmp_path / "state.db")) == 1


@pytest.mark.slow
def test_training_on_a_missing_file_posts_a_failed_event(
    tmp_path: Path, pipelines_dir: Path, sink: EventSink
) -> None:
    launcher = _launcher(tmp_path, pipelines_dir, sink.url + "/")
    request = RunRequest(
        runconfiguration=TRAINING_RC,
        display_name="training on nothing",
        pipeline="penguin-pipeline-training",
        experiment=None,
        parameters={"examples_location": (tmp_path / "missing.csv").as_uri()},
        artifacts=(
            ArtifactDeclaration("model", "Trainer:model"),
            ArtifactDeclaration("metrics", "Trainer:metrics"),
        ),
    )
    try:
        launcher.start_run(request)
        (event,) = sink.wait(1, timeout=60)
    finally:
        launcher.close()
    assert event.status == "failed"
    assert event.artifacts == ()
    (run,) = list_runs(tmp_path / "state.db")
    assert run.status == "failed" and run.error and "trainer" in run.error


@pytest.mark.slow
def test_the_event_is_retried_while_the_sink_answers_5xx(
    tmp_path: Path, pipelines_dir: Path, sink: EventSink
) -> None:
    sink.faults.add(method="POST", path="^/$", mode="status", status=503, times=2)
    launcher = _launcher(tmp_path, pipelines_dir, sink.url + "/")
    try:
        launcher.start_run(_examples_request())
        assert launcher.wait_idle(timeout=60)
    finally:
        launcher.close()
    assert [r.status for r in sink.calls("POST")] == [503, 503, 200]
    assert len(sink.events) == 1
    assert list_runs(tmp_path / "state.db")[0].event_status == 200


def test_an_unknown_pipeline_is_refused_before_anything_is_recorded(
    tmp_path: Path, pipelines_dir: Path
) -> None:
    launcher = _launcher(tmp_path, pipelines_dir, None)
    try:
        with pytest.raises(UnknownPipeline, match="no-such-pipeline"):
            launcher.start_run(
                RunRequest(EXAMPLES_RC, "x", "no-such-pipeline", None, {}),
            )
    finally:
        launcher.close()
    assert list_runs(tmp_path / "state.db") == []


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [("penguin", "penguin.yaml"), ("penguin:v3", "penguin.yaml"), ("ns/penguin:v3", "penguin.yaml")],
)
def test_package_names_ignore_versions_and_namespaces(pipeline: str, expected: str, tmp_path: Path) -> None:
    assert package_path(tmp_path, pipeline) == tmp_path / expected


@pytest.mark.parametrize("pipeline", ["", "..", "ns/", "a\\b"])
def test_package_names_that_could_escape_the_folder_are_refused(pipeline: str, tmp_path: Path) -> None:
    with pytest.raises(UnknownPipeline):
        package_path(tmp_path, pipeline)


def test_component_paths_match_task_folders_ignoring_case_and_punctuation(tmp_path: Path) -> None:
    task = tmp_path / "penguin-pipeline-examples-2026-01-01-00-00-00-000000" / "csv-example-gen"
    task.mkdir(parents=True)
    (task / "examples").write_text("a,b\n")
    (task / "executor_output.json").write_text(json.dumps({}))
    found = find_artifacts(
        tmp_path,
        (
            ArtifactDeclaration("examples", "CsvExampleGen:examples"),
            ArtifactDeclaration("schema", "CsvExampleGen:schema"),  # never written: left out
            ArtifactDeclaration("other", "Trainer:examples"),  # no such task: left out
            ArtifactDeclaration("bad", "no-colon"),
        ),
    )
    assert [(a.name, _path(a.location)) for a in found] == [("examples", (task / "examples").resolve())]
