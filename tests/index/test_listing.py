"""The paginated list behind every cold start: the next page is asked for while this one is read.

At 100k RunConfigurations a cold start reads 200 pages. `KubernetesSource.listing()` requests page
n+1 as soon as page n is decoded, so the API server's time to serve it overlaps the caller's time
to check and index page n, and decodes pages with orjson instead of the client's text-then-json
path. Pinned here against the Kubernetes fake (real HTTP, real pagination): the overlap itself, all
objects in order with the list's resourceVersion, and a failing page raised, not swallowed.
"""

from __future__ import annotations

import gc
import threading
import time

import pytest
from kfp_chain.adapters.kubernetes.source import PAGE_SIZE, KubernetesSource
from kfp_chain.adapters.kubernetes.watch import WatchIndex
from kfp_chain.errors import BackendUnavailable
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import rc

LIST = r"/runconfigurations$"
COUNT = 2 * PAGE_SIZE + 200  # three pages


@pytest.fixture
def source(kube: FakeKubernetes) -> KubernetesSource:
    kube.seed(rc("team", f"rc-{i:05d}") for i in range(COUNT))
    return KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1")


def test_the_next_page_is_requested_while_the_caller_still_reads_this_one(
    kube: FakeKubernetes, source: KubernetesSource
) -> None:
    kube.faults.add(method="GET", path=LIST, mode="delay", delay=0.0, times=1)  # page 1 goes through
    second = kube.faults.add(method="GET", path=LIST, mode="hold", times=1, delay=10.0)
    listing = source.listing()
    objects = iter(listing)

    first = next(objects)  # the caller holds the first object of page 1 and reads no further

    assert first["metadata"]["name"] == "rc-00000"
    assert second.wait_arrived(1, timeout=5), "page 2 was not asked for while page 1 was being read"
    second.release()
    rest = list(objects)
    assert [o["metadata"]["name"] for o in [first, *rest]] == [f"rc-{i:05d}" for i in range(COUNT)]
    assert listing.resource_version == kube.resource_version
    assert len(kube.calls("GET", LIST)) == 3


def test_a_failing_later_page_is_raised_from_the_iteration(
    kube: FakeKubernetes, source: KubernetesSource
) -> None:
    kube.faults.add(method="GET", path=LIST, mode="delay", delay=0.0, times=1)
    kube.faults.add(method="GET", path=LIST, mode="status", status=503, times=1)

    with pytest.raises(BackendUnavailable, match="503"):
        source.list_objects()


def test_list_objects_returns_everything_and_the_resource_version(
    kube: FakeKubernetes, source: KubernetesSource
) -> None:
    objects, resource_version = source.list_objects()

    assert len(objects) == COUNT and resource_version == kube.resource_version


def test_no_garbage_collection_runs_while_the_first_list_fills_the_index(
    kube: FakeKubernetes, source: KubernetesSource
) -> None:
    """Each automatic collection during the fill traverses everything kept so far (~40% of a 100k
    cold start, for no garbage): the first fill runs with the collector off, and turns it back on.

    Looked at while the fill is provably under way (page 2 held at the API server, page 1 read),
    not from `start()` to `ready()`: that span also holds moments when the collector is rightly
    on (before the first page, after the last), in which any thread of the test process that
    allocates (a fake server's, an earlier test's) set off collections, more of them under load.
    """
    kube.faults.add(method="GET", path=LIST, mode="delay", delay=0.0, times=1)  # page 1 goes through
    second = kube.faults.add(method="GET", path=LIST, mode="hold", times=1, delay=60.0)
    collections: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(threading.current_thread().name)

    index = WatchIndex(source)
    try:
        index.start()
        assert second.wait_arrived(1, timeout=30), "the first list never asked for page 2"
        gc.callbacks.append(count)
        try:
            during = gc.isenabled()
            kept = [(i, str(i)) for i in range(100_000)]  # ~140 collections' worth, were it on
        finally:
            gc.callbacks.remove(count)
        second.release()
        assert index.wait_ready(30)
    finally:
        index.close()

    assert (during, collections, len(kept)) == (False, [], 100_000)
    assert len(index.current()) == COUNT
    assert gc.isenabled()


def test_a_caller_that_stops_early_leaves_no_thread_behind(source: KubernetesSource) -> None:
    objects = iter(source.listing())
    next(objects)
    deadline = time.monotonic() + 5
    while sum(t.name == "kfp-chain-list" for t in threading.enumerate()) != 1:
        assert time.monotonic() < deadline, "the helper never started"
        time.sleep(0.01)

    objects.close()  # type: ignore[attr-defined]

    assert [t for t in threading.enumerate() if t.name == "kfp-chain-list"] == []
