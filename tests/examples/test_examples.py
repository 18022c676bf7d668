"""The examples compile, and their resources say what the tutorial says (and agree with each other)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kfp_chain.runconfiguration import RcKey, parse_runconfiguration
from kfp_fakes.kubernetes import DEFAULT_CRD_DIR

from tests.local.support import ROOT

RESOURCES = ROOT / "examples" / "resources"
ENSEMBLE = ROOT / "examples" / "ensemble"  # the fan-in example's resources, beside the tutorial's
CRD = DEFAULT_CRD_DIR / "pipelines.kubeflow.org_runconfigurations.yaml"
EXAMPLES_RC = RcKey("base-namespace", "penguin-pipeline-examples-rc")
TRAINING_RC = RcKey("dependant-namespace", "penguin-pipeline-training-rc")


def _load(name: str, folder: Path = RESOURCES) -> dict[str, Any]:
    document = yaml.safe_load((folder / name).read_text())
    assert isinstance(document, dict)
    return document


def _tasks(package: dict[str, Any]) -> set[str]:
    return set(package["root"]["dag"]["tasks"])


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def test_every_pipeline_compiles_to_a_package_named_after_the_pipeline(compiled: Path) -> None:
    assert sorted(p.name for p in compiled.glob("*.yaml")) == [
        "penguin-pipeline-ensemble.yaml",
        "penguin-pipeline-examples.yaml",
        "penguin-pipeline-training-logreg.yaml",
        "penguin-pipeline-training.yaml",
    ]
    for path in compiled.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["pipelineInfo"]["name"] == path.stem


def test_training_takes_the_examples_location_as_one_string_parameter(compiled: Path) -> None:
    package = yaml.safe_load((compiled / "penguin-pipeline-training.yaml").read_text())
    inputs = package["root"]["inputDefinitions"]["parameters"]
    assert inputs == {"examples_location": {"parameterType": "STRING"}}
    importer = package["root"]["dag"]["tasks"]["importer"]
    assert importer["inputs"]["parameters"]["uri"] == {"componentInputParameter": "examples_location"}


def test_components_install_nothing_at_run_time_and_use_the_dockerfile_images(compiled: Path) -> None:
    for name, image in (
        ("penguin-pipeline-examples", "penguin-examples:v1"),
        ("penguin-pipeline-training", "penguin-training:v1"),
        ("penguin-pipeline-training-logreg", "penguin-training-logreg:v1"),
        ("penguin-pipeline-ensemble", "penguin-ensemble:v1"),
    ):
        package = yaml.safe_load((compiled / f"{name}.yaml").read_text())
        executors = package["deploymentSpec"]["executors"]
        containers = [e["container"] for e in executors.values() if "container" in e]
        assert containers, name
        for container in containers:
            assert container["image"] == image
            assert "pip install" not in " ".join(container["command"])


def test_runconfigurations_are_valid_against_the_crd() -> None:
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = version["schema"]["openAPIV3Schema"]
    for path in sorted(
        [*RESOURCES.glob("runconfiguration_*.yaml"), *ENSEMBLE.glob("runconfiguration_*.yaml")]
    ):
        document = _load(path.name, path.parent)
        assert document["apiVersion"] == "pipelines.kubeflow.org/v1beta1"
        jsonschema.validate(document, schema)


def test_training_is_triggered_by_the_examples_and_reads_their_artifact() -> None:
    examples = parse_runconfiguration(_load("runconfiguration_examples.yaml"))
    training = parse_runconfiguration(_load("runconfiguration_training.yaml"))
    assert examples.key == EXAMPLES_RC and training.key == TRAINING_RC
    assert not examples.problems and not training.problems
    assert training.triggered_by == (EXAMPLES_RC,)
    (parameter,) = training.parameters
    assert (parameter.name, parameter.ref, parameter.output_artifact) == (
        "examples_location",
        EXAMPLES_RC,
        "examples",
    )
    assert [a.name for a in examples.artifacts] == ["examples"]
    assert {a.name for a in training.artifacts} == {"model", "metrics"}


def test_artifact_paths_name_real_tasks_and_outputs_of_the_compiled_pipelines(compiled: Path) -> None:
    for folder, rc_file, pipeline_file in (
        (RESOURCES, "runconfiguration_examples.yaml", "pipeline_examples.yaml"),
        (RESOURCES, "runconfiguration_training.yaml", "pipeline_training.yaml"),
        (ENSEMBLE, "runconfiguration_training_logreg.yaml", "pipeline_training_logreg.yaml"),
        (ENSEMBLE, "runconfiguration_ensemble.yaml", "pipeline_ensemble.yaml"),
    ):
        rc = parse_runconfiguration(_load(rc_file, folder))
        pipeline = _load(pipeline_file, folder)
        assert pipeline["kind"] == "Pipeline" and pipeline["metadata"]["name"] == rc.pipeline
        assert pipeline["metadata"]["namespace"] == rc.key.namespace
        package = yaml.safe_load((compiled / f"{rc.pipeline}.yaml").read_text())
        tasks = {_normalise(t): t for t in _tasks(package)}
        for declaration in rc.artifacts:
            component, _, output = declaration.path.partition(":")
            task = tasks.get(_normalise(component))
            assert task is not None, (
                f"{declaration.path}: no task like {component} in {sorted(tasks.values())}"
            )
            component_ref = package["root"]["dag"]["tasks"][task]["componentRef"]["name"]
            outputs = package["components"][component_ref]["outputDefinitions"]["artifacts"]
            assert output in outputs, f"{declaration.path}: {task} has outputs {sorted(outputs)}"


def test_each_pipeline_has_a_dockerfile_that_installs_what_its_components_import() -> None:
    for folder, needs in (
        ("penguin_examples", ("kfp==", "pandas==", "palmerpenguins==")),
        ("penguin_training", ("kfp==", "pandas==", "scikit-learn==")),
        ("penguin_training_logreg", ("kfp==", "pandas==", "scikit-learn==")),
        ("penguin_ensemble", ("kfp==", "pandas==", "scikit-learn==")),
    ):
        dockerfile = (ROOT / "examples" / folder / "Dockerfile").read_text()
        for requirement in needs:
            assert requirement in dockerfile, f"{folder}/Dockerfile lacks {requirement}"
