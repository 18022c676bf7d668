from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_home(private_home: Path) -> Path:
    """Every test here makes a kfp.Client: each gets the root conftest's empty HOME."""
    return private_home
