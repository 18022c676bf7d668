"""`kfp-chain validate` reports an artifact path whose filter cannot be read, before it silently finds nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kfp_chain.cli import main

RC = """\
apiVersion: pipelines.kubeflow.org/v1beta1
kind: RunConfiguration
metadata: {{name: up, namespace: ns}}
spec:
  run:
    provider: provider-namespace/kfp
    pipeline: p
    artifacts:
{artifacts}
"""


def validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *paths: str) -> dict[str, Any]:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "rcs"
    folder.mkdir()
    items = "\n".join(f"      - name: a{i}\n        path: {json.dumps(p)}" for i, p in enumerate(paths))
    (folder / "up.yaml").write_text(RC.format(artifacts=items))
    env = {"RUNCONFIGURATIONS": str(folder), "KFP_CHAIN_STATE_DB": str(tmp_path / "state.db")}
    result = CliRunner().invoke(main, ["validate", "-o", "json"], env=env, catch_exceptions=False)
    body: dict[str, Any] = json.loads(result.output)
    body["exit_code"] = result.exit_code
    return body


def test_a_filter_go_bexpr_cannot_parse_is_an_error_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = validate(tmp_path, monkeypatch, "trainer:model[pushed == 1]", "trainer:model[pushed ==]")

    assert body["exit_code"] == 1
    (finding,) = body["findings"]
    assert finding["code"] == "malformed-artifact-path"
    assert finding["message"].startswith(
        "spec.run.artifacts[1].path: artifact path 'trainer:model[pushed ==]'"
    )
    assert finding["where"].endswith("up.yaml:12")


def test_a_path_the_crd_pattern_refuses_is_reported_once_by_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = validate(tmp_path, monkeypatch, "trainer-model")

    assert [f["code"] for f in body["findings"]] == ["schema"]


def test_well_formed_paths_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = validate(
        tmp_path, monkeypatch, "trainer:model", "Pusher:pushed_model:0[pushed == 1]", "t:m:2[a.b in c]"
    )

    assert body["findings"] == [] and body["exit_code"] == 0
