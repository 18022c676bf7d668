"""The watch-backed index follows the cluster: list first, then every change, through drops and 410s."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kfp_chain.adapters.kubernetes.watch import WatchIndex
from kfp_chain.errors import BackendUnavailable
from kfp_chain.runconfiguration import RcKey
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import runconfiguration
from tests.support import eventually

MakeIndex = Callable[..., WatchIndex]
UPSTREAM = RcKey("team", "upstream")
OTHER = RcKey("team", "other")
DOWN = RcKey("team", "down")
LISTS = r"/apis/pipelines\.kubeflow\.org/v1beta1/runconfigurations$"


def dependents(index: WatchIndex, upstream: RcKey) -> list[RcKey]:
    return [rc.key for rc in index.current().dependents_of(upstream)]


def is_watch(query: dict[str, list[str]]) -> bool:
    return query.get("watch", [""])[0].lower() in ("true", "1")


def list_calls(kube: FakeKubernetes) -> list[dict[str, list[str]]]:
    return [r.query for r in kube.calls("GET", LISTS) if not is_watch(r.query)]


def watch_calls(kube: FakeKubernetes) -> list[dict[str, list[str]]]:
    return [r.query for r in kube.calls("GET", LISTS) if is_watch(r.query)]


def test_it_is_not_ready_and_refuses_lookups_until_the_first_list_is_in(
    kube: FakeKubernetes, make_index: MakeIndex
) -> None:
    kube.put(runconfiguration("down", triggers=("upstream",)))
    kube.faults.add(method="GET", path="runconfigurations$", mode="delay", delay=0.5)
    index = make_index(ready_timeout=0.05).start()

    assert not index.ready()
    with pytest.raises(BackendUnavailable):
        index.current()
    assert index.wait_ready(5.0)
    assert dependents(index, UPSTREAM) == [DOWN]


def test_the_first_list_is_paginated_with_limit_and_continue(
    kube: FakeKubernetes, make_index: MakeIndex
) -> None:
    for i in range(1201):
        kube.put(runconfiguration(f"rc-{i:05d}", triggers=("upstream",) if i % 100 == 0 else ()))
    index = make_index().start()
    assert index.wait_ready(10.0)

    pages = list_calls(kube)
    assert len(pages) == 3
    assert all(page.get("limit") == ["500"] for page in pages)
    assert "continue" not in pages[0]
    assert all(page.get("continue") for page in pages[1:])
    assert index.size() == 1201
    assert len(dependents(index, UPSTREAM)) == 13


def test_creation_change_and_deletion_show_up_in_lookups(kube: FakeKubernetes, make_index: MakeIndex) -> None:
    index = make_index().start()
    assert index.wait_ready(5.0)
    assert dependents(index, UPSTREAM) == []

    kube.put(runconfiguration("down", triggers=("upstream",), references=("other",)))
    assert eventually(lambda: dependents(index, UPSTREAM) == [DOWN])
    assert index.current().referencing(OTHER) == [DOWN]

    kube.put(runconfiguration("down", triggers=("other",)))
    assert eventually(lambda: dependents(index, OTHER) == [DOWN])
    assert dependents(index, UPSTREAM) == []
    assert index.current().referencing(OTHER) == []

    kube.delete("team", "down")
    assert eventually(lambda: DOWN not in index.current())
    assert dependents(index, OTHER) == []
    assert index.lists == 1, "changes came from the watch, not from relists"


def test_a_dropped_watch_resumes_where_it_left_off_without_missing_changes(
    kube: FakeKubernetes, make_index: MakeIndex
) -> None:
    kube.put(runconfiguration("gone-soon", triggers=("upstream",)))
    index = make_index().start()
    assert index.wait_ready(5.0)
    assert kube.wait_for_watches(1)

    # Hold the reconnect back so that the changes below happen while nobody is watching.
    kube.faults.add(method="GET", path="runconfigurations$", mode="delay", delay=0.3)
    assert kube.drop_watches() == 1
    kube.put(runconfiguration("down", triggers=("upstream",)))
    kube.delete("team", "gone-soon")

    assert eventually(lambda: dependents(index, UPSTREAM) == [DOWN])
    assert index.reconnects >= 1
    assert index.lists == 1, "a dropped stream resumes from its resourceVersion, it does not relist"
    first, resumed = watch_calls(kube)[0], watch_calls(kube)[-1]
    assert resumed.get("allowWatchBookmarks", [""])[0].lower() == "true"
    assert int(first["resourceVersion"][0]) <= int(resumed["resourceVersion"][0]) < int(kube.resource_version)


def test_a_stream_the_server_ends_is_resumed(kube: FakeKubernetes, make_index: MakeIndex) -> None:
    index = make_index().start()
    assert index.wait_ready(5.0)
    assert kube.wait_for_watches(1)

    kube.drop_watches(graceful=True)
    kube.put(runconfiguration("down", triggers=("upstream",)))

    assert eventually(lambda: dependents(index, UPSTREAM) == [DOWN])
    assert index.lists == 1


def test_410_gone_on_resume_relists_and_recovers_what_was_compacted_away(
    kube: FakeKubernetes, make_index: MakeIndex
) -> None:
    kube.put(runconfiguration("gone-soon", triggers=("upstream",)))
    index = make_index().start()
    assert index.wait_ready(5.0)
    assert kube.wait_for_watches(1)

    kube.faults.add(method="GET", path="runconfigurations$", mode="delay", delay=0.3)
    kube.drop_watches()
    kube.put(runconfiguration("down", triggers=("upstream",)))
    kube.delete("team", "gone-soon")
    kube.compact()  # the watch cache forgets those events: the resume gets 410 Gone

    assert eventually(lambda: dependents(index, UPSTREAM) == [DOWN])
    assert index.relists_after_gone == 1
    assert index.lists == 2


def test_bookmarks_move_the_resume_point_on_a_quiet_stream(
    kube: FakeKubernetes, make_index: MakeIndex
) -> None:
    index = make_index().start()
    assert index.wait_ready(5.0)
    assert kube.wait_for_watches(1)
    listed_at = int(index.resource_version)
    # Elsewhere in the cluster time moves on (an Event is written); no RunConfiguration changes, so
    # only a BOOKMARK tells the watcher about the newer resourceVersion.
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "elsewhere.1", "namespace": "team"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "team"},
        }
    )
    newer = int(kube.resource_version)
    assert eventually(lambda: any(rv >= newer for rv in kube.bookmarks_sent))
    assert eventually(lambda: index.staleness_seconds() < 0.5)

    # The stream ends cleanly (everything sent, bookmark included, is read first); the resume is held
    # while the server forgets all history up to now. Resuming from the bookmark needs nothing that
    # was forgotten; resuming from the list's older resourceVersion would get 410 and a relist.
    resume = kube.faults.add(method="GET", path=LISTS, mode="hold")
    kube.drop_watches(graceful=True)
    assert resume.wait_arrived(1)
    kube.compact()
    resume.release()
    assert eventually(lambda: len(watch_calls(kube)) >= 2 and kube.open_watches == 1)

    resumed = watch_calls(kube)[1]
    assert int(resumed["resourceVersion"][0]) >= newer > listed_at
    assert index.relists_after_gone == 0 and index.lists == 1


def test_a_periodic_resync_repairs_an_index_that_drifted(kube: FakeKubernetes, make_index: MakeIndex) -> None:
    kube.put(runconfiguration("down", triggers=("upstream",)))
    index = make_index(resync_seconds=1.0).start()
    assert index.wait_ready(5.0)
    index.current().remove(DOWN)  # as if an event had been lost
    assert dependents(index, UPSTREAM) == []

    assert eventually(lambda: dependents(index, UPSTREAM) == [DOWN], timeout=5.0)
    assert index.lists >= 2


def test_only_the_allowed_namespaces_are_indexed(kube: FakeKubernetes) -> None:
    from kfp_chain.adapters.kubernetes.source import KubernetesSource

    kube.put(runconfiguration("down", triggers=("upstream",)))
    kube.put(runconfiguration("down", namespace="elsewhere", triggers=("elsewhere/upstream",)))
    source = KubernetesSource(kube.api_client(), "pipelines.kubeflow.org", "v1beta1", ("team",))
    index = WatchIndex(source).start()
    try:
        assert index.wait_ready(5.0)
        kube.put(runconfiguration("late", namespace="elsewhere", triggers=("elsewhere/upstream",)))
        kube.put(runconfiguration("late", triggers=("upstream",)))
        assert eventually(lambda: RcKey("team", "late") in index.current())
        assert index.size() == 2
    finally:
        index.close()


def test_close_ends_the_watch_promptly(kube: FakeKubernetes, make_index: MakeIndex) -> None:
    index = make_index().start()
    assert index.wait_ready(5.0)
    assert kube.wait_for_watches(1)
    index.close(timeout=2.0)
    assert index._thread is not None and not index._thread.is_alive()
    assert eventually(lambda: kube.open_watches == 0)


def test_a_forked_worker_fills_its_own_index(kube: FakeKubernetes, make_index: MakeIndex) -> None:
    """gunicorn forks its workers from the master that imported (and may have started) the function."""
    import multiprocessing

    kube.put(runconfiguration("down", triggers=("upstream",)))
    index = make_index().start()
    assert index.wait_ready(5.0)
    parent_lists = index.lists

    def child(pipe: multiprocessing.connection.Connection) -> None:
        ok = index.wait_ready(5.0)
        pipe.send((ok, index.lists, [str(k) for k in dependents(index, UPSTREAM)]))

    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=child, args=(sender,))
    process.start()
    assert receiver.poll(10), "the child never answered"
    ready, lists, found = receiver.recv()
    process.join(5)

    assert (ready, lists, found) == (True, parent_lists + 1, ["team/down"]), "the child listed for itself"
    assert index.lists == parent_lists
    kube.put(runconfiguration("down2", triggers=("upstream",)))
    assert eventually(lambda: len(dependents(index, UPSTREAM)) == 2), "the parent's watch still runs"
