"""`kfp-chain graph`: trigger edges solid, parameter edges dashed, namespaces boxed, cycles red."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest

from tests.cli.support import PROBLEMS, Cli, assert_golden

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


@pytest.mark.parametrize(
    ("fmt", "golden"), [("mermaid", "graph_problems.mmd"), ("dot", "graph_problems.dot")]
)
def test_text_formats_match_their_golden_files(cli: Cli, fmt: str, golden: str) -> None:
    result = cli("graph", "--format", fmt, folder=PROBLEMS)

    assert result.exit_code == 0, result.output
    assert_golden(golden, result.output)


def test_json_marks_missing_nodes_and_the_refused_cycle_edge(cli: Cli) -> None:
    body = json.loads(cli("graph", "--format", "json", folder=PROBLEMS).output)

    assert [n["id"] for n in body["nodes"] if n["missing"]] == [
        "base-namespace/baseline-rc",
        "base-namespace/nightly-rc",
    ]
    cyclic = {(e["from"], e["to"], e["cycle"]) for e in body["edges"] if e["cycle"]}
    assert cyclic == {("loop/pong", "loop/ping", "refused"), ("loop/ping", "loop/pong", "member")}
    kinds = {(e["from"], e["to"], e["kind"]) for e in body["edges"]}
    assert (
        "base-namespace/penguin-pipeline-examples-rc",
        "dependant-namespace/penguin-pipeline-training-rc",
        "trigger",
    ) in kinds
    assert (
        "base-namespace/penguin-pipeline-examples-rc",
        "dependant-namespace/penguin-pipeline-training-rc",
        "parameter",
    ) in kinds


@needs_dot
def test_png_renders_through_graphviz(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "graph.png"

    result = cli("graph", "--format", "png", "--out", str(out), folder=PROBLEMS)

    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000


@needs_dot
def test_svg_goes_to_stdout_with_every_node(cli: Cli) -> None:
    result = cli("graph", "--format", "svg", folder=PROBLEMS)

    assert result.exit_code == 0
    assert "<svg" in result.output
    text = html.unescape(result.output)
    for name in ("penguin-pipeline-training-rc", "evaluation-rc", "ping", "pong", "nightly-rc (missing)"):
        assert f">{name}</text>" in text


def test_png_without_graphviz_says_how_to_get_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)

    result = cli("graph", "--format", "png", "--out", str(tmp_path / "g.png"))

    assert result.exit_code == 1
    assert "apt-get install graphviz" in result.output
    assert not (tmp_path / "g.png").exists()
