"""A join's inputs and its parameters come from one read of each upstream.

The fault suite found a fan-in run named for emitter-0's run 6 that carried the artifact of run 12:
planning read the upstream once for the join's inputs and again for the parameters, and another
replica recorded a newer success in between. Here the second read of an upstream is a newer run.
"""

from __future__ import annotations

from kfp_chain.dependents import DependentsIndex
from kfp_chain.intake import RunCompletion, RunStatus
from kfp_chain.planning import plan_one
from kfp_chain.runconfiguration import Artifact, RcKey, RunConfiguration, parse_runconfiguration

from tests.builders import rc, ref, succeeded

A, B = RcKey("a", "one"), RcKey("a", "two")


def _dependent() -> RunConfiguration:
    obj = rc(
        "a",
        "dep",
        triggers=["a/one", "a/two"],
        parameters=[ref("a/one", "out", param="in_0"), ref("a/two", "out", param="in_1")],
    )
    obj["metadata"]["annotations"] = {"kfp-chain.io/trigger-policy": "all"}
    return parse_runconfiguration(obj)


def _upstream(key: RcKey, run: str) -> RunConfiguration:
    return parse_runconfiguration(
        rc(key.namespace, key.name, status=succeeded(run, out=f"gs://b/{key.name}/{run}"))
    )


def test_a_join_names_the_runs_whose_artifacts_it_carries_when_an_upstream_moves_between_reads() -> None:
    dependent = _dependent()
    index = DependentsIndex([dependent, _upstream(A, "a6"), _upstream(B, "b1")])
    reads: dict[RcKey, int] = {}

    def moving(key: RcKey) -> RunConfiguration | None:
        reads[key] = reads.get(key, 0) + 1
        if key == A:  # every later read sees a newer success of a/one
            return _upstream(A, "a6" if reads[key] == 1 else "a12")
        return index.get(key)

    event = RunCompletion(B, RunStatus.SUCCEEDED, "b1", artifacts=(Artifact("out", "gs://b/two/b1"),))
    planned = plan_one(index, event, dependent, moving)

    runs = dict(planned.trigger.inputs)
    assert planned.runnable, planned.refusal
    assert planned.parameters["in_0"] == f"gs://b/one/{runs[A]}"
    assert reads[A] == 1
