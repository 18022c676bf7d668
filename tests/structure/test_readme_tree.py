"""README.md's module table names every module under functions/kfp_chain/, and nothing that is gone.

The table is how a reader enters the tree; a module added, moved or renamed without it turns this red.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "kfp_chain"
README = (ROOT / "README.md").read_text()


def table_rows() -> list[tuple[str, str]]:
    """(where, modules cell) of each row of the module table."""
    lines = README.splitlines()
    start = lines.index("| where | module | job |") + 2  # past the header and its rule
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        where, cell, _ = (c.strip() for c in line.strip().strip("|").split("|", 2))
        rows.append((where, cell))
    return rows


def modules() -> list[tuple[str, str]]:
    """(package relative to kfp_chain, module name) for every module in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" or "__pycache__" in path.parts:
            continue
        package = path.parent.relative_to(PACKAGE).as_posix()
        found.append(("" if package == "." else package + "/", path.stem))
    return found


def test_every_module_has_a_row() -> None:
    rows = table_rows()
    assert rows, "no module table found in README.md"
    missing = []
    for package, name in modules():
        if package:
            cells = [modules_cell for where, modules_cell in rows if where == f"`{package}`"]
            listed = any(re.search(rf"`{name}(\.py)?`", cell) for cell in cells)
        else:
            listed = any(f"`{name}.py`" in cell for where, cell in rows if where in ("flow", "top"))
        if not listed:
            missing.append(package + name)
    assert not missing, f"README.md's module table does not name: {missing}"


def test_every_row_names_modules_that_exist() -> None:
    ghosts = []
    for where, cell in table_rows():
        package = "" if where in ("flow", "top") else where.strip("`")
        for name in re.findall(r"`([a-z_]+)(?:\.py)?`", cell):
            if not (PACKAGE / package / f"{name}.py").is_file():
                ghosts.append(package + name)
    assert not ghosts, f"README.md's module table names modules that do not exist: {ghosts}"


def test_the_diagram_names_every_package() -> None:
    diagram = README[README.index("```mermaid") : README.index("```", README.index("```mermaid") + 3)]
    for package in sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        assert package in diagram, f"the README's diagram leaves out {package}/"
