"""Metric values after a scripted sequence of events through the real function and its /metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes
from prometheus_client.parser import text_string_to_metric_families

from tests.builders import binary_event, event_data, plain_event, seed_objects, structured_event
from tests.support import SEED, Function, FunctionFactory


def scrape(function: Function) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = function.client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counts_after_started_duplicate_failed_invalid_skipped_and_retried_events(
    function_factory: FunctionFactory, kfp: FakeKfp, tmp_path: Path
) -> None:
    function = function_factory(
        RUNCONFIGURATIONS=str(SEED.parent),
        KFP_HOST=kfp.url,
        KFP_CHAIN_STATE_DB=str(tmp_path / "state.db"),
        KFP_CHAIN_RETRY_BUDGET_SECONDS="0.5",
    )
    statuses = [
        function.post(binary_event(event_data(run_id="1")))[0],  # started
        function.post(structured_event(event_data(run_id="1")))[0],  # duplicate
        function.post(plain_event(event_data(run_id="2", status="failed")))[0],  # nothing starts
        function.post(({"Content-Type": "application/json"}, b"{not json"))[0],  # 400
        function.post(({"Content-Type": "text/plain"}, b"hello"))[0],  # 415
        function.post(binary_event(event_data(run_id="3", artifacts=[])))[0],  # missing artifact
    ]
    kfp.faults.add(method="POST", path=r"/runs$", status=500, times=None)
    statuses.append(function.post(binary_event(event_data(run_id="4")))[0])  # temporary fault: 503
    kfp.faults.clear()

    samples = scrape(function)

    assert statuses == [200, 200, 200, 400, 415, 200, 503]
    received = "kfp_chain_events_received_total"
    assert value(samples, received, status="succeeded", outcome="handled") == 3
    assert value(samples, received, status="failed", outcome="handled") == 1
    assert value(samples, received, status="unknown", outcome="rejected") == 2
    assert value(samples, received, status="succeeded", outcome="retry") == 1
    assert value(samples, "kfp_chain_events_rejected_total", code="400") == 1
    assert value(samples, "kfp_chain_events_rejected_total", code="415") == 1
    assert value(samples, "kfp_chain_triggers_started_total", namespace="dependant-namespace") == 1
    assert value(samples, "kfp_chain_duplicates_suppressed_total", reason="already-triggered") == 1
    assert value(samples, "kfp_chain_triggers_skipped_total", reason="missing-artifact") == 1
    assert value(samples, "kfp_chain_trigger_failures_total", reason="backend-unavailable") == 1
    latency = "kfp_chain_event_handling_seconds_count"
    assert value(samples, latency, outcome="handled") == 4
    assert value(samples, latency, outcome="rejected") == 2
    assert value(samples, latency, outcome="retry") == 1
    assert value(samples, "kfp_chain_event_handling_seconds_sum", outcome="retry") >= 0.4  # the retry budget
    assert value(samples, "kfp_chain_index_runconfigurations") == 2
    assert value(samples, "kfp_chain_index_staleness_seconds") == 0
    assert len(kfp.runs()) == 1


def test_every_app_counts_on_its_own_registry(
    function_factory: FunctionFactory, kfp: FakeKfp, tmp_path: Path
) -> None:
    env = {
        "RUNCONFIGURATIONS": str(SEED.parent),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_STATE_DB": str(tmp_path / "s.db"),
    }
    first = function_factory(**env)
    first.post(plain_event(event_data(run_id="x", status="failed")))
    second = function_factory(**env)

    assert value(scrape(second), "kfp_chain_events_received_total", status="failed", outcome="handled") == 0


def test_the_watch_index_reports_its_size_and_staleness_at_scrape_time(
    cluster_function: Callable[..., Function],
    kube: FakeKubernetes,
    kfp: FakeKfp,
) -> None:
    for obj in seed_objects():
        kube.put(obj)
    function = cluster_function(KFP_CHAIN_INDEX="watch")
    assert function.post(binary_event(event_data(run_id="w-1")))[0] == 200

    samples = scrape(function)

    assert value(samples, "kfp_chain_index_runconfigurations") == 2
    assert 0 <= value(samples, "kfp_chain_index_staleness_seconds") < 30
    assert value(samples, "kfp_chain_triggers_started_total", namespace="dependant-namespace") == 1
    kube.put({**seed_objects()[0], "metadata": {"name": "third", "namespace": "base-namespace"}})
    assert _eventually(lambda: value(scrape(function), "kfp_chain_index_runconfigurations") == 3)


def _eventually(check: object, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_metrics_text_names_every_documented_series(
    function_factory: FunctionFactory, kfp: FakeKfp, tmp_path: Path
) -> None:
    function = function_factory(
        RUNCONFIGURATIONS=str(SEED.parent), KFP_HOST=kfp.url, KFP_CHAIN_STATE_DB=str(tmp_path / "s.db")
    )
    names = {
        family.name
        for family in text_string_to_metric_families(function.client.get("/metrics").get_data(as_text=True))
    }
    documented = Path(__file__).resolve().parents[2] / "docs" / "operability.md"

    for name in names:
        assert f"`{name}" in documented.read_text(), f"{name} is not documented in docs/operability.md"
    assert "kfp_chain_events_received" in names
