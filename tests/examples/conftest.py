from __future__ import annotations

from pathlib import Path

import pytest

from tests.local.support import compile_examples


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_examples(tmp_path_factory.mktemp("compiled"))
