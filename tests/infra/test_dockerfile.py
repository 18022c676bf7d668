"""The Dockerfile builds from files that exist and are not excluded by .dockerignore, runs as a
non-root numeric user, installs pinned dependencies, and starts the entry point that exists.

No Docker engine here: the image is not built, its recipe is checked."""

from __future__ import annotations

import ast
import fnmatch
import json
import re

from .manifests import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    joined = re.sub(
        r"\\\n", " ", "\n".join(s for s in DOCKERFILE.splitlines() if not s.lstrip().startswith("#"))
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


def _ignored(path: str) -> bool:
    patterns = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") or path == p for p in patterns
    )


def test_base_image_is_python_311_slim() -> None:
    (base,) = [arg for op, arg in _instructions() if op == "FROM"]
    assert base.startswith("python:3.11-slim")


def test_copy_sources_exist_and_are_not_dockerignored() -> None:
    copies = [arg.split()[:-1] for op, arg in _instructions() if op == "COPY"]
    assert copies
    for sources in copies:
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: missing"
            assert not _ignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


def test_dependencies_are_installed_with_the_constraints() -> None:
    runs = [arg for op, arg in _instructions() if op == "RUN" and "pip install" in arg]
    assert any("-r requirements.txt" in r and "-c constraints.txt" in r for r in runs)
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"requirements.txt: {line} is not pinned"


def test_runs_as_a_numeric_non_root_user() -> None:
    users = [arg.strip() for op, arg in _instructions() if op == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) != 0


def test_cmd_serves_an_entry_point_of_functions_main_on_port() -> None:
    (cmd,) = [json.loads(arg) for op, arg in _instructions() if op == "CMD"]
    assert cmd[0] == "functions-framework"
    source = cmd[cmd.index("--source") + 1]
    main = REPO / source
    assert main.is_file()
    assert "--port" not in cmd, "the port must come from $PORT (functions-framework reads it)"
    env = " ".join(arg for op, arg in _instructions() if op == "ENV")
    target = re.search(r"FUNCTION_TARGET=(\w+)", env)
    assert target and re.search(r"\bPORT=8080\b", env)
    defined = {n.name for n in ast.walk(ast.parse(main.read_text())) if isinstance(n, ast.FunctionDef)}
    assert target.group(1) in defined


def test_make_image_builds_this_dockerfile() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^image: .*## ", makefile, re.M)
    assert "docker build" in makefile
