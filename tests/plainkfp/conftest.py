"""Plain KFP (no kfp-operator): fixtures for the ML Metadata route's tests.

`mlmd` is a real gRPC server (kfp_fakes.mlmd.FakeMlmd) per test; `resolver` is the real
`MlmdArtifactResolver` pointed at it, closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kfp_chain.adapters.mlmd import MlmdArtifactResolver
from kfp_fakes.mlmd import FakeMlmd

# Generous: a deadline that passes under load would turn a green test red. Tests about deadlines
# build their own resolver with a short one.
TIMEOUT = 10.0


@pytest.fixture
def mlmd() -> Iterator[FakeMlmd]:
    with FakeMlmd() as fake:
        yield fake


@pytest.fixture
def resolver(mlmd: FakeMlmd) -> Iterator[MlmdArtifactResolver]:
    with MlmdArtifactResolver(mlmd.address, TIMEOUT) as made:
        yield made
