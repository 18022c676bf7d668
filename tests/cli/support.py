"""The CLI tests' fixture files and golden files.

Golden files live in golden/; `UPDATE_GOLDEN=1 pytest tests/cli` rewrites them (review the diff).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.builders import EXAMPLES_RC, TRAINING_RC

__all__ = ["EVENT", "EXAMPLES_RC", "GOLDEN", "PROBLEMS", "SEED", "TRAINING_RC", "Cli", "assert_golden"]

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
SEED = FIXTURES / "seed"
PROBLEMS = FIXTURES / "problems"
EVENT = FIXTURES / "event.json"

Cli = Callable[..., Result]


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"golden file {path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()
