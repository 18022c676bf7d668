from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.support import EventSink, compile_examples


@pytest.fixture(scope="session")
def pipelines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_examples(tmp_path_factory.mktemp("pipelines"))


@pytest.fixture
def sink() -> Iterator[EventSink]:
    with EventSink() as server:
        yield server
