"""Dependency cycles through the function: refused where the rule says, and never a run loop.

The rule (functions/kfp_chain/dependents.py): in a cycle of trigger edges, the feedback edges (the
dependent needs no *required* artifact of that upstream) are refused; if a cycle is left among
required edges, all of its edges are refused. Each test plays the local runner's loop: every run the
function starts "completes" and its completion goes back in as an event, for `ROUNDS` rounds; the
number of runs must stop growing.
"""

from __future__ import annotations

from typing import Any

from tests.builders import binary_event, event_data, rc, ref

ROUNDS = 8
OUT = [{"name": "out", "path": "C:out"}]


def node(
    key: str, triggers: list[str], parameters: list[dict[str, Any]] | None = None, **kwargs: Any
) -> dict[str, Any]:
    namespace, name = key.split("/")
    return rc(namespace, name, triggers=triggers, parameters=parameters, artifacts=OUT, **kwargs)


def completion(key: str, run_id: str) -> tuple[dict[str, str], bytes]:
    return binary_event(
        event_data(key, run_id=run_id, artifacts=[{"name": "out", "location": f"gs://{key}/{run_id}"}])
    )


def play(function: Any, kfp: Any, first: str) -> tuple[list[int], list[dict[str, Any]]]:
    """`first` completes; then every started run completes, round after round. Runs per round, and every
    dependent outcome the function reported."""
    outcomes: list[dict[str, Any]] = []
    status, body = function.post(completion(first, "seed"))
    assert status == 200, body
    outcomes += body["dependents"]
    fed: set[str] = set()
    counts = [len(kfp.runs())]
    for _ in range(ROUNDS):
        for run in kfp.runs():
            if run["run_id"] in fed:
                continue
            fed.add(run["run_id"])
            dependent = run["display_name"].split(" <- ")[0]
            status, body = function.post(completion(dependent, run["run_id"]))
            assert status == 200, body
            outcomes += body["dependents"]
        counts.append(len(kfp.runs()))
    return counts, outcomes


def started(kfp: Any) -> list[str]:
    return sorted(r["display_name"].split(" <- ")[0] for r in kfp.runs())


def refusals(outcomes: list[dict[str, Any]]) -> dict[str, str]:
    return {o["display_name"].split(" run ")[0]: o["detail"] for o in outcomes if o.get("reason") == "cycle"}


