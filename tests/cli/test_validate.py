"""`kfp-chain validate`: what a user's CI runs before `kubectl apply`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import PROBLEMS, Cli, assert_golden


def test_the_seed_scenario_is_valid(cli: Cli) -> None:
    result = cli("validate")

    assert result.exit_code == 0, result.output
    assert_golden("validate_seed.txt", result.output)


def test_broken_references_undeclared_artifacts_cycles_and_value_with_valuefrom_fail(cli: Cli) -> None:
    result = cli("validate", folder=PROBLEMS)

    assert result.exit_code == 1
    assert_golden("validate_problems.txt", result.output)


def test_validate_as_json_counts_each_kind_of_finding(cli: Cli) -> None:
    result = cli("validate", "--output", "json", folder=PROBLEMS)

    body = json.loads(result.output)
    codes = sorted(f["code"] for f in body["findings"] if f["severity"] == "error")
    assert codes == [
        "cycle",
        "missing-reference",
        "missing-trigger",
        "undeclared-artifact",
        "value-and-valuefrom",
    ]
    assert [f["code"] for f in body["findings"] if f["severity"] == "warning"] == ["undeclared-artifact"]
    assert (body["runConfigurations"], body["errors"], body["warnings"]) == (6, 5, 1)
    assert result.exit_code == 1


def test_warnings_alone_pass_unless_strict(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        (PROBLEMS / "seed.yaml").read_text()
        + """---
apiVersion: pipelines.kubeflow.org/v1beta1
kind: RunConfiguration
metadata: {name: optional-reader, namespace: base-namespace}
spec:
  run:
    provider: provider-namespace/kfp
    pipeline: p
    parameters:
      - name: stats
        valueFrom: {runConfigurationRef: {name: penguin-pipeline-examples-rc, outputArtifact: stats, optional: true}}
"""
    )

    assert cli("validate", folder=folder).exit_code == 0
    assert cli("validate", "--strict", folder=folder).exit_code == 1


def test_unreadable_files_and_duplicate_objects_are_errors(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    seed = (PROBLEMS / "seed.yaml").read_text()
    (folder / "a.yaml").write_text(seed)
    (folder / "b.yaml").write_text(seed)
    (folder / "c.yaml").write_text("kind: RunConfiguration\nmetadata: [unclosed\n")

    result = cli("validate", "-o", "json", folder=folder)

    findings = json.loads(result.output)["findings"]
    assert [(f["subject"], f["code"]) for f in findings] == [
        ("c.yaml", "unreadable"),
        ("base-namespace/penguin-pipeline-examples-rc", "duplicate"),
        ("dependant-namespace/penguin-pipeline-training-rc", "duplicate"),
    ]
    assert result.exit_code == 1


def test_the_output_format_can_come_from_the_environment(cli: Cli) -> None:
    result = cli("validate", folder=PROBLEMS, KFP_CHAIN_OUTPUT="json")

    assert json.loads(result.output)["errors"] == 5


def test_an_unknown_source_folder_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("validate", folder=tmp_path / "nowhere")

    assert result.exit_code == 2
    assert "neither 'kubernetes' nor an existing folder" in result.output
