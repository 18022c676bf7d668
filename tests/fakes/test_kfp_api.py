"""The KFP fake, driven by the real kfp.Client: if these pass, the fake speaks what the client speaks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kfp
import kfp_server_api
import pytest
import urllib3
from kfp_fakes.kfp import FakeKfp


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # HOME alone is not enough: kfp computed its context path when it was imported.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / ".config/kfp/context.json"))
    return tmp_path


@pytest.fixture(scope="module")
def server() -> Iterator[FakeKfp]:
    with FakeKfp() as started:
        yield started


@pytest.fixture
def fake(server: FakeKfp, home: Path) -> FakeKfp:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeKfp, home: Path) -> kfp.Client:
    made = fake.client(home=home)
    fake.reset_log()
    return made


def _filter(key: str, value: Any, operation: int | str = 1) -> str:
    field = "stringValues" if isinstance(value, list) else "stringValue"
    operand = {"values": value} if isinstance(value, list) else value
    return json.dumps({"predicates": [{"operation": operation, "key": key, field: operand}]})


def _eventually(condition: Callable[[], bool]) -> bool:
    """server.py logs a dropped request just after closing the socket, so the client can be faster."""
    deadline = time.monotonic() + 2
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    time.sleep(0.05)  # and nothing more arrives
    return condition()


def _paths(fake: FakeKfp) -> list[tuple[str, str, int]]:
    return [(r.method, r.path.removeprefix("/apis/v2beta1"), r.status) for r in fake.calls()]


# -- construction ----------------------------------------------------------------------


def test_construction_asks_healthz_once(fake: FakeKfp, home: Path) -> None:
    made = fake.client(home=home)

    assert _paths(fake) == [("GET", "/healthz", 200)]
    assert made.get_kfp_healthz().multi_user is False


def test_construction_with_a_namespace_makes_no_request(fake: FakeKfp, home: Path) -> None:
    made = fake.client(home=home, namespace="team-a")

    assert fake.calls() == []
    assert made.get_user_namespace() == "team-a"


def test_client_helper_reads_the_context_file_of_the_given_home(fake: FakeKfp, tmp_path: Path) -> None:
    other_home = tmp_path / "other"
    (other_home / ".config/kfp").mkdir(parents=True)
    (other_home / ".config/kfp/context.json").write_text(json.dumps({"namespace": "from-context"}))

    made = fake.client(home=other_home)

    assert made.get_user_namespace() == "from-context"
    assert fake.calls() == []  # a namespace from the context skips healthz


# -- pipelines and versions ------------------------------------------------------------


def test_pipeline_lookup_by_name_hits_and_misses(fake: FakeKfp, client: kfp.Client) -> None:
    pid, _ = fake.add_pipeline("train")
    fake.add_pipeline("score")

    assert client.get_pipeline_id("train") == pid
    assert client.get_pipeline_id("missing") is None
    sent = json.loads(fake.calls("GET", "/pipelines$")[0].query["filter"][0])
    assert sent == {"predicates": [{"operation": 1, "key": "display_name", "stringValue": "train"}]}


def test_latest_version_is_the_last_created_and_pages_on(fake: FakeKfp, client: kfp.Client) -> None:
    pid, (_, v2) = fake.add_pipeline("train", ["v1", "v2"])
    v3 = fake.add_version(pid, "v3")

    first = client.list_pipeline_versions(pid, sort_by="created_at desc", page_size=1)
    second = client.list_pipeline_versions(
        pid, sort_by="created_at desc", page_size=1, page_token=first.next_page_token
    )

    assert [v.pipeline_version_id for v in first.pipeline_versions] == [v3]
    assert first.total_size == 3
    assert [v.pipeline_version_id for v in second.pipeline_versions] == [v2]


def test_version_by_display_name_filter(fake: FakeKfp, client: kfp.Client) -> None:
    pid, (_, v2, _) = fake.add_pipeline("train", ["v1", "v2", "v3"])

    def ids(filter_: str) -> list[str]:
        found = client.list_pipeline_versions(pid, filter=filter_).pipeline_versions or []
        return [v.pipeline_version_id for v in found]

    assert ids(_filter("display_name", "v2", "EQUALS")) == [v2]
    assert ids(_filter("display_name", "nope")) == []


def test_unknown_filter_key_and_bad_sort_are_invalid_argument(fake: FakeKfp, client: kfp.Client) -> None:
    fake.add_pipeline("train")

    calls: list[Callable[[], Any]] = [
        lambda: client.list_pipelines(filter=_filter("colour", "red")),
        lambda: client.list_pipelines(sort_by="colour desc"),
        lambda: client.list_pipelines(filter="{not json"),
        lambda: client.list_pipelines(filter=_filter("display_name", "train", "SOMETIMES")),
    ]
    for call in calls:
        with pytest.raises(kfp_server_api.ApiException) as bad:
            call()
        assert bad.value.status == 400
        assert json.loads(bad.value.body)["code"] == 3


# -- experiments -----------------------------------------------------------------------


def test_experiment_get_or_create_is_idempotent(fake: FakeKfp, client: kfp.Client) -> None:
    first = client.create_experiment("chain")
    second = client.create_experiment("chain")

    assert first.experiment_id == second.experiment_id
    assert [m for m, _, _ in _paths(fake)] == ["GET", "POST", "GET"]
    assert client.get_experiment(experiment_name="chain").experiment_id == first.experiment_id


def test_seeded_experiment_is_found_not_recreated(fake: FakeKfp, client: kfp.Client) -> None:
    eid = fake.add_experiment("chain")

    assert client.create_experiment("chain").experiment_id == eid
    assert fake.calls("POST") == []


# -- runs ------------------------------------------------------------------------------


def test_run_with_params_is_stored_and_listed_by_display_name(fake: FakeKfp, client: kfp.Client) -> None:
    pid, (vid,) = fake.add_pipeline("train")
    eid = fake.add_experiment("chain")
    other = fake.add_experiment("elsewhere")

    run = client.run_pipeline(
        eid, "train-abc", pipeline_id=pid, version_id=vid, params={"lr": 0.1, "x": "s3://a"}
    )
    client.run_pipeline(eid, "train-def", pipeline_id=pid, version_id=vid)
    client.run_pipeline(other, "train-abc", pipeline_id=pid, version_id=vid)

    listed = client.list_runs(experiment_id=eid, filter=_filter("display_name", "train-abc"), page_size=5)
    assert [r.run_id for r in listed.runs] == [run.run_id]
    assert len(client.list_runs(filter=_filter("display_name", "train-abc")).runs) == 2
    stored = fake.runs_named("train-abc")[0]
    assert stored["state"] == "PENDING"
    assert stored["runtime_config"]["parameters"] == {"lr": 0.1, "x": "s3://a"}
    assert stored["pipeline_version_reference"] == {"pipeline_id": pid, "pipeline_version_id": vid}
    assert stored["experiment_id"] == eid


def test_get_run_follows_state_changes(fake: FakeKfp, client: kfp.Client) -> None:
    pid, (vid,) = fake.add_pipeline("train")
    eid = fake.add_experiment("chain")
    run_id = client.run_pipeline(eid, "r", pipeline_id=pid, version_id=vid).run_id

    assert client.get_run(run_id).state == "PENDING"
    fake.set_run_state(run_id, "SUCCEEDED")
    done = client.get_run(run_id)

    assert done.state == "SUCCEEDED"
    assert done.finished_at is not None
    assert [s.state for s in done.state_history] == ["PENDING", "SUCCEEDED"]
    with pytest.raises(kfp_server_api.ApiException) as missing:
        client.get_run("no-such-run")
    assert missing.value.status == 404


def test_instant_runs_are_born_succeeded(fake: FakeKfp, client: kfp.Client) -> None:
    fake.instant = True
    pid, (vid,) = fake.add_pipeline("train")

    run = client.run_pipeline(fake.add_experiment("chain"), "r", pipeline_id=pid, version_id=vid)

    assert run.state == "SUCCEEDED"


def test_run_without_experiment_lands_in_default(fake: FakeKfp, client: kfp.Client) -> None:
    pid, (vid,) = fake.add_pipeline("train")
    body = kfp_server_api.V2beta1Run(
        display_name="r",
        pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id=pid, pipeline_version_id=vid
        ),
    )

    run = client._run_api.run_service_create_run(run=body)

    assert client.get_experiment(experiment_name="Default").experiment_id == run.experiment_id


@pytest.mark.parametrize(
    ("which", "status", "code"),
    [("version", 404, 5), ("pipeline", 404, 5), ("experiment", 404, 5), ("nothing", 400, 3)],
)
def test_run_against_what_does_not_exist_is_refused(
    fake: FakeKfp, client: kfp.Client, which: str, status: int, code: int
) -> None:
    pid, (vid,) = fake.add_pipeline("train")
    eid = fake.add_experiment("chain")
    reference = {
        "version": kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id=pid, pipeline_version_id="nope"
        ),
        "pipeline": kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id="nope", pipeline_version_id=vid
        ),
        "experiment": kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id=pid, pipeline_version_id=vid
        ),
        "nothing": None,
    }[which]
    body = kfp_server_api.V2beta1Run(
        experiment_id="nope" if which == "experiment" else eid,
        display_name="r",
        pipeline_version_reference=reference,
    )

    with pytest.raises(kfp_server_api.ApiException) as refused:
        client._run_api.run_service_create_run(run=body)

    assert refused.value.status == status
    error = json.loads(refused.value.body)
    assert error["code"] == code
    assert error["error"] == error["message"]
    assert fake.runs() == []


def test_run_list_pages_through_everything(fake: FakeKfp, client: kfp.Client) -> None:
    pid, (vid,) = fake.add_pipeline("train")
    eid = fake.add_experiment("chain")
    for i in range(5):
        client.run_pipeline(eid, f"r{i}", pipeline_id=pid, version_id=vid)

    seen: list[str] = []
    token = ""
    while True:
        page = client.list_runs(experiment_id=eid, page_size=2, page_token=token, sort_by="created_at desc")
        seen += [r.display_name for r in page.runs]
        token = page.next_page_token
        if not token:
            break

    assert seen == ["r4", "r3", "r2", "r1", "r0"]


# -- faults ----------------------------------------------------------------------------


def _run(fake: FakeKfp, client: kfp.Client) -> Any:
    pid, (vid,) = fake.add_pipeline("train")
    eid = fake.add_experiment("chain")
    return lambda: client.run_pipeline(eid, "r", pipeline_id=pid, version_id=vid)


def test_5xx_is_an_api_exception_and_stores_nothing(fake: FakeKfp, client: kfp.Client) -> None:
    run = _run(fake, client)
    fake.faults.add(method="POST", path=r"/runs$", status=503)

    with pytest.raises(kfp_server_api.ApiException) as failed:
        run()

    assert failed.value.status == 503
    assert json.loads(failed.value.body)["code"] == 14  # UNAVAILABLE, as gRPC-gateway maps 503
    assert fake.runs() == []
    run()
    assert len(fake.runs()) == 1


def test_dropped_post_raises_a_urllib3_error_and_stores_nothing(fake: FakeKfp, client: kfp.Client) -> None:
    run = _run(fake, client)
    fake.faults.add(method="POST", path=r"/runs$", mode="drop")

    with pytest.raises(urllib3.exceptions.ProtocolError):
        run()

    assert fake.runs() == []
    assert _eventually(lambda: len(fake.calls("POST", r"/runs$")) == 1)  # urllib3 does not retry a POST


def test_lost_answer_stores_the_run_though_the_client_failed(fake: FakeKfp, client: kfp.Client) -> None:
    run = _run(fake, client)
    fake.faults.add(method="POST", path=r"/runs$", mode="after", status=0)

    with pytest.raises(urllib3.exceptions.ProtocolError):
        run()

    assert [r["display_name"] for r in fake.runs()] == ["r"]


def test_one_dropped_get_is_retried_by_urllib3_unseen(fake: FakeKfp, client: kfp.Client) -> None:
    pid, _ = fake.add_pipeline("train")
    fake.faults.add(method="GET", path=r"/pipelines$", mode="drop")

    assert client.get_pipeline_id("train") == pid
    assert _eventually(lambda: sorted(s for _, _, s in _paths(fake)) == [0, 200])


def test_get_dropped_every_time_gives_up_after_four_tries(fake: FakeKfp, client: kfp.Client) -> None:
    fake.faults.add(method="GET", path=r"/runs/", mode="drop", times=None)

    with pytest.raises(urllib3.exceptions.MaxRetryError):
        client.get_run("any")

    assert _eventually(lambda: len(fake.calls("GET", r"/runs/")) == 4)


def test_delay_fault_delays(fake: FakeKfp, client: kfp.Client) -> None:
    fake.faults.add(method="GET", path=r"/pipelines$", mode="delay", delay=0.3)

    started = time.monotonic()
    client.get_pipeline_id("anything")

    assert time.monotonic() - started >= 0.3


def test_reset_forgets_everything(fake: FakeKfp, client: kfp.Client) -> None:
    run = _run(fake, client)
    run()
    fake.faults.add(method="GET", status=500, times=None)
    fake.instant = True

    fake.reset()

    assert (fake.runs(), fake.calls(), fake.instant) == ([], [], False)
    assert client.get_pipeline_id("train") is None


# -- auth and concurrency --------------------------------------------------------------


def test_existing_token_is_sent_as_bearer(fake: FakeKfp, home: Path) -> None:
    made = fake.client(home=home, existing_token="s3cret")
    made.get_pipeline_id("x")

    assert fake.tokens_seen == ["Bearer s3cret", "Bearer s3cret"]


def test_no_token_no_header(fake: FakeKfp, client: kfp.Client) -> None:
    client.get_pipeline_id("x")

    assert fake.tokens_seen == []


def test_concurrent_clients_all_land(fake: FakeKfp, home: Path) -> None:
    pid, (vid,) = fake.add_pipeline("train")
    eid = fake.add_experiment("chain")
    clients = [fake.client(home=home, namespace="ns") for _ in range(6)]
    errors: list[BaseException] = []

    def launch(made: kfp.Client, n: int) -> None:
        try:
            for i in range(5):
                made.run_pipeline(eid, f"c{n}-{i}", pipeline_id=pid, version_id=vid)
                made.list_runs(experiment_id=eid, filter=_filter("display_name", f"c{n}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=launch, args=(made, n)) for n, made in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    runs = fake.runs()
    assert len(runs) == 30
    assert len({r["run_id"] for r in runs}) == 30


# -- optional authentication and multi-user mode ---------------------------------------
def _status(call: Callable[[], Any]) -> int:
    with pytest.raises(kfp_server_api.ApiException) as caught:
        call()
    return int(caught.value.status)


def test_with_tokens_required_a_call_without_or_with_an_unknown_token_is_401(
    fake: FakeKfp, home: Path
) -> None:
    fake.add_pipeline("train")
    fake.require_tokens({"good": None})
    anonymous = fake.client(home=home)  # healthz (made here) needs no token, as in KFP
    stranger = fake.client(home=home, existing_token="forged")
    member = fake.client(home=home, existing_token="good")

    assert _status(lambda: anonymous.get_pipeline_id("train")) == 401
    assert _status(lambda: stranger.list_runs()) == 401
    assert member.get_pipeline_id("train") is not None
    with pytest.raises(kfp_server_api.ApiException) as caught:
        anonymous.list_experiments()
    assert json.loads(caught.value.body)["code"] == 16  # UNAUTHENTICATED, as gRPC-gateway answers it


def test_a_token_used_outside_its_namespaces_is_403(fake: FakeKfp, home: Path) -> None:
    fake.multi_user = True
    pid, [vid] = fake.add_pipeline("train")
    fake.require_tokens({"team-a": {"team-a"}, "admin": None})
    team_a = fake.client(home=home, existing_token="team-a", namespace="team-a")
    admin = fake.client(home=home, existing_token="admin", namespace="team-b")
    mine = team_a.create_experiment("chain", namespace="team-a")
    theirs = admin.create_experiment("chain", namespace="team-b")

    assert _status(lambda: team_a.create_experiment("other", namespace="team-b")) == 403
    assert _status(lambda: team_a.list_runs(namespace="team-b")) == 403
    assert (
        _status(lambda: team_a.run_pipeline(theirs.experiment_id, "r", pipeline_id=pid, version_id=vid))
        == 403
    )
    run = team_a.run_pipeline(mine.experiment_id, "r", pipeline_id=pid, version_id=vid)
    assert team_a.get_run(run.run_id).run_id == run.run_id
    assert admin.get_run(run.run_id).run_id == run.run_id  # a token for every namespace


def test_multi_user_mode_scopes_experiments_and_runs_by_namespace(fake: FakeKfp, home: Path) -> None:
    fake.multi_user = True
    pid, [vid] = fake.add_pipeline("train")
    client = fake.client(home=home, namespace="team-a")
    assert client.get_kfp_healthz().multi_user is True

    a = client.create_experiment("chain", namespace="team-a")
    b = client.create_experiment("chain", namespace="team-b")  # the same name in another namespace
    client.run_pipeline(a.experiment_id, "in-a", pipeline_id=pid, version_id=vid)
    client.run_pipeline(b.experiment_id, "in-b", pipeline_id=pid, version_id=vid)

    assert a.namespace == "team-a" and a.experiment_id != b.experiment_id
    assert [e.experiment_id for e in client.list_experiments(namespace="team-a").experiments] == [
        a.experiment_id
    ]
    assert [r.display_name for r in client.list_runs(namespace="team-b").runs] == ["in-b"]
    assert [r.display_name for r in client.list_runs(experiment_id=a.experiment_id).runs] == ["in-a"]


@pytest.mark.parametrize(
    "call",
    ["list experiments", "create experiment", "list runs", "run without experiment"],
)
def test_multi_user_mode_refuses_calls_without_a_namespace_with_400(
    fake: FakeKfp, home: Path, call: str
) -> None:
    fake.multi_user = True
    pid, [vid] = fake.add_pipeline("train")
    client = fake.client(home=home)
    api = client._run_api  # the generated API: kfp.Client would fill in its context namespace
    calls: dict[str, Callable[[], Any]] = {
        "list experiments": lambda: client._experiment_api.experiment_service_list_experiments(),
        "create experiment": lambda: client._experiment_api.experiment_service_create_experiment(
            experiment=kfp_server_api.V2beta1Experiment(display_name="chain")
        ),
        "list runs": lambda: api.run_service_list_runs(),
        "run without experiment": lambda: api.run_service_create_run(
            run=kfp_server_api.V2beta1Run(
                display_name="r",
                pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(
                    pipeline_id=pid, pipeline_version_id=vid
                ),
            )
        ),
    }
    with pytest.raises(kfp_server_api.ApiException) as caught:
        calls[call]()
    assert caught.value.status == 400
    assert "cannot have an empty namespace in multi-user mode" in json.loads(caught.value.body)["message"]
    assert fake.runs() == []


def test_auth_and_multi_user_mode_are_off_again_after_reset(fake: FakeKfp, home: Path) -> None:
    fake.multi_user = True
    fake.require_tokens({"t": None})
    fake.reset()
    client = fake.client(home=home)
    assert client.list_experiments().total_size == 0
