"""ListRuns on the KFP fake as KFP's API server answers it (PLAIN-KFP-FACTS §2), via kfp_server_api.

The poll relies on each of these: predicates ANDed, IN on `state`, `timestamp_value` on
`finished_at` compared as unix seconds (and `string_value` coerced the way MySQL does it), every
operation by name or number in snake or camel case, sort, page size clamped to 200, page tokens
that embed the sort and filter, and `finished_at` 1970-01-01 while a run has not finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kfp_server_api
import pytest
from kfp_fakes.kfp import FakeKfp

T = datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeKfp]:
    with FakeKfp() as started:
        yield started


@pytest.fixture
def fake(server: FakeKfp) -> FakeKfp:
    server.reset()
    return server


@pytest.fixture
def api(fake: FakeKfp, tmp_path: Path) -> Any:
    return fake.client(home=tmp_path)._run_api


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def runs(
    fake: FakeKfp, count: int, state: str = "SUCCEEDED", start: datetime = T, description: str = ""
) -> list[str]:
    pid, (vid,) = fake.add_pipeline(f"p{len(fake.runs())}")
    ids = []
    for i in range(count):
        run_id = fake.add_run(f"r{i}", pid, vid, description=description)
        if state != "RUNNING":
            fake.finish_run(run_id, state, finished_at=start + timedelta(seconds=i))
        ids.append(run_id)
    return ids


def listed(api: Any, predicates: list[dict[str, Any]], **query: Any) -> list[str]:
    body = json.loads(
        api.run_service_list_runs(
            filter=json.dumps({"predicates": predicates}), _preload_content=False, **query
        ).data
    )
    return [r["run_id"] for r in body.get("runs") or []]


def test_terminal_runs_since_a_time_are_state_in_and_finished_at_timestamp(fake, api):
    old = runs(fake, 2, start=T - timedelta(hours=1))
    new = runs(fake, 2)
    failed = runs(fake, 1, "FAILED", start=T + timedelta(minutes=1))
    running = runs(fake, 1, "RUNNING")
    terminal = {
        "key": "state",
        "operation": "IN",
        "string_values": {"values": ["SUCCEEDED", "FAILED", "CANCELED"]},
    }
    since = {"key": "finished_at", "operation": "GREATER_THAN_EQUALS", "timestamp_value": stamp(T)}

    assert listed(api, [terminal, since], sort_by="finished_at") == new + failed
    assert listed(api, [since], sort_by="finished_at desc") == (new + failed)[::-1]
    assert set(listed(api, [terminal])) == set(old + new + failed)
    assert (
        json.loads(api.run_service_get_run(running[0], _preload_content=False).data)["finished_at"]
        == "1970-01-01T00:00:00Z"
    )


def test_operations_by_name_or_number_in_snake_or_camel_case(fake, api):
    ids = runs(fake, 4, description="marker: a/up")
    seconds = int((T + timedelta(seconds=2)).timestamp())

    assert listed(api, [{"key": "finished_at", "operation": 6, "longValue": str(seconds)}]) == ids[:2]
    assert (
        listed(api, [{"key": "finished_at", "operation": "LESS_THAN_EQUALS", "long_value": seconds}])
        == ids[:3]
    )
    assert listed(api, [{"key": "finished_at", "operation": 3, "timestampValue": stamp(T)}]) == ids[1:]
    assert listed(api, [{"key": "run_id", "operation": "NOT_EQUALS", "string_value": ids[0]}]) == ids[1:]
    assert listed(api, [{"key": "description", "operation": 9, "stringValue": "a/up"}]) == ids
    assert listed(api, [{"key": "display_name", "operation": "EQUALS", "string_value": "r3"}]) == ids[3:]


def test_a_time_as_string_value_is_coerced_like_mysql_and_matches_every_run(fake, api):
    ids = runs(fake, 2)
    predicate = {
        "key": "finished_at",
        "operation": "GREATER_THAN",
        "string_value": stamp(T + timedelta(days=365)),
    }

    assert listed(api, [predicate]) == ids  # "2027-..." is 2027 seconds after 1970


@pytest.mark.parametrize(
    "predicate",
    [
        {"key": "state", "operation": "IN", "string_value": "SUCCEEDED"},
        {"key": "state", "operation": "EQUALS", "string_values": {"values": ["SUCCEEDED"]}},
        {"key": "state", "operation": "IS_SUBSTRING", "int_value": 3},
        {"key": "colour", "operation": "EQUALS", "string_value": "red"},
        {"key": "state", "operation": 4, "string_value": "SUCCEEDED"},
        {"key": "state", "operation": "EQUALS"},
    ],
)
def test_an_ill_formed_predicate_is_400(fake, api, predicate):
    with pytest.raises(kfp_server_api.ApiException) as refused:
        listed(api, [predicate])
    assert refused.value.status == 400


def test_pages_of_at_most_200_with_tokens_that_carry_sort_and_filter(fake, api):
    ids = runs(fake, 203)
    since = [{"key": "finished_at", "operation": "GREATER_THAN_EQUALS", "timestamp_value": stamp(T)}]
    query = {"filter": json.dumps({"predicates": since}), "sort_by": "finished_at"}

    first = json.loads(api.run_service_list_runs(page_size=500, _preload_content=False, **query).data)
    token = first["next_page_token"]
    with pytest.raises(kfp_server_api.ApiException) as other:
        api.run_service_list_runs(page_token=token, sort_by="created_at", filter=query["filter"])
    bare = json.loads(api.run_service_list_runs(page_token=token, page_size=500, _preload_content=False).data)
    last = json.loads(
        api.run_service_list_runs(page_token=token, page_size=500, _preload_content=False, **query).data
    )
    default = json.loads(api.run_service_list_runs(_preload_content=False).data)

    assert [r["run_id"] for r in first["runs"]] == ids[:200]
    assert other.value.status == 400
    assert [r["run_id"] for r in bare["runs"]] == [r["run_id"] for r in last["runs"]] == ids[200:]
    assert "next_page_token" not in last
    assert len(default["runs"]) == 20
