"""Pre-commit runs exactly what `make lint` runs: the same commands, in the same order, with .venv's tools.

Both files are read as written: the Makefile's `lint:` recipe (its `$(VAR)`s expanded from the
Makefile's own assignments) and the local hooks of .pre-commit-config.yaml (entry + args). A hook that
runs only on some files would skip a check `make lint` does, so every hook runs always, on the whole tree.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def makefile_recipe(text: str, target: str) -> list[list[str]]:
    """The commands of `target`'s recipe, each split like a shell would, variables expanded."""
    variables = dict(re.findall(r"^([A-Z_]+)\s*[?:]?=\s*(.*?)\s*$", text, re.MULTILINE))

    def expand(line: str) -> str:
        for _ in range(10):  # nested: BIN := $(VENV)/bin
            line = re.sub(r"\$\(([A-Z_]+)\)", lambda m: variables.get(m.group(1), m.group(0)), line)
        return line

    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}\s*:", line))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        commands.append(shlex.split(expand(line.strip().lstrip("@-"))))
    return commands


def precommit_hooks(text: str) -> list[dict[str, Any]]:
    config = yaml.safe_load(text)
    return [hook for repo in config["repos"] for hook in repo["hooks"] if repo["repo"] == "local"] + [
        {"foreign repo": repo["repo"]} for repo in config["repos"] if repo["repo"] != "local"
    ]


def hook_commands(hooks: list[dict[str, Any]]) -> list[list[str]]:
    return [shlex.split(hook.get("entry", "")) + list(hook.get("args", [])) for hook in hooks]


def test_the_hooks_run_the_lint_recipe_command_for_command() -> None:
    lint = makefile_recipe((ROOT / "Makefile").read_text(), "lint")
    hooks = precommit_hooks((ROOT / ".pre-commit-config.yaml").read_text())

    assert lint, "the Makefile has a lint recipe"
    assert hook_commands(hooks) == lint
    for hook in hooks:
        assert (hook["language"], hook["pass_filenames"], hook["always_run"]) == ("system", False, True), hook
