"""The watch index leaves invalid RunConfigurations out, follows them through edits, and reports each once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kfp_chain.adapters.kubernetes.watch import WatchIndex
from kfp_chain.runconfiguration import RcKey
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import runconfiguration
from tests.support import eventually

MakeIndex = Callable[..., WatchIndex]
UP = RcKey("team", "up")
DOWN = RcKey("team", "down")


def dependents(index: WatchIndex) -> list[RcKey]:
    return [rc.key for rc in index.current().dependents_of(UP)]


def broken(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "spec": {**obj["spec"], "run": {**obj["spec"]["run"], "parameters": 5}}}


def test_an_edit_that_breaks_a_dependent_takes_it_out_and_a_fix_brings_it_back(
    kube: FakeKubernetes, make_index: MakeIndex, invalid_log: list[str]
) -> None:
    kube.put(runconfiguration("up"))
    good = runconfiguration("down", triggers=("up",))
    kube.put(good)
    index = make_index().start()
    assert index.wait_ready(5) and dependents(index) == [DOWN]

    kube.put(broken(good), validate=False)
    assert eventually(lambda: dependents(index) == [] and index.invalid_count() == 1)
    kube.bump("team", "down")  # a MODIFIED event with the same problems: not reported again
    kube.put(runconfiguration("other"))
    assert eventually(lambda: index.current().get(RcKey("team", "other")) is not None)
    reports = [m for m in invalid_log if m.startswith("invalid RunConfiguration")]
    assert len(reports) == 1 and "team/down" in reports[0]

    kube.put(good)
    assert eventually(lambda: dependents(index) == [DOWN] and index.invalid_count() == 0)


def test_an_invalid_object_deleted_is_forgotten(kube: FakeKubernetes, make_index: MakeIndex) -> None:
    kube.put(broken(runconfiguration("down", triggers=("up",))), validate=False)
    index = make_index().start()
    assert index.wait_ready(5) and index.invalid_count() == 1

    kube.delete("team", "down")

    assert eventually(lambda: index.invalid_count() == 0)


def test_a_relist_reports_nothing_new(
    kube: FakeKubernetes, make_index: MakeIndex, invalid_log: list[str]
) -> None:
    kube.put(broken(runconfiguration("down")), validate=False)
    index = make_index(resync_seconds=0.2).start()
    assert index.wait_ready(5)
    assert eventually(lambda: index.lists >= 3)

    assert len([m for m in invalid_log if m.startswith("invalid RunConfiguration")]) == 1


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
paths = st.sampled_from(
    [
        ("spec",),
        ("spec", "run"),
        ("spec", "run", "parameters"),
        ("spec", "run", "artifacts"),
        ("spec", "run", "pipeline"),
        ("spec", "run", "provider"),
        ("spec", "triggers"),
        ("spec", "triggers", "runConfigurations"),
        ("status",),
        ("status", "triggers"),
        ("status", "latestRuns"),
        ("metadata", "labels"),
    ]
)


def mutate(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = {**obj}
    node = copy
    for part in path[:-1]:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[path[-1]] = value
    return copy


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=paths, value=json_values)
def test_any_shape_of_one_object_never_stops_the_index_or_hides_the_others(
    kube: FakeKubernetes, make_index: MakeIndex, path: tuple[str, ...], value: Any
) -> None:
    kube.put(runconfiguration("up"))
    kube.put(runconfiguration("down", triggers=("up",)))
    index = make_index().start()
    assert index.wait_ready(5)
    hostile = mutate(runconfiguration("hostile", triggers=("up",)), path, value)
    try:
        kube.put(hostile, validate=False)
    except Exception:  # the fake refuses to store it (metadata the API server would refuse too)
        index.close()
        return
    marker = runconfiguration("marker")
    kube.put(marker)  # a later event: once it is in, the hostile one has been applied too

    assert eventually(lambda: index.current().get(RcKey("team", "marker")) is not None)
    assert DOWN in dependents(index)
    hostile_rc = index.current().get(RcKey("team", "hostile"))
    assert (hostile_rc is None) == (index.invalid_count() == 1)
    kube.delete("team", "hostile")
    kube.delete("team", "marker")
    index.close()


def test_one_object_without_a_name_is_reported_and_the_rest_of_the_listing_still_indexed() -> None:
    # A list answer is read object by object: whatever one object lacks (a name, its metadata)
    # makes it invalid, never the whole listing unreadable.
    from kfp_chain.invalid import sort_objects

    nameless = runconfiguration("nameless", triggers=("up",))
    nameless["metadata"] = {k: v for k, v in nameless["metadata"].items() if k != "name"}
    no_metadata = {k: v for k, v in runconfiguration("bare").items() if k != "metadata"}

    valid, invalid = sort_objects([runconfiguration("up"), nameless, no_metadata, runconfiguration("down")])

    assert [rc.key for rc in valid] == [UP, DOWN]
    assert [item.where for item in invalid] == ["team/?", "default/?"]
