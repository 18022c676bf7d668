"""Hostile RunConfigurations beside good ones: each skipped and reported once, the good ones keep working.

Every source the function reads (a folder, the cluster listed per event, the watch index) checks each
object against the CRD's openAPIV3Schema and kfp-chain's own rules; an invalid one must never turn an
event for a valid RunConfiguration into a 500, make `/readyz` lie, or be logged on every event.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import EXAMPLES_RC, TRAINING_RC, binary_event, event_data, seed_objects
from tests.support import SEED, Function, FunctionFactory

HEAD = "apiVersion: pipelines.kubeflow.org/v1beta1\nkind: RunConfiguration\n"
HOSTILE_FILES = {
    "parameters-a-number.yaml": HEAD + "metadata: {name: a, namespace: team}\n"
    "spec:\n  run:\n    provider: p/kfp\n    parameters: 5\n",
    "empty-metadata.yaml": HEAD + "metadata: {}\n",
    "trigger-a-string.yaml": HEAD + "metadata: {name: up, namespace: team}\n"
    "spec:\n  run: {provider: p/kfp}\n  triggers:\n    runConfigurations: up\n",
    "top-level-list.yaml": "- " + HEAD.replace("\n", "\n  ", 1) + "  metadata: {name: l, namespace: team}\n",
    "broken-yaml.yaml": HEAD + "metadata: [unclosed\n",
    "unserved-version.yaml": HEAD.replace("v1beta1", "v1alpha1") + "metadata: {name: old, namespace: team}\n",
    "value-not-a-string.yaml": HEAD + "metadata: {name: num, namespace: team}\n"
    "spec:\n  run:\n    provider: p/kfp\n    parameters: [{name: x, value: 5}]\n",
    "spec-a-list.yaml": HEAD + "metadata: {name: speclist, namespace: team}\nspec: [1, 2]\n",
    "no-provider.yaml": HEAD + "metadata: {name: noprov, namespace: team}\nspec: {run: {pipeline: p}}\n",
    # Invalid and a dependent of the examples RunConfiguration: must not start, nor stop the good one.
    "bad-dependent.yaml": HEAD + "metadata: {name: bad-dependent, namespace: dependant-namespace}\n"
    "spec:\n  run:\n    provider: p/kfp\n    pipeline: pipe\n    parameters:\n"
    "      - {name: x, value: 'v', valueFrom: {runConfigurationRef: {name: base-namespace/penguin-pipeline-examples-rc, outputArtifact: examples}}}\n"
    "  triggers:\n    runConfigurations: [base-namespace/penguin-pipeline-examples-rc]\n",
    "metadata-a-string.yaml": HEAD + "metadata: oops\n",
    "name-a-number.yaml": HEAD + "metadata: {name: 7}\n",
    "unicode-name.yaml": HEAD
    + "metadata: {name: Ünïcode, namespace: team}\nspec: {run: {provider: p/kfp}}\n",
    "not-utf8.yaml": None,  # bytes, written below
}
INVALID = len(HOSTILE_FILES)


def hostile_folder(root: Path) -> Path:
    folder = root / "rcs"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.yaml")
    for name, text in HOSTILE_FILES.items():
        if text is None:
            (folder / name).write_bytes(HEAD.encode() + b"metadata: {name: \xff\xfe}\n")
        else:
            (folder / name).write_text(text)
    return folder


# -- the folder source ------------------------------------------------------------------------------
@pytest.fixture
def folder_function(function_factory: FunctionFactory, kfp: FakeKfp, tmp_path: Path) -> Function:
    return function_factory(
        RUNCONFIGURATIONS=str(hostile_folder(tmp_path)),
        KFP_HOST=kfp.url,
        KFP_CHAIN_STATE_DB=str(tmp_path / "state.db"),
    )


def test_events_for_valid_runconfigurations_work_beside_hostile_files(
    folder_function: Function, kfp: FakeKfp
) -> None:
    status, body = folder_function.post(binary_event(event_data(run_id="r-1")))

    assert status == 200, body
    assert [(d["dependent"], d["outcome"]) for d in body["dependents"]] == [(TRAINING_RC, "started")]
    assert [r["display_name"] for r in kfp.runs()] == [f"{TRAINING_RC} <- {EXAMPLES_RC} run r-1"]


def test_readyz_is_ready_and_counts_the_invalid_ones_as_the_gauge_does(folder_function: Function) -> None:
    assert folder_function.get("/readyz") == (200, {"ready": True, "invalidRunConfigurations": INVALID})
    exposition = folder_function.client.get("/metrics").get_data(as_text=True)
    assert f"kfp_chain_invalid_runconfigurations {float(INVALID)}" in exposition


def test_each_invalid_file_is_logged_once_with_its_reason_not_on_every_event(
    folder_function: Function, invalid_log: list[str]
) -> None:
    for run in range(3):
        assert folder_function.post(binary_event(event_data(run_id=f"r-{run}")))[0] == 200
        folder_function.get("/readyz")

    warnings = [m for m in invalid_log if m.startswith("invalid RunConfiguration")]
    assert len(warnings) == INVALID, warnings
    assert any(
        "parameters-a-number.yaml:1" in w and "spec.run.parameters: 5 is not of type 'array'" in w
        for w in warnings
    )
    assert any("trigger-a-string.yaml:1" in w and "'up' is not of type 'array'" in w for w in warnings)
    assert any("broken-yaml.yaml:4" in w for w in warnings)
    assert any("top-level-list.yaml:1" in w and "YAML list" in w for w in warnings)


def test_a_fixed_file_is_indexed_again_and_a_new_problem_is_logged_again(
    folder_function: Function, tmp_path: Path, invalid_log: list[str]
) -> None:
    folder = tmp_path / "rcs"
    folder_function.get("/readyz")
    (folder / "spec-a-list.yaml").write_text(
        HEAD + "metadata: {name: speclist, namespace: team}\nspec: {run: {provider: p/kfp, pipeline: pipe}}\n"
    )
    (folder / "no-provider.yaml").write_text(HEAD + "metadata: {name: noprov, namespace: team}\nspec: 5\n")

    assert folder_function.get("/readyz")[1]["invalidRunConfigurations"] == INVALID - 1
    warnings = [m for m in invalid_log if m.startswith("invalid RunConfiguration")]
    assert len(warnings) == INVALID + 1  # the first read, then only the changed problem
    assert "spec: 5 is not of type 'object'" in warnings[-1]


def test_an_invalid_dependent_never_starts(folder_function: Function, kfp: FakeKfp) -> None:
    folder_function.post(binary_event(event_data(run_id="r-9")))

    assert all("bad-dependent" not in r["display_name"] for r in kfp.runs())


def test_the_functions_own_probe_event_is_answered_beside_hostile_files(folder_function: Function) -> None:
    status, body = folder_function.post(binary_event(event_data("base-namespace/no-such-rc", run_id="probe")))

    assert (status, body["note"]) == (200, "nothing depends on this RunConfiguration")


# -- the cluster: listed per event, and the watch index ----------------------------------------------
def hostile_objects() -> list[dict[str, Any]]:
    def obj(name: str, **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "pipelines.kubeflow.org/v1beta1",
            "kind": "RunConfiguration",
            "metadata": {"name": name, "namespace": "team"},
            "spec": spec,
        }

    return [
        obj("params-number", run={"provider": "p/kfp", "parameters": 5}),
        obj("trigger-string", run={"provider": "p/kfp"}, triggers={"runConfigurations": "up"}),
        obj("no-provider", run={"pipeline": "p"}),
        obj(
            "both",
            run={
                "provider": "p/kfp",
                "pipeline": "pipe",
                "parameters": [
                    {
                        "name": "x",
                        "value": "v",
                        "valueFrom": {
                            "runConfigurationRef": {"name": EXAMPLES_RC, "outputArtifact": "examples"}
                        },
                    }
                ],
            },
            triggers={"runConfigurations": [EXAMPLES_RC]},
        ),
    ]


@pytest.fixture
def hostile_cluster(kube: FakeKubernetes) -> FakeKubernetes:
    for good in seed_objects():
        kube.put(good)
    for bad in hostile_objects():
        kube.put(bad, validate=False)  # stored under an older schema, or by a writer that skipped it
    return kube


@pytest.mark.parametrize("mode", ["list", "watch"])
def test_the_cluster_source_skips_invalid_objects_and_reports_each_once(
    cluster_function: Callable[..., Function],
    hostile_cluster: FakeKubernetes,
    kfp: FakeKfp,
    mode: str,
    invalid_log: list[str],
) -> None:
    function = cluster_function(KFP_CHAIN_INDEX=mode)
    answers = [function.post(binary_event(event_data(run_id=f"c-{i}"))) for i in range(2)]

    assert [status for status, _ in answers] == [200, 200], answers
    assert [d["dependent"] for d in answers[0][1]["dependents"]] == [TRAINING_RC]
    assert function.get("/readyz") == (200, {"ready": True, "invalidRunConfigurations": 4})
    assert (
        sorted(w.split(":")[0] for w in [m for m in invalid_log if m.startswith("invalid RunConfiguration")])
        == ["invalid RunConfiguration skipped"] * 4
    )
    events = [e for e in hostile_cluster.events("team") if e["reason"] == "InvalidRunConfiguration"]
    assert sorted(e["involvedObject"]["name"] for e in events) == [
        "both",
        "no-provider",
        "params-number",
        "trigger-string",
    ]
    uids = {o["metadata"]["name"]: o["metadata"]["uid"] for o in hostile_cluster.objects(namespace="team")}
    assert all(e["involvedObject"]["uid"] == uids[e["involvedObject"]["name"]] for e in events)
    assert all(e["type"] == "Warning" and "skipped by kfp-chain" in e["message"] for e in events)
