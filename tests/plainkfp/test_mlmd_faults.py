"""ML Metadata that does not answer, answers late or refuses us: always a TemporaryError, and it heals.

The real resolver over real gRPC against the fake's injected faults; no fault may ever read as a
run without outputs.
"""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from kfp_chain.adapters.mlmd import MlmdArtifactResolver
from kfp_chain.errors import BackendUnavailable, DeploymentFault, TemporaryError
from kfp_fakes.mlmd import FakeMlmd, Task

from tests.support import eventually

RUN = "5d0a4c1e-7f62-4b9b-9d55-7a1e2c3b4d5e"
UNAVAILABLE, DEADLINE_EXCEEDED, PERMISSION_DENIED, UNAUTHENTICATED, INVALID_ARGUMENT = 14, 4, 7, 16, 3


def recorded(mlmd: FakeMlmd) -> None:
    mlmd.record_run(RUN, "pipe", [Task("trainer", {"model": {"pushed": True}})])


@pytest.mark.parametrize(
    "method",
    ["GetContextByTypeAndName", "GetExecutionsByContext", "GetEventsByExecutionIDs", "GetArtifactsByID"],
)
def test_an_unavailable_ml_metadata_is_temporary_at_every_step_and_heals(
    mlmd: FakeMlmd, resolver, method
) -> None:
    recorded(mlmd)
    mlmd.faults.add(path=method, mode="status", status=UNAVAILABLE, times=2)

    for _ in range(2):
        with pytest.raises(BackendUnavailable, match=r"ML Metadata: .*UNAVAILABLE"):
            resolver.outputs(RUN)

    assert [o.output for o in resolver.outputs(RUN)] == ["model"]


@pytest.mark.parametrize(
    "code", [DEADLINE_EXCEEDED, 8, 10, 13, 2]
)  # and RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN
def test_server_side_faults_are_temporary(mlmd: FakeMlmd, resolver, code: int) -> None:
    recorded(mlmd)
    mlmd.faults.add(path="GetEventsByExecutionIDs", mode="status", status=code)

    with pytest.raises(BackendUnavailable):
        resolver.outputs(RUN)


def test_a_slow_ml_metadata_meets_the_deadline_as_a_temporary_fault_and_heals(mlmd: FakeMlmd) -> None:
    recorded(mlmd)
    slow = mlmd.faults.add(path="GetExecutionsByContext", mode="delay", delay=20.0, times=1)

    with MlmdArtifactResolver(mlmd.address, timeout=0.5) as impatient:
        with pytest.raises(BackendUnavailable, match="DEADLINE_EXCEEDED"):
            impatient.outputs(RUN)
        assert slow.hits == 1

    with MlmdArtifactResolver(mlmd.address, timeout=10.0) as patient:
        assert [o.output for o in patient.outputs(RUN)] == ["model"]


def test_ml_metadata_stopped_and_restarted_on_its_port_is_temporary_and_the_same_resolver_heals(
    mlmd: FakeMlmd, resolver
) -> None:
    recorded(mlmd)
    assert resolver.outputs(RUN)  # the channel is connected
    mlmd.stop()

    with pytest.raises(BackendUnavailable):
        resolver.outputs(RUN)

    mlmd.start()

    def reads() -> bool:
        try:
            return bool(resolver.outputs(RUN))
        except TemporaryError:
            return False

    assert eventually(reads, timeout=30.0)


def test_nothing_listening_at_the_address_is_temporary() -> None:
    with FakeMlmd() as gone:
        address = gone.address
    with MlmdArtifactResolver(address, timeout=5.0) as resolver, pytest.raises(BackendUnavailable):
        resolver.outputs(RUN)


@pytest.mark.parametrize(("code", "status"), [(UNAUTHENTICATED, 401), (PERMISSION_DENIED, 403)])
def test_ml_metadata_refusing_kfp_chain_is_a_deployment_fault(
    mlmd: FakeMlmd, resolver, code: int, status: int
) -> None:
    recorded(mlmd)
    mlmd.faults.add(path="GetContextByTypeAndName", mode="status", status=code)

    with pytest.raises(DeploymentFault) as raised:
        resolver.outputs(RUN)

    assert (raised.value.backend, raised.value.status) == ("mlmd", status)
    assert isinstance(raised.value, TemporaryError)


def test_a_request_ml_metadata_calls_invalid_is_kfp_chains_fault_never_the_runs(
    mlmd: FakeMlmd, resolver
) -> None:
    recorded(mlmd)
    mlmd.faults.add(path="GetArtifactsByID", mode="status", status=INVALID_ARGUMENT)

    with pytest.raises(DeploymentFault) as raised:
        resolver.outputs(RUN)

    assert raised.value.status == 400


def test_an_address_that_is_not_ml_metadata_is_a_deployment_fault() -> None:
    other = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # a gRPC server serving nothing
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        with (
            MlmdArtifactResolver(f"127.0.0.1:{port}", timeout=10.0) as resolver,
            pytest.raises(DeploymentFault, match="UNIMPLEMENTED") as raised,
        ):
            resolver.outputs(RUN)
        assert raised.value.status == 501
    finally:
        other.stop(grace=None).wait(10)


def test_one_resolver_keeps_one_connection_for_many_runs(mlmd: FakeMlmd, resolver) -> None:
    recorded(mlmd)
    for _ in range(3):
        resolver.outputs(RUN)

    assert len({call.peer for call in mlmd.calls()}) == 1
    assert len(mlmd.calls("GetContextByTypeAndName")) == 3
    assert len(mlmd.calls()) == 12  # four RPCs a run, no more
