"""RunConfigurations are checked against kfp-operator's own CRD schema, the copy the function ships with."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp_chain.adapters.folder.files import read_file
from kfp_chain.rc_schema import (
    crd_text,
    read_runconfiguration,
    schema_problems,
    served_versions,
    to_json_schema,
)
from kfp_fakes.kubernetes import DEFAULT_CRD_DIR

from tests.support import FIXTURES, ROOT

PACKAGED = ROOT / "functions" / "kfp_chain" / "crds" / "pipelines.kubeflow.org_runconfigurations.yaml"
INFRA = ROOT / "infra" / "crds" / "pipelines.kubeflow.org_runconfigurations.yaml"


def test_the_packaged_crd_is_the_one_in_infra_and_in_the_fakes() -> None:
    assert PACKAGED.read_bytes() == INFRA.read_bytes()
    assert (DEFAULT_CRD_DIR / INFRA.name).read_bytes() == INFRA.read_bytes()
    assert crd_text() == INFRA.read_text()


def test_the_image_and_the_wheel_carry_the_crd() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY functions/ \./functions/$", dockerfile, re.MULTILINE)
    ignored = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"
    ]
    relative = str(PACKAGED.relative_to(ROOT))
    assert not any(fnmatch.fnmatch(relative, p) or relative.startswith(p.rstrip("/") + "/") for p in ignored)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"kfp_chain.crds" = ["*.yaml"]' in pyproject


def test_both_served_versions_are_checked() -> None:
    assert served_versions() == ("v1alpha6", "v1beta1")


def _doc(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


# Shaped like the resources of kfp-operator's quickstart and dependencies tutorials: no namespace,
# unquoted schedule times, a JSON string as a parameter value, a namespace-less reference.
TUTORIAL = [
    """apiVersion: pipelines.kubeflow.org/v1beta1
kind: RunConfiguration
metadata:
    name: penguin-pipeline-recurring-run
spec:
    run:
      provider: provider-namespace/vai
      pipeline: penguin-pipeline
      experimentName: penguin-experiment
      parameters:
      - name: push_destination
        value: '{"filesystem":{"base_directory":"gs://my-bucket/penguin-pipeline"}}'
      artifacts:
      - name: serving-model
        path: 'Pusher:pushed_model:0[pushed == 1]'
    triggers:
      schedules:
      - cronExpression: 0 * * * *
        startTime: 2024-01-01T00:00:00Z
        endTime: 2024-12-31T23:59:59Z
      onChange:
      - pipeline
""",
    """apiVersion: pipelines.kubeflow.org/v1beta1
kind: RunConfiguration
metadata:
  name: penguin-pipeline-training-rc
spec:
  run:
    provider: provider-namespace/kfp
    pipeline: penguin-pipeline-training:v1-abcdef
    parameters:
    - name: examples_location
      valueFrom:
        runConfigurationRef:
          name: penguin-pipeline-examples-rc
          outputArtifact: examples
          optional: true
  triggers:
    runConfigurations:
      - penguin-pipeline-examples-rc
""",
    """apiVersion: pipelines.kubeflow.org/v1alpha6
kind: RunConfiguration
metadata:
  name: legacy
  namespace: team
spec:
  run:
    provider: kfp
    pipeline: penguin-pipeline
    runtimeParameters:
    - name: TRAINING_RUNS
      value: '100'
""",
]


@pytest.mark.parametrize("text", TUTORIAL, ids=["quickstart", "dependant", "v1alpha6"])
def test_tutorial_shaped_resources_are_valid(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rc.yaml"
    path.write_text(text)
    [doc], unreadable = read_file(path, "rc.yaml")

    rc = read_runconfiguration(doc.obj)

    assert (unreadable, rc.problems) == ([], ())


def test_the_seed_and_the_examples_are_valid() -> None:
    for path in [
        FIXTURES / "seed" / "runconfigurations.yaml",
        *sorted((ROOT / "examples" / "resources").glob("runconfiguration_*.yaml")),
    ]:
        documents, unreadable = read_file(path, path.name)
        assert unreadable == [] and documents
        assert all(read_runconfiguration(d.obj).problems == () for d in documents), path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"spec": {"run": {"provider": "p/kfp", "parameters": 5}}},
            "spec.run.parameters: 5 is not of type 'array'",
        ),
        ({"spec": {"run": {"pipeline": "x"}}}, "spec.run: 'provider' is a required property"),
        (
            {"spec": {"run": {"provider": "not namespaced"}}},
            "spec.run.provider: 'not namespaced' does not match",
        ),
        (
            {"spec": {"run": {"provider": "p/k", "artifacts": [{"name": "a", "path": "nocolon"}]}}},
            "spec.run.artifacts[0].path",
        ),
        (
            {"spec": {"run": {"provider": "p/k"}, "triggers": {"onChange": ["sometimes"]}}},
            "spec.triggers.onChange[0]: 'sometimes' is not one of",
        ),
        (
            {"apiVersion": "pipelines.kubeflow.org/v1alpha5"},
            "apiVersion 'pipelines.kubeflow.org/v1alpha5' is not served",
        ),
        ({"apiVersion": None}, "apiVersion is missing"),
    ],
)
def test_schema_violations_are_named_by_path(change: dict[str, Any], problem: str) -> None:
    obj = {
        "apiVersion": "pipelines.kubeflow.org/v1beta1",
        "kind": "RunConfiguration",
        "metadata": {"name": "x", "namespace": "team"},
        "spec": {"run": {"provider": "p/kfp"}},
        **change,
    }

    found = [text for _, text in schema_problems(obj)]

    assert any(problem in text for text in found), found
    assert read_runconfiguration(obj).problems  # so every source skips it


def test_openapi_only_keywords_become_json_schema() -> None:
    schema = to_json_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "nullable": True},
                "b": {"x-kubernetes-int-or-string": True},
                "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "x-kubernetes-thing": {"type": "integer"},  # a property that happens to be named so stays
            },
        }
    )

    assert schema["properties"]["a"] == {"type": ["string", "null"]}
    assert schema["properties"]["b"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert schema["properties"]["c"] == {"type": "object"}
    assert schema["properties"]["x-kubernetes-thing"] == {"type": "integer"}
