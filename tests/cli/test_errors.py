"""Every CLI failure is one line and an exit status (0 ok, 1 findings, 2 usage or configuration), on any input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kfp_chain.cli import main

from tests.cli.support import EXAMPLES_RC, SEED, Cli
from tests.support import ROOT

PROPERTY = settings(
    max_examples=int(os.environ.get("CLI_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def one_clean_failure(result: Result, code: int) -> str:
    """The result failed with `code`, in one line and without a traceback; returns that line."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


# -- usage and configuration: 2 ------------------------------------------------------------------------
def test_explain_of_an_event_file_that_does_not_exist_says_so(cli: Cli) -> None:
    line = one_clean_failure(cli("explain", "events/nope.json"), 2)

    assert "events/nope.json: no such file" in line and "namespace/name" not in line


def test_explain_of_a_path_that_is_neither_file_nor_name_says_both(cli: Cli) -> None:
    line = one_clean_failure(cli("explain", "/tmp/a/b/c"), 2)

    assert "neither an event file (no such file) nor NAMESPACE/NAME" in line


def test_explain_of_a_directory_says_it_is_not_a_file(cli: Cli, tmp_path: Path) -> None:
    assert "is not a file" in one_clean_failure(cli("explain", str(tmp_path)), 2)


@pytest.mark.parametrize("content", [b"", b"[1, 2]", b"\xff\xfe", b'{"status": "done"}', b"{" * 5000])
def test_explain_of_an_unusable_event_file_is_one_line(cli: Cli, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(content)

    assert str(path) in one_clean_failure(cli("explain", str(path)), 2)


@pytest.mark.parametrize("url", ["not-a-url", "ftp://x/", "http://", "http://[::1/", "http://a b/"])
def test_send_to_something_that_is_not_an_http_url_is_usage(url: str) -> None:
    result = CliRunner().invoke(main, ["send", url, "--rc", EXAMPLES_RC])

    assert "URL" in one_clean_failure(result, 2)


@pytest.mark.parametrize("command", [["validate"], ["graph"], ["explain", EXAMPLES_RC]])
def test_no_source_configured_is_one_line_naming_the_setting(command: list[str]) -> None:
    result = CliRunner().invoke(main, command, env={"RUNCONFIGURATIONS": ""})

    assert "RUNCONFIGURATIONS is not set" in one_clean_failure(result, 2)


def test_a_missing_argument_is_one_line_with_where_to_look(cli: Cli) -> None:
    assert "explain --help)" in one_clean_failure(cli("explain"), 2)


def test_an_output_file_that_cannot_be_written_is_one_line(cli: Cli, tmp_path: Path) -> None:
    line = one_clean_failure(cli("graph", "--format", "dot", "--out", str(tmp_path / "no" / "g.dot")), 2)

    assert "g.dot" in line


# -- findings and failures: 1 --------------------------------------------------------------------------
def test_an_unreachable_url_is_one_line_and_exit_1() -> None:
    result = CliRunner().invoke(main, ["send", "http://127.0.0.1:9/", "--rc", EXAMPLES_RC])

    assert "POST http://127.0.0.1:9/" in one_clean_failure(result, 1)


def test_validate_names_the_file_and_line_of_each_invalid_object(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    (folder / "seed.yaml").write_text((SEED / "runconfigurations.yaml").read_text())
    (folder / "bad.yaml").write_text(
        "# a comment\napiVersion: pipelines.kubeflow.org/v1beta1\nkind: RunConfiguration\n"
        "metadata: {name: a, namespace: team}\nspec:\n  run:\n    provider: p/kfp\n    parameters: 5\n"
        "  triggers:\n    runConfigurations: up\n"
    )
    (folder / "yaml.yaml").write_text("kind: RunConfiguration\nmetadata:\n  name: [x\n")

    result = cli("validate", "-o", "json", folder=folder)

    assert result.exit_code == 1
    found = {(f["code"], f.get("where"), f["message"]) for f in json.loads(result.output)["findings"]}
    assert ("schema", "bad.yaml:8", "spec.run.parameters: 5 is not of type 'array'") in found
    assert ("schema", "bad.yaml:10", "spec.triggers.runConfigurations: 'up' is not of type 'array'") in found
    assert any(code == "unreadable" and where == "yaml.yaml:4:1" for code, where, _ in found), found


def test_a_trigger_written_as_a_string_is_not_read_letter_by_letter(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "apiVersion: pipelines.kubeflow.org/v1beta1\nkind: RunConfiguration\nmetadata: {name: a, namespace: t}\n"
        "spec:\n  run: {provider: p/kfp}\n  triggers:\n    runConfigurations: up\n"
    )

    edges = json.loads(cli("graph", "--format", "json", folder=folder).output)["edges"]

    assert edges == []


def test_a_top_level_yaml_list_is_reported_not_ignored(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    (folder / "list.yaml").write_text(
        yaml.safe_dump([{"kind": "RunConfiguration", "metadata": {"name": "x"}}])
    )

    result = cli("validate", folder=folder)

    assert result.exit_code == 1 and "list.yaml:1" in result.output and "YAML list" in result.output


def test_a_kubectl_list_is_read_item_by_item(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    items = list(yaml.safe_load_all((SEED / "runconfigurations.yaml").read_text()))
    (folder / "list.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))

    result = cli("validate", folder=folder)

    assert result.exit_code == 0 and "2 RunConfiguration(s), 0 error(s)" in result.output


# -- make serve ----------------------------------------------------------------------------------------
def test_serving_without_a_source_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUNCONFIGURATIONS"}
    script = Path(sys.executable).with_name("functions-framework")
    done = subprocess.run(
        [str(script), "--source", str(ROOT / "functions" / "main.py"), "--target", "on_run_completion"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "HOME": str(tmp_path)},
        cwd=tmp_path,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip().splitlines() == [done.stderr.strip()]
        and "RUNCONFIGURATIONS is not set" in done.stderr
    )


# -- any file contents, any RunConfiguration shape -----------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def runconfiguration_shapes() -> st.SearchStrategy[Any]:
    """A valid RunConfiguration with one part replaced by anything JSON can hold."""
    base = {
        "apiVersion": "pipelines.kubeflow.org/v1beta1",
        "kind": "RunConfiguration",
        "metadata": {"name": "hostile", "namespace": "base-namespace"},
        "spec": {
            "run": {"provider": "p/kfp", "pipeline": "p", "parameters": [{"name": "a", "value": "b"}]},
            "triggers": {"runConfigurations": [EXAMPLES_RC]},
        },
    }
    where = st.sampled_from(
        [
            ("metadata",),
            ("metadata", "name"),
            ("spec",),
            ("spec", "run"),
            ("spec", "run", "parameters"),
            ("spec", "run", "artifacts"),
            ("spec", "triggers"),
            ("spec", "triggers", "runConfigurations"),
            ("status",),
            ("apiVersion",),
        ]
    )

    def put(path: tuple[str, ...], value: Any) -> Any:
        obj = json.loads(json.dumps(base))
        node = obj
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return obj

    return st.builds(put, where, json_values)


file_contents = st.one_of(
    st.text(max_size=200),
    runconfiguration_shapes().map(lambda obj: yaml.safe_dump(obj, allow_unicode=True)),
    st.lists(runconfiguration_shapes(), min_size=1, max_size=3).map(lambda objs: yaml.safe_dump(objs)),
    st.lists(runconfiguration_shapes(), min_size=1, max_size=3).map(yaml.safe_dump_all),
    st.sampled_from(
        [
            "kind: RunConfiguration\n",
            "{{{",
            "- - -\n",
            "kind: RunConfiguration\nmetadata: !!binary AA==\n",
            "a: &x [*x]\n",
            "kind: List\nitems: 5\n",
            "--- |\n  x\n",
        ]
    ),
)


@PROPERTY
@given(contents=st.lists(file_contents, min_size=1, max_size=3))
def test_no_command_tracebacks_on_any_folder_and_the_good_runconfigurations_stay(contents: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rcs"
        folder.mkdir()
        (folder / "seed.yaml").write_text((SEED / "runconfigurations.yaml").read_text())
        for i, text in enumerate(contents):
            (folder / f"hostile-{i}.yaml").write_text(text)
        env = {"RUNCONFIGURATIONS": str(folder), "KFP_CHAIN_STATE_DB": str(Path(tmp) / "state.db")}
        runs = {
            "validate": ["validate", "-o", "json"],
            "graph": ["graph", "--format", "json"],
            "graph-dot": ["graph", "--format", "dot"],
            "graph-mermaid": ["graph"],
            "explain": ["explain", EXAMPLES_RC, "-o", "json"],
        }
        results = {name: CliRunner().invoke(main, args, env=env) for name, args in runs.items()}

        for name, result in results.items():
            assert result.exit_code in (0, 1), (name, result.output)
            assert "Traceback" not in result.output, (name, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                name,
                result.exception,
            )
        explained = json.loads(results["explain"].stdout)["dependents"]
        assert "dependant-namespace/penguin-pipeline-training-rc" in [d["dependent"] for d in explained]

        from kfp_chain.adapters.folder.source import FolderSource

        keys = {str(rc.key) for rc in FolderSource(folder, Path(tmp) / "state.db").list()}
        assert {EXAMPLES_RC, "dependant-namespace/penguin-pipeline-training-rc"} <= keys


@PROPERTY
@given(content=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_explain_of_any_event_file_is_an_answer_or_one_line(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "event.json"
        path.write_bytes(content)
        env = {"RUNCONFIGURATIONS": str(SEED), "KFP_CHAIN_STATE_DB": str(Path(tmp) / "state.db")}

        result = CliRunner().invoke(main, ["explain", str(path)], env=env)

        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert len(result.output.strip().splitlines()) == 1, result.output


# -- what the README sends a newcomer to do ------------------------------------------------------------
def test_the_readme_serves_the_examples_and_sends_an_artifact_that_exists_locally() -> None:
    readme = (ROOT / "README.md").read_text()

    assert "RUNCONFIGURATIONS=examples/resources make serve" in readme
    send = readme[readme.index("kfp-chain send http://localhost:8080/") :].split("```")[0]
    assert "--artifact examples=file://$PWD/.local/data/penguins.csv" in send and "gs://" not in send
    assert "to_csv('.local/data/penguins.csv'" in readme


def test_make_installs_graphviz_the_way_it_installs_wrk() -> None:
    makefile = (ROOT / "Makefile").read_text()

    assert "graphviz: ## " in makefile
    assert "command -v dot >/dev/null || (apt-get update -qq && apt-get install -y -qq graphviz)" in makefile
