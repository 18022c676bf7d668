"""The ensemble (fan-in) example compiles, wires what its README says, and passes `kfp-chain validate`.

The end-to-end run is `tests/local/test_ensemble.py`; these are the fast checks of its parts.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from kfp_chain.runconfiguration import RcKey, parse_runconfiguration

from tests.local.support import ROOT

EXAMPLES = ROOT / "examples"
ENSEMBLE = EXAMPLES / "ensemble"
EXAMPLES_RC = RcKey("base-namespace", "penguin-pipeline-examples-rc")
TRAINER_A_RC = RcKey("dependant-namespace", "penguin-pipeline-training-rc")
TRAINER_B_RC = RcKey("dependant-namespace", "penguin-pipeline-training-logreg-rc")
ENSEMBLE_RC = RcKey("dependant-namespace", "penguin-pipeline-ensemble-rc")
TRAINERS = ("penguin-pipeline-training", "penguin-pipeline-training-logreg")


def _package(compiled: Path, name: str) -> dict[str, Any]:
    document = yaml.safe_load((compiled / f"{name}.yaml").read_text())
    assert isinstance(document, dict)
    return document


def _rc(name: str) -> Any:
    return parse_runconfiguration(yaml.safe_load((ENSEMBLE / name).read_text()))


def _component(package: dict[str, Any], task: str) -> dict[str, Any]:
    ref = package["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    component = package["components"][ref]
    assert isinstance(component, dict)
    return component


def _defaults(component: dict[str, Any]) -> dict[str, Any]:
    parameters = component["inputDefinitions"]["parameters"]
    return {name: parameters[name].get("defaultValue") for name in ("eval_fraction", "seed")}


def test_the_ensemble_imports_each_location_whole_with_its_artifact_class(compiled: Path) -> None:
    package = _package(compiled, "penguin-pipeline-ensemble")
    inputs = package["root"]["inputDefinitions"]["parameters"]
    assert inputs == {
        name: {"parameterType": "STRING"}
        for name in ("examples_location", "model_a_location", "model_b_location")
    }
    tasks = package["root"]["dag"]["tasks"]
    imported = {}
    for task in tasks.values():
        uri = task.get("inputs", {}).get("parameters", {}).get("uri")
        if uri is not None:
            executor = package["deploymentSpec"]["executors"][
                package["components"][task["componentRef"]["name"]]["executorLabel"]
            ]
            imported[uri["componentInputParameter"]] = executor["importer"]["typeSchema"]["schemaTitle"]
    assert imported == {
        "examples_location": "system.Dataset",
        "model_a_location": "system.Model",
        "model_b_location": "system.Model",
    }
    outputs = _component(package, "ensemble")["outputDefinitions"]["artifacts"]
    assert set(outputs) == {"metrics"}


def test_both_trainers_have_the_same_shape_and_the_ensemble_uses_their_eval_split(compiled: Path) -> None:
    ensemble = _defaults(_component(_package(compiled, "penguin-pipeline-ensemble"), "ensemble"))
    for name in TRAINERS:
        package = _package(compiled, name)
        assert package["root"]["inputDefinitions"]["parameters"] == {
            "examples_location": {"parameterType": "STRING"}
        }
        trainer = _component(package, "trainer")
        assert set(trainer["outputDefinitions"]["artifacts"]) == {"model", "metrics"}
        assert _defaults(trainer) == ensemble, f"{name} splits differently from the ensemble"
    assert ensemble == {"eval_fraction": 0.25, "seed": 42}


def test_the_two_trainers_fit_different_models() -> None:
    sources = {
        name: (EXAMPLES / folder / "pipeline.py").read_text()
        for name, folder in (("A", "penguin_training"), ("B", "penguin_training_logreg"))
    }
    assert "RandomForestClassifier(" in sources["A"] and "LogisticRegression(" not in sources["A"]
    assert "LogisticRegression(" in sources["B"] and "RandomForestClassifier(" not in sources["B"]


def test_trainer_b_is_triggered_by_the_examples_and_reads_them_like_trainer_a() -> None:
    trainer = _rc("runconfiguration_training_logreg.yaml")
    assert trainer.key == TRAINER_B_RC and not trainer.problems
    assert trainer.pipeline == "penguin-pipeline-training-logreg"
    assert trainer.triggered_by == (EXAMPLES_RC,)
    assert [(p.name, p.ref, p.output_artifact) for p in trainer.parameters] == [
        ("examples_location", EXAMPLES_RC, "examples")
    ]
    assert {(a.name, a.path) for a in trainer.artifacts} == {
        ("model", "Trainer:model"),
        ("metrics", "Trainer:metrics"),
    }


def test_the_ensemble_waits_for_both_trainers_and_reads_both_models() -> None:
    document = yaml.safe_load((ENSEMBLE / "runconfiguration_ensemble.yaml").read_text())
    assert document["metadata"]["annotations"] == {"kfp-chain.io/trigger-policy": "all"}
    ensemble = parse_runconfiguration(document)
    assert ensemble.key == ENSEMBLE_RC and not ensemble.problems
    assert ensemble.pipeline == "penguin-pipeline-ensemble"
    assert set(ensemble.triggered_by) == {TRAINER_A_RC, TRAINER_B_RC}
    assert {(p.name, p.ref, p.output_artifact, p.optional) for p in ensemble.parameters} == {
        ("examples_location", EXAMPLES_RC, "examples", False),
        ("model_a_location", TRAINER_A_RC, "model", False),
        ("model_b_location", TRAINER_B_RC, "model", False),
    }
    assert [(a.name, a.path) for a in ensemble.artifacts] == [("metrics", "Ensemble:metrics")]


def test_kfp_chain_validate_passes_on_the_examples_with_the_ensemble() -> None:
    # `examples/` as a whole, as `make demo-ensemble` loads it: trainer A and the examples
    # RunConfiguration live in examples/resources, trainer B and the ensemble in examples/ensemble.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kfp-chain")), "validate", "--output", "json"],
        env={"RUNCONFIGURATIONS": str(EXAMPLES), "HOME": str(ROOT / ".local" / "home"), "PATH": ""},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert (body["runConfigurations"], body["errors"]) == (4, 0), body["findings"]


def test_every_pipeline_resource_names_an_importable_pipeline_of_that_name() -> None:
    # kfp-operator's kfpsdk framework imports `framework.parameters.pipeline` inside the image,
    # whose Dockerfile copies the pipeline's folder onto PYTHONPATH.
    sys.path.insert(0, str(EXAMPLES))
    try:
        for path in sorted([*EXAMPLES.glob("resources/pipeline_*.yaml"), *ENSEMBLE.glob("pipeline_*.yaml")]):
            resource = yaml.safe_load(path.read_text())
            module_name, _, function = resource["spec"]["framework"]["parameters"]["pipeline"].rpartition(".")
            module = importlib.import_module(module_name)
            assert resource["metadata"]["name"] == module.PIPELINE_NAME, path.name
            assert callable(getattr(module, function)), path.name
            assert resource["spec"]["image"] == module.IMAGE, path.name
            package_folder = module_name.split(".")[0]
            dockerfile = (EXAMPLES / package_folder / "Dockerfile").read_text()
            assert f"COPY {package_folder} /pipelines/{package_folder}" in dockerfile, path.name
    finally:
        sys.path.remove(str(EXAMPLES))


def test_every_image_that_handles_the_pickled_models_pins_the_same_scikit_learn() -> None:
    pins = {
        folder: re.findall(r"scikit-learn==[0-9.]+", (EXAMPLES / folder / "Dockerfile").read_text())
        for folder in ("penguin_training", "penguin_training_logreg", "penguin_ensemble")
    }
    assert all(len(found) == 1 for found in pins.values()), pins
    assert len({found[0] for found in pins.values()}) == 1, pins
