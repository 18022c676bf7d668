"""KFP_CHAIN_VERIFY_UPSTREAM: an event is believed only when KFP confirms its run succeeded.

The upstream run lives in the KFP fake in the state each test needs; the event names its runId (or a
runId KFP never saw), and the answer, the runs in KFP and the Events on the emitter show what happened.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from kfp_fakes.kfp import FakeKfp

from tests.builders import binary_event, event_data
from tests.security.support import metric, post

DEPENDENT_RUN = "b/down <- a/up run {}"


def upstream_run(kfp: FakeKfp, state: str) -> str:
    """A run of the upstream pipeline, created through the API as kfp-operator's provider would."""
    pipeline_id, [version_id] = kfp.add_pipeline(f"upstream-{uuid.uuid4().hex[:6]}")
    request = urllib.request.Request(
        f"{kfp.url}/apis/v2beta1/runs",
        data=json.dumps(
            {
                "display_name": "a/up scheduled run",
                "pipeline_version_reference": {"pipeline_id": pipeline_id, "pipeline_version_id": version_id},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        run_id = str(json.load(response)["run_id"])
    if state != "PENDING":
        kfp.set_run_state(run_id, state)
    return run_id


def event(run_id: str, status: str = "succeeded") -> tuple[dict[str, str], bytes]:
    return binary_event(event_data("a/up", run_id=run_id, status=status), event_id=f"event-{run_id}")


@pytest.fixture
def verifying(chain, kfp, cluster_function):
    return cluster_function(KFP_CHAIN_VERIFY_UPSTREAM="true")


def test_a_run_kfp_reports_succeeded_starts_its_dependents(chain, kfp, verifying):
    run_id = upstream_run(kfp, "SUCCEEDED")

    status, body, _ = post(verifying, event(run_id))

    assert status == 200, body
    assert len(kfp.runs_named(DEPENDENT_RUN.format(run_id))) == 1
    assert kfp.calls("GET", rf"/apis/v2beta1/runs/{run_id}$")


@pytest.mark.parametrize("state", [None, "FAILED", "CANCELED", "SKIPPED"])
def test_a_run_kfp_does_not_know_or_knows_as_not_succeeded_is_refused_403_with_an_event(
    chain, kfp, verifying, state
):
    run_id = str(uuid.uuid4()) if state is None else upstream_run(kfp, state)

    status, body, _ = post(verifying, event(run_id))

    assert status == 403
    assert body["error"] == "upstream-unverified"
    assert kfp.runs_named(DEPENDENT_RUN.format(run_id)) == []
    [warning] = chain.events("a")
    assert warning["reason"] == "UpstreamUnverified" and warning["type"] == "Warning"
    assert warning["involvedObject"]["name"] == "up"
    assert run_id in warning["message"]
    assert "latestRuns" not in (chain.get("a", "up") or {}).get("status", {})  # nothing recorded either
    assert (
        metric(verifying, "kfp_chain_requests_refused_total", code="403", reason="upstream-unverified") == 1
    )


@pytest.mark.parametrize("state", ["PENDING", "RUNNING", "RUNTIME_STATE_UNSPECIFIED"])
def test_a_run_kfp_has_not_finished_yet_is_503_and_the_redelivery_starts_it(chain, kfp, verifying, state):
    """kfp-operator may report the end before KFP's persistence agent records it: retry, do not refuse."""
    run_id = upstream_run(kfp, state)

    status, body, _ = post(verifying, event(run_id))

    assert status == 503 and body["error"] == "upstream-not-finished"
    assert kfp.runs_named(DEPENDENT_RUN.format(run_id)) == []
    assert chain.events("a") == []

    kfp.set_run_state(run_id, "SUCCEEDED")
    assert post(verifying, event(run_id))[0] == 200
    assert len(kfp.runs_named(DEPENDENT_RUN.format(run_id))) == 1


@pytest.mark.parametrize(
    ("fault", "status"), [("status", 503), ("status", 500), ("status", 401), ("drop", 0)]
)
def test_kfp_unreachable_or_refusing_us_is_503_never_403(chain, kfp, verifying, fault, status):
    run_id = upstream_run(kfp, "SUCCEEDED")
    kfp.faults.add(method="GET", path=rf"/runs/{run_id}$", mode=fault, status=status, times=None)

    answer, body, _ = post(verifying, event(run_id))

    assert answer == 503, body
    assert kfp.runs_named(DEPENDENT_RUN.format(run_id)) == []
    assert chain.events("a") == []


def test_a_failed_upstream_is_not_looked_up(chain, kfp, verifying):
    status, _, _ = post(verifying, event("never-in-kfp", status="failed"))

    assert status == 200
    assert not kfp.calls("GET", r"/apis/v2beta1/runs/never-in-kfp$")


def test_verification_is_off_by_default(chain, kfp, cluster_function):
    function = cluster_function()

    assert post(function, event("not-in-kfp"))[0] == 200
    assert not kfp.calls("GET", r"/apis/v2beta1/runs/not-in-kfp$")
