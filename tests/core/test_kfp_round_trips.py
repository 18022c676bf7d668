"""What one started run costs in round trips, and why the savings cannot go stale.

Steady state (the watch index, ids cached): Kubernetes records the emitter's latest run, writes the
claim, records the completion and writes the Event: 4 calls; KFP looks the run up by name and
creates it: 2 calls. The savings: writes take their precondition from the last write's answer, a
fresh claim is not renewed, and KFP ids are cached for at most a minute (`IdCache`).
"""

from __future__ import annotations

import contextlib
import time

from kfp_chain.adapters.kfp.launcher import IdCache

from tests.builders import binary_event, event_data, seed_objects

WATCH = r"watch=(true|1)"


def started(function, run_id: str) -> None:
    status, body = function.post(binary_event(event_data(run_id=run_id)))
    assert status == 200 and body["dependents"][0]["outcome"] == "started", body


def ready(function) -> None:
    deadline = time.monotonic() + 10
    while function.get("/readyz")[0] != 200:
        assert time.monotonic() < deadline, "the watch index never filled"
        time.sleep(0.05)


def test_a_started_run_costs_four_kubernetes_and_two_kfp_calls_in_steady_state(cluster_function, kube, kfp):
    for obj in seed_objects():
        kube.put(obj)
    function = cluster_function(KFP_CHAIN_INDEX="watch")
    ready(function)
    started(function, "1")  # warms the ids and the last-seen objects
    kube.reset_log()
    kfp.reset_log()

    started(function, "2")

    kube_calls = [(c.method, c.path.rsplit("/", 1)[-1]) for c in kube.calls() if "watch" not in str(c.query)]
    assert kube_calls == [
        ("PATCH", "status"),  # the emitter's latestRuns.succeeded
        ("PATCH", "penguin-pipeline-training-rc"),  # the claim, on the copy the last write answered with
        ("PATCH", "status"),  # the dependent's status.triggers
        ("POST", "events"),  # TriggerStarted
    ]
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in kfp.calls()] == [("GET", "runs"), ("POST", "runs")]


def test_a_pipeline_uploaded_again_under_its_name_is_found_by_a_retry_of_the_refused_create(
    cluster_function, kube, kfp
):
    for obj in seed_objects():
        kube.put(obj)
    function = cluster_function()
    started(function, "1")
    kfp.reset()  # the pipeline is deleted and uploaded again: same name, new ids
    kfp.add_pipeline("penguin-pipeline-training", ["v3"])

    started(function, "2")

    [run] = kfp.runs()
    assert run["display_name"].endswith("run 2")


def test_cached_ids_expire_after_the_ttl_and_misses_are_never_cached() -> None:
    now = [0.0]
    cache = IdCache(ttl=60, clock=lambda: now[0])
    answers = iter(["v1", "v2"])
    assert cache.get(("version", "p", ""), lambda: next(answers)) == "v1"
    now[0] = 59.9
    assert cache.get(("version", "p", ""), lambda: next(answers)) == "v1"
    now[0] = 60.0
    assert cache.get(("version", "p", ""), lambda: next(answers)) == "v2"

    def missing() -> str:
        raise LookupError("no such pipeline")

    for _ in range(2):
        with contextlib.suppress(LookupError):
            cache.get(("pipeline", "x"), missing)
    assert cache.forget([("pipeline", "x")]) is False
    assert cache.forget([("version", "p", "")]) is True