def assert_bounded(counts: list[int]) -> None:
    assert counts[-1] == counts[-2] == counts[len(counts) // 2], f"runs per round kept growing: {counts}"


def test_a_two_node_cycle_of_bare_triggers_refuses_both_edges(cluster_function, kube, kfp):
    kube.put(node("t/x", []))
    kube.put(node("t/a", ["x", "b"]))
    kube.put(node("t/b", ["a"]))

    counts, outcomes = play(cluster_function(), kfp, "t/x")

    assert_bounded(counts)
    assert started(kfp) == ["t/a"]
    assert list(refusals(outcomes)) == ["t/b <- t/a"]
    assert "t/a" in refusals(outcomes)["t/b <- t/a"] and "t/b" in refusals(outcomes)["t/b <- t/a"]


def test_the_optional_feedback_edge_is_refused_and_the_required_one_triggers(cluster_function, kube, kfp):
    kube.put(node("t/x", []))
    kube.put(
        node(
            "t/a", ["x", "b"], [ref("t/x", "out", param="x"), ref("t/b", "out", optional=True, param="warm")]
        )
    )
    kube.put(node("t/b", ["a"], [ref("t/a", "out", param="a")]))

    counts, outcomes = play(cluster_function(), kfp, "t/x")

    assert_bounded(counts)
    assert started(kfp) == ["t/a", "t/b"]
    assert list(refusals(outcomes)) == ["t/a <- t/b"]


def test_the_same_across_namespaces(cluster_function, kube, kfp):
    kube.put(node("up/x", []))
    kube.put(
        node(
            "one/a",
            ["up/x", "two/b"],
            [ref("up/x", "out", param="x"), ref("two/b", "out", optional=True, param="w")],
        )
    )
    kube.put(node("two/b", ["one/a"], [ref("one/a", "out", param="a")]))

    counts, outcomes = play(cluster_function(), kfp, "up/x")

    assert_bounded(counts)
    assert started(kfp) == ["one/a", "two/b"]
    assert list(refusals(outcomes)) == ["one/a <- two/b"]


def test_a_cycle_of_required_edges_refuses_every_edge(cluster_function, kube, kfp):
    latest = {
        "latestRuns": {
            "succeeded": {"providerId": "0", "artifacts": [{"name": "out", "location": "gs://b/0"}]}
        }
    }
    kube.put(node("t/x", []))
    kube.put(node("t/a", ["x", "b"], [ref("t/b", "out", param="b")]))
    kube.put(node("t/b", ["a"], [ref("t/a", "out", param="a")], status=latest))

    counts, outcomes = play(cluster_function(), kfp, "t/x")

    assert_bounded(counts)
    assert started(kfp) == ["t/a"]  # from x, which is outside the cycle
    assert list(refusals(outcomes)) == ["t/b <- t/a"]


def test_a_longer_cycle_across_namespaces_stops_at_its_optional_edge(cluster_function, kube, kfp):
    kube.put(node("n0/x", []))
    kube.put(
        node(
            "n1/a",
            ["n0/x", "n3/c"],
            [ref("n0/x", "out", param="x"), ref("n3/c", "out", optional=True, param="w")],
        )
    )
    kube.put(node("n2/b", ["n1/a"], [ref("n1/a", "out", param="a")]))
    kube.put(node("n3/c", ["n2/b"], [ref("n2/b", "out", param="b")]))

    counts, outcomes = play(cluster_function(), kfp, "n0/x")

    assert_bounded(counts)
    assert started(kfp) == ["n1/a", "n2/b", "n3/c"]
    assert list(refusals(outcomes)) == ["n1/a <- n3/c"]
    assert all(k in refusals(outcomes)["n1/a <- n3/c"] for k in ("n1/a", "n2/b", "n3/c"))


def test_a_longer_cycle_closed_by_a_bare_trigger_stops_at_that_edge(cluster_function, kube, kfp):
    kube.put(node("n0/x", []))
    kube.put(node("n1/a", ["n0/x", "n3/c"], [ref("n0/x", "out", param="x")]))
    kube.put(node("n2/b", ["n1/a"], [ref("n1/a", "out", param="a")]))
    kube.put(node("n3/c", ["n2/b"], [ref("n2/b", "out", param="b")]))
    # a reads nothing of c, so c -> a is the feedback edge.
    counts, outcomes = play(cluster_function(), kfp, "n0/x")

    assert_bounded(counts)
    assert started(kfp) == ["n1/a", "n2/b", "n3/c"]
    assert list(refusals(outcomes)) == ["n1/a <- n3/c"]


def test_a_three_node_cycle_of_required_refs_refuses_all_three_edges(cluster_function, kube, kfp):
    latest = {
        "latestRuns": {
            "succeeded": {"providerId": "0", "artifacts": [{"name": "out", "location": "gs://b/0"}]}
        }
    }
    kube.put(node("n0/x", []))
    kube.put(node("n1/a", ["n0/x", "n3/c"], [ref("n3/c", "out", param="c")]))
    kube.put(node("n2/b", ["n1/a"], [ref("n1/a", "out", param="a")]))
    kube.put(node("n3/c", ["n2/b"], [ref("n2/b", "out", param="b")], status=latest))
    function = cluster_function()

    counts, outcomes = play(function, kfp, "n0/x")
    # b and c never start, so feed their completions in by hand: their edges are refused too.
    for key in ("n2/b", "n3/c"):
        _, body = function.post(completion(key, "by-hand"))
        outcomes += body["dependents"]

    assert_bounded(counts)
    assert started(kfp) == ["n1/a"]
    assert sorted(refusals(outcomes)) == ["n1/a <- n3/c", "n2/b <- n1/a", "n3/c <- n2/b"]


def test_a_runconfiguration_triggered_by_itself_is_refused(cluster_function, kube, kfp):
    kube.put(node("t/x", []))
    kube.put(node("t/a", ["x", "a"], [ref("t/a", "out", optional=True, param="warm")]))

    counts, outcomes = play(cluster_function(), kfp, "t/x")

    assert_bounded(counts)
    assert started(kfp) == ["t/a"]
    assert list(refusals(outcomes)) == ["t/a <- t/a"]
