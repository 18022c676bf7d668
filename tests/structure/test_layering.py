"""The import contracts in pyproject.toml hold, and would catch the imports they forbid.

`make lint` runs `lint-imports`; these tests run it too, once on the tree as it is and once on a copy
of the package into which a forbidden import has been written, so that a contract that no longer
covers a flow module (a module renamed, a contract's list left behind) turns a test red instead of
silently passing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "kfp_chain"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def flow_modules() -> list[str]:
    first = contracts()[0]
    modules: list[str] = first["source_modules"]  # type: ignore[assignment]
    return modules


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT / "functions")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_flow_module_exists_so_no_contract_names_a_ghost() -> None:
    for contract in contracts():
        for module in contract.get("source_modules", []) + contract.get("modules", []):  # type: ignore[operator]
            path = ROOT / "functions" / Path(*str(module).split("."))
            assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), module


def test_the_readme_flow_modules_are_all_under_contract() -> None:
    """The modules the README calls the flow are the ones the contract guards."""
    for module in ("intake", "runconfiguration", "dependents", "parameters", "chain"):
        assert f"kfp_chain.{module}" in flow_modules()


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("chain", "import sqlite3"),
        ("intake", "import flask"),
        ("parameters", "import kubernetes"),
        ("dependents", "import kfp"),
        ("reconcile", "import urllib3"),
        ("fan_in", "from kfp_chain.adapters.kubernetes import client"),
        ("adapters/ports", "import functions_framework"),
        ("dependents", "import click"),
        ("delivery", "from rich.markup import escape"),
        ("chain", "from kfp_chain.tools.explain import decide"),
        ("planning", "from kfp_chain.observability import metrics"),
        ("settings", "from kfp_chain.service.app import App"),
        ("completion_event", "import urllib3"),
        ("adapters/kubernetes/ledger", "from kfp_chain.service.app import App"),
        ("adapters/folder/ledger", "from kfp_chain.adapters.kubernetes.claims import consumed"),
        ("adapters/local/runner", "from kfp_chain.tools.pending import reconcile_now"),
    ],
)
def test_a_forbidden_import_in_a_flow_module_breaks_the_lint(
    tmp_path: Path, module: str, forbidden: str
) -> None:
    copy = tmp_path / "kfp_chain"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / f"{module}.py"
    text = path.read_text()
    relative = forbidden
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, f"{marker}\n{relative}  # the mutation\n", 1))
    result = lint_imports(tmp_path)
    assert result.returncode != 0, f"lint-imports kept every contract despite {forbidden!r} in {module}"
    assert "BROKEN" in result.stdout
