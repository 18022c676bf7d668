"""The CLI on what a newcomer points it at: wrong folders, empty ones, objects that can never run.

Each case runs the installed `kfp-chain` script in its own process, as a user (or CI) runs it, and
checks the exit status the README promises (0 ok, 1 findings or a failure, 2 usage or
configuration) and that every failure is one line on stderr.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, installed_cli

EXAMPLES = ROOT / "examples" / "resources"
HEAD = "apiVersion: pipelines.kubeflow.org/v1beta1\nkind: RunConfiguration\n"
NO_PIPELINE = HEAD + "metadata: {name: up, namespace: team}\nspec:\n  run: {provider: team/kfp}\n"
DEPENDENT = HEAD + (
    "metadata: {name: down, namespace: team}\n"
    "spec:\n  run: {provider: team/kfp, pipeline: p}\n  triggers: {runConfigurations: [up]}\n"
)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return installed_cli({"RUNCONFIGURATIONS": "", **env}, *args)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def folder_with(tmp_path: Path, **files: str | bytes) -> Path:
    folder = tmp_path / "rcs"
    folder.mkdir()
    for name, content in files.items():
        path = folder / name.replace("_", ".")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def test_validate_takes_the_folder_as_an_argument_without_runconfigurations_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUNCONFIGURATIONS"}
    script = Path(sys.executable).parent / "kfp-chain"
    done = subprocess.run([str(script), "validate", "examples/resources"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("2 RunConfiguration(s), 0 error(s), 0 warning(s): ok")


def test_graph_takes_the_folder_as_an_argument_too() -> None:
    done = cli("graph", "--format", "json", str(EXAMPLES))

    assert done.returncode == 0, done.stderr
    assert "penguin-pipeline-training-rc" in done.stdout


def test_a_runconfiguration_without_a_pipeline_is_an_error_and_explain_says_it_is_skipped(
    tmp_path: Path,
) -> None:
    folder = folder_with(
        tmp_path, up_yaml=NO_PIPELINE, down_yaml=DEPENDENT.replace("pipeline: p", "pipeline: ''")
    )

    validated = cli("validate", str(folder), "-o", "json")
    explained = cli("explain", "team/up", "-r", str(folder), "-o", "json")

    assert validated.returncode == 1
    assert validated.stdout.count('"code": "missing-pipeline"') == 2, validated.stdout
    assert explained.returncode == 0, explained.stderr
    assert '"outcome": "would-start"' not in explained.stdout
    assert '"reason": "invalid-runconfiguration"' in explained.stdout


def test_an_empty_folder_fails_validation(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, notes_txt="not yaml")

    done = cli("validate", str(folder))

    assert done.returncode == 1
    assert "no RunConfiguration found" in done.stdout and "[empty-source]" in done.stdout


def test_a_folder_of_other_kinds_fails_validation(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, cm_yaml="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")

    assert cli("validate", str(folder)).returncode == 1


def test_a_wrong_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = cli("validate", str(tmp_path / "nowhere"))

    assert done.returncode == 2
    assert str(tmp_path / "nowhere") in one_line(done)


@pytest.mark.parametrize(
    "args",
    [["graph"], ["explain", "team/down"], ["reconcile", "--dry-run"], ["reconcile"]],
    ids=["graph", "explain", "reconcile-dry-run", "reconcile"],
)
def test_graph_explain_and_reconcile_name_the_files_they_skipped(tmp_path: Path, args: list[str]) -> None:
    folder = folder_with(tmp_path, good_yaml=DEPENDENT.replace("[up]", "[]"), latin_yaml=b"name: caf\xe9\n",
                         broken_yaml="spec: [unclosed\n")  # fmt: skip
    env = {"RUNCONFIGURATIONS": str(folder), "KFP_CHAIN_LOCAL_DIR": str(tmp_path / "local")}

    done = installed_cli(env, *args)

    assert done.returncode == 0, done.stderr
    assert "kfp-chain: skipped broken.yaml" in done.stderr
    assert "kfp-chain: skipped latin.yaml: not UTF-8 text (byte 9 is 0xe9): save it as UTF-8" in done.stderr


def test_explain_of_a_name_that_does_not_exist_fails_in_one_line() -> None:
    done = cli("explain", "foo/bar", "-r", str(EXAMPLES))

    assert done.returncode == 2
    assert "foo/bar: no RunConfiguration of that name" in one_line(done)


def test_explain_of_a_deleted_upstream_that_something_still_triggers_on_still_explains(
    tmp_path: Path,
) -> None:
    folder = folder_with(tmp_path, down_yaml=DEPENDENT)

    done = cli("explain", "team/up", "-r", str(folder))

    assert done.returncode == 0, done.stderr
    assert "team/down" in done.stdout


def test_graph_refuses_to_write_png_to_a_terminal() -> None:
    script = Path(sys.executable).parent / "kfp-chain"
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([str(script), "graph", "--format", "png", str(EXAMPLES)], stdout=follower,
                              stderr=subprocess.PIPE, cwd=ROOT, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)

    assert done.returncode == 2
    assert "--out" in one_line(done)
