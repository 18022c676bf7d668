"""The core path over real HTTP: the function, the real kubernetes client and kfp.Client, the fakes."""

from __future__ import annotations

import json
import threading
import time

from kfp_chain.adapters.kubernetes.claims import claims_in
from kfp_chain.adapters.ports import Trigger
from kfp_chain.runconfiguration import RcKey

from tests.builders import (
    EXAMPLES_RC,
    TRAINING_RC,
    binary_event,
    event_data,
    plain_event,
    rc,
    ref,
    seed_objects,
    structured_event,
)
from tests.support import run_concurrently

TRAINING_RUN = f"{TRAINING_RC} <- {EXAMPLES_RC} run 123"


def seed(kube):
    for obj in seed_objects():
        kube.put(obj)


def test_a_succeeded_examples_run_starts_exactly_one_training_run_with_its_artifact(
    cluster_function, kube, kfp
):
    seed(kube)
    function = cluster_function()

    status, body = function.post(binary_event(event_data()))

    assert status == 200, body
    runs = kfp.runs()
    assert len(runs) == 1
    run = runs[0]
    assert run["display_name"] == TRAINING_RUN
    assert run["runtime_config"]["parameters"] == {"examples_location": "gs://bucket/examples/123"}
    pipeline_id = kfp.client().get_pipeline_id("penguin-pipeline-training")
    assert run["pipeline_version_reference"]["pipeline_id"] == pipeline_id
    [outcome] = body["dependents"]
    assert outcome["outcome"] == "started" and outcome["run_id"] == run["run_id"]


def test_the_trigger_and_the_emitters_latest_run_are_recorded_in_fields_the_crd_keeps(
    cluster_function, kube, kfp
):
    seed(kube)
    cluster_function().post(binary_event(event_data()))

    training = kube.get("dependant-namespace", "penguin-pipeline-training-rc")
    assert training["status"]["triggers"]["runConfigurations"][EXAMPLES_RC] == {"providerId": "123"}
    # The claim is not removed by a write of its own: status says the trigger is done, so it is no
    # claim in progress, and the next claim on this dependent removes it in the same write.
    assert claims_in(training) == [] and len(_claim_annotations(training)) == 1
    examples = kube.get("base-namespace", "penguin-pipeline-examples-rc")
    assert examples["status"]["latestRuns"]["succeeded"] == {
        "providerId": "123",
        "artifacts": [{"name": "examples", "location": "gs://bucket/examples/123"}],
    }


def test_recording_latest_runs_can_be_left_to_kfp_operator(cluster_function, kube, kfp):
    seed(kube)
    cluster_function(RECORD_LATEST_RUNS="false").post(binary_event(event_data()))

    assert "latestRuns" not in (
        kube.get("base-namespace", "penguin-pipeline-examples-rc").get("status") or {}
    )
    assert len(kfp.runs()) == 1


def test_binary_structured_and_plain_json_are_the_same_event(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function()

    answers = [
        function.post(encode(event_data())) for encode in (binary_event, structured_event, plain_event)
    ]

    assert [status for status, _ in answers] == [200, 200, 200]
    assert [o["outcome"] for _, body in answers for o in body["dependents"]] == [
        "started",
        "duplicate",
        "duplicate",
    ]
    assert len(kfp.runs()) == 1


def test_the_same_event_twice_starts_one_run_and_the_second_is_acknowledged(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function()

    first = function.post(binary_event(event_data()))
    second = function.post(binary_event(event_data()))

    assert first[0] == second[0] == 200
    assert second[1]["dependents"][0]["outcome"] == "duplicate"
    assert len(kfp.runs()) == 1


def test_the_same_event_on_four_threads_at_once_starts_one_run(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="5")
    request = binary_event(event_data())

    def deliver_until_acknowledged() -> list[int]:
        client = function.flask.test_client()
        statuses = []
        for attempt in range(20):  # the broker redelivers every 5xx, after a backoff
            response = client.post("/", headers=request[0], data=request[1])
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        return statuses

    results = run_concurrently(deliver_until_acknowledged, 4)

    assert all(r[-1] == 200 for r in results), results
    assert len(kfp.runs_named(TRAINING_RUN)) == 1


def test_a_failed_upstream_starts_nothing_and_is_acknowledged(cluster_function, kube, kfp):
    seed(kube)
    status, body = cluster_function().post(binary_event(event_data(status="failed")))

    assert status == 200
    assert body["dependents"] == [] and "failed" in body["note"]
    assert kfp.runs() == []
    assert "status" not in kube.get("base-namespace", "penguin-pipeline-examples-rc")


def test_an_emitter_nobody_depends_on_is_acknowledged(cluster_function, kube, kfp):
    seed(kube)
    status, body = cluster_function().post(binary_event(event_data("base-namespace/lonely")))

    assert status == 200 and body["note"] == "nothing depends on this RunConfiguration"
    assert kfp.runs() == []


def test_malformed_events_get_400_naming_the_field_and_start_nothing(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function()
    bad = event_data()
    bad["runConfigurationName"] = "no-namespace"

    cases = [
        (plain_event(bad), "runConfigurationName"),
        (({"Content-Type": "application/json"}, b"{not json"), "body"),
        (binary_event({**event_data(), "status": "exploded"}), "status"),
        (({"Content-Type": "text/plain"}, b"hello"), "content-type"),
    ]
    for request, field in cases:
        status, body = function.post(request)
        assert 400 <= status < 500, (field, status, body)
        assert body["field"] == field, body
    headers, body = binary_event(event_data())
    headers["ce-type"] = "com.example.other"
    status, answer = function.post((headers, body))
    assert status == 400 and answer["field"] == "type"
    assert kfp.runs() == []


def test_a_name_only_trigger_means_the_dependents_own_namespace(cluster_function, kube, kfp):
    kube.put(rc("team", "upstream", artifacts=[{"name": "out", "path": "A:out"}]))
    kube.put(rc("team", "downstream", triggers=["upstream"], parameters=[ref("upstream", "out")]))
    kube.put(rc("other", "not-mine", triggers=["upstream"]))

    status, body = cluster_function().post(
        binary_event(event_data("team/upstream", artifacts=[{"name": "out", "location": "s3://b/o"}]))
    )

    assert status == 200
    assert [d["dependent"] for d in body["dependents"]] == ["team/downstream"]
    assert kfp.runs()[0]["runtime_config"]["parameters"] == {"p": "s3://b/o"}


def test_several_dependents_of_one_emitter_each_start_once(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    for namespace, name in [("a", "one"), ("b", "two"), ("c", "three")]:
        kube.put(rc(namespace, name, triggers=["a/up"], parameters=[{"name": "x", "value": name}]))

    status, _body = cluster_function().post(binary_event(event_data("a/up", artifacts=[])))

    assert status == 200
    assert sorted(r["runtime_config"]["parameters"]["x"] for r in kfp.runs()) == ["one", "three", "two"]


def test_a_missing_required_artifact_starts_nothing_for_that_dependent_and_says_which_reference(
    cluster_function, kube, kfp, caplog
):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "needs-it", triggers=["up"], parameters=[ref("up", "model")]))
    kube.put(rc("a", "does-not", triggers=["up"]))

    status, body = cluster_function(LOG_FORMAT="json").post(binary_event(event_data("a/up")))

    assert status == 200
    outcomes = {d["dependent"]: d for d in body["dependents"]}
    assert outcomes["a/needs-it"]["outcome"] == "skipped"
    assert outcomes["a/needs-it"]["reason"] == "missing-artifact"
    assert (
        "a/up:model" in outcomes["a/needs-it"]["detail"]
        and "'examples'" not in outcomes["a/needs-it"]["detail"]
    )
    assert outcomes["a/does-not"]["outcome"] == "started"
    assert [r["display_name"] for r in kfp.runs()] == ["a/does-not <- a/up run 123"]
    assert "triggers" not in (kube.get("a", "needs-it").get("status") or {})


def test_an_optional_artifact_that_is_missing_leaves_the_parameter_out(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    kube.put(
        rc(
            "a",
            "down",
            triggers=["up"],
            parameters=[
                ref("up", "examples", param="have"),
                ref("up", "model", optional=True, param="maybe"),
            ],
        )
    )

    cluster_function().post(binary_event(event_data("a/up")))

    assert kfp.runs()[0]["runtime_config"]["parameters"] == {"have": "gs://bucket/examples/123"}


def test_a_reference_to_another_rc_reads_its_latest_succeeded_run(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    kube.put(
        rc(
            "a",
            "base",
            status={
                "latestRuns": {
                    "succeeded": {"providerId": "9", "artifacts": [{"name": "vocab", "location": "gs://v/9"}]}
                }
            },
        )
    )
    kube.put(
        rc(
            "a",
            "down",
            triggers=["up"],
            parameters=[ref("up", "examples", param="e"), ref("a/base", "vocab", param="v")],
        )
    )

    cluster_function().post(binary_event(event_data("a/up")))

    assert kfp.runs()[0]["runtime_config"]["parameters"] == {"e": "gs://bucket/examples/123", "v": "gs://v/9"}


def test_a_self_referencing_rc_with_an_optional_ref_runs_without_then_with_its_own_output(
    cluster_function, kube, kfp
):
    kube.put(rc("a", "up"))
    kube.put(
        rc(
            "a",
            "trainer",
            triggers=["up"],
            parameters=[
                ref("up", "examples", param="examples"),
                ref("trainer", "model", optional=True, param="warm"),
            ],
        )
    )
    function = cluster_function()

    function.post(binary_event(event_data("a/up", run_id="1")))
    function.post(
        plain_event(
            event_data("a/trainer", run_id="t1", artifacts=[{"name": "model", "location": "gs://m/1"}])
        )
    )
    function.post(binary_event(event_data("a/up", run_id="2")))

    params = [r["runtime_config"]["parameters"] for r in kfp.runs()]
    assert params == [
        {"examples": "gs://bucket/examples/123"},
        {"examples": "gs://bucket/examples/123", "warm": "gs://m/1"},
    ]


def test_kfp_down_answers_5xx_and_records_nothing_as_done(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function()
    kfp.faults.add(method="POST", path=r"/runs$", status=503, times=None)

    status, body = function.post(binary_event(event_data()))

    assert status == 503, body
    assert body["dependents"][0]["outcome"] == "retry"
    training = kube.get("dependant-namespace", "penguin-pipeline-training-rc")
    assert "triggers" not in (training.get("status") or {})
    assert not [a for a in training["metadata"].get("annotations", {}) if a.startswith("kfp-chain.io/claim.")]

    kfp.faults.clear()
    status, _ = function.post(binary_event(event_data()))
    assert status == 200 and len(kfp.runs()) == 1


def test_kfp_unreachable_answers_5xx(cluster_function, kube):
    seed(kube)
    function = cluster_function(KFP_HOST="http://127.0.0.1:9")

    status, body = function.post(binary_event(event_data()))

    assert status == 503
    assert body["dependents"][0]["reason"] == "backend-unavailable"


def test_a_create_whose_answer_is_lost_is_found_on_redelivery_not_repeated(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function()
    kfp.faults.add(method="POST", path=r"/runs$", mode="after", status=0)

    first, _ = function.post(binary_event(event_data()))
    second, body = function.post(binary_event(event_data()))

    assert len(kfp.runs()) == 1
    assert first == 200 or (first == 503 and second == 200)
    assert body["dependents"][0]["outcome"] == "duplicate" or first == 200


def test_one_dependent_failing_does_not_retrigger_the_others_on_redelivery(cluster_function, kube, kfp):
    kfp.add_pipeline("flaky")
    kube.put(rc("a", "up"))
    kube.put(rc("a", "steady", triggers=["up"]))
    kube.put(rc("a", "wobbly", pipeline="flaky", triggers=["up"]))
    function = cluster_function()
    flaky_id = kfp.client().get_pipeline_id("flaky")
    kfp.faults.add(method="GET", path=rf"/pipelines/{flaky_id}/versions$", status=500, times=None)

    status, body = function.post(binary_event(event_data("a/up")))
    assert status == 503
    assert {d["dependent"]: d["outcome"] for d in body["dependents"]} == {
        "a/steady": "started",
        "a/wobbly": "retry",
    }

    kfp.faults.clear()
    status, body = function.post(binary_event(event_data("a/up")))
    assert status == 200
    assert {d["dependent"]: d["outcome"] for d in body["dependents"]} == {
        "a/steady": "duplicate",
        "a/wobbly": "started",
    }
    assert sorted(r["display_name"] for r in kfp.runs()) == [
        "a/steady <- a/up run 123",
        "a/wobbly <- a/up run 123",
    ]


def test_an_unknown_pipeline_is_acknowledged_with_the_reason_and_the_others_still_start(
    cluster_function, kube, kfp
):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "ghost", pipeline="does-not-exist", triggers=["up"]))
    kube.put(rc("a", "real", triggers=["up"]))

    status, body = cluster_function().post(binary_event(event_data("a/up")))

    assert status == 200
    outcomes = {d["dependent"]: d for d in body["dependents"]}
    assert outcomes["a/ghost"]["reason"] == "unknown-pipeline"
    assert outcomes["a/real"]["outcome"] == "started"
    assert len(kfp.runs()) == 1


def test_a_version_is_chosen_by_display_name_and_otherwise_the_latest(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "pinned", pipeline="penguin-pipeline-training:v1", triggers=["up"]))
    kube.put(rc("a", "latest", pipeline="penguin-pipeline-training", triggers=["up"]))
    client = kfp.client()
    pid = client.get_pipeline_id("penguin-pipeline-training")
    versions = {
        v.display_name: v.pipeline_version_id for v in client.list_pipeline_versions(pid).pipeline_versions
    }

    cluster_function().post(binary_event(event_data("a/up")))

    used = {
        r["display_name"].split(" ")[0]: r["pipeline_version_reference"]["pipeline_version_id"]
        for r in kfp.runs()
    }
    assert used == {"a/pinned": versions["v1"], "a/latest": versions["v2"]}


def test_kfp_operator_naming_prefixes_the_namespace(cluster_function, kube, kfp):
    kfp.add_pipeline("team-trainer")
    kube.put(rc("team", "up"))
    kube.put(rc("team", "down", pipeline="trainer", triggers=["up"]))

    status, _ = cluster_function(KFP_PIPELINE_NAME="kfp-operator").post(binary_event(event_data("team/up")))

    assert status == 200
    assert (
        kfp.client().get_pipeline_id("team-trainer")
        == kfp.runs()[0]["pipeline_version_reference"]["pipeline_id"]
    )


def test_experiments_are_made_once_by_name(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    down = rc("a", "down", triggers=["up"])
    down["spec"]["run"]["experimentName"] = "penguins"
    kube.put(down)
    function = cluster_function()

    function.post(binary_event(event_data("a/up", run_id="1")))
    function.post(binary_event(event_data("a/up", run_id="2")))

    experiments = kfp.client().list_experiments(page_size=100).experiments
    assert [e.display_name for e in experiments].count("penguins") == 1
    assert len({r["experiment_id"] for r in kfp.runs()}) == 1


def test_the_token_is_sent_as_a_bearer(cluster_function, kube, kfp, tmp_path):
    seed(kube)
    token_file = tmp_path / "token"
    token_file.write_text("projected-token")

    cluster_function(KFP_TOKEN_FILE=str(token_file)).post(binary_event(event_data()))

    assert "Bearer projected-token" in kfp.tokens_seen


def test_healthz_and_readyz_answer(cluster_function, kube):
    function = cluster_function()
    assert function.get("/healthz")[0] == 200
    assert function.get("/readyz") == (200, {"ready": True, "invalidRunConfigurations": 0})


def test_the_response_body_is_json_the_broker_can_log(cluster_function, kube, kfp):
    seed(kube)
    _status, body = cluster_function().post(binary_event(event_data()))
    assert json.loads(json.dumps(body))["event"] == {
        "runConfigurationName": EXAMPLES_RC,
        "runId": "123",
        "status": "succeeded",
    }


def test_a_passing_fault_is_retried_inside_the_request_with_backoff(cluster_function, kube, kfp):
    seed(kube)
    kfp.faults.add(method="POST", path=r"/runs$", status=503, times=2)
    kube.faults.add(method="PATCH", path=r"/penguin-pipeline-training-rc$", status=500, times=1)

    status, body = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="10").post(binary_event(event_data()))

    assert status == 200, body
    assert len(kfp.calls("POST", r"/runs$")) == 3
    assert len(kfp.runs()) == 1


def test_past_the_retry_budget_the_answer_is_5xx_not_a_hang(cluster_function, kube, kfp):
    seed(kube)
    kfp.faults.add(method="POST", path=r"/runs$", status=503, times=None)

    status, body = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="1").post(binary_event(event_data()))

    assert status == 503 and body["dependents"][0]["outcome"] == "retry"
    assert 1 < len(kfp.calls("POST", r"/runs$")) <= 8


def test_a_claim_left_on_a_completed_trigger_is_no_claim_in_progress_and_the_next_claim_tidies_it(
    cluster_function, kube, kfp
):
    seed(kube)
    function = cluster_function()
    function.post(binary_event(event_data()))
    # A holder that completed the trigger and died at once, its claim still "live" for ages.
    claim_id = live_claim_on_training(kube, "gone")

    status, body = function.post(binary_event(event_data()))
    assert status == 200 and body["dependents"][0]["outcome"] == "duplicate"
    assert claims_in(kube.get("dependant-namespace", "penguin-pipeline-training-rc")) == []

    status, body = function.post(binary_event(event_data(run_id="124")))
    assert status == 200 and body["dependents"][0]["outcome"] == "started"
    left = _claim_annotations(kube.get("dependant-namespace", "penguin-pipeline-training-rc"))
    assert f"kfp-chain.io/claim.{claim_id}" not in left
    assert len(kfp.runs()) == 2


def _claim_annotations(obj):
    return [a for a in (obj["metadata"].get("annotations") or {}) if a.startswith("kfp-chain.io/claim.")]


def test_the_older_served_version_v1alpha6_works_the_same(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function(RUNCONFIGURATION_API_VERSION="pipelines.kubeflow.org/v1alpha6")

    first, _ = function.post(binary_event(event_data()))
    second, body = function.post(binary_event(event_data()))

    assert (first, second) == (200, 200) and body["dependents"][0]["outcome"] == "duplicate"
    assert [r["runtime_config"]["parameters"] for r in kfp.runs()] == [
        {"examples_location": "gs://bucket/examples/123"}
    ]
    assert kube.calls("PATCH", r"/apis/pipelines.kubeflow.org/v1alpha6/namespaces/dependant-namespace/")


def test_the_namespace_allow_list_leaves_other_namespaces_alone(cluster_function, kube, kfp):
    seed(kube)
    kube.put(rc("base-namespace", "neighbour", triggers=["penguin-pipeline-examples-rc"]))

    status, body = cluster_function(RUNCONFIGURATION_NAMESPACES="base-namespace").post(
        binary_event(event_data())
    )

    assert status == 200
    assert [d["dependent"] for d in body["dependents"]] == ["base-namespace/neighbour"]
    assert [r["display_name"].split(" ")[0] for r in kfp.runs()] == ["base-namespace/neighbour"]


def test_the_seed_scenario_on_the_watch_index_the_deployment_uses(cluster_function, kube, kfp):
    seed(kube)
    function = cluster_function(KFP_CHAIN_INDEX="watch")

    answers = [function.post(binary_event(event_data())) for _ in range(2)]

    assert [status for status, _ in answers] == [200, 200]
    assert [body["dependents"][0]["outcome"] for _, body in answers] == ["started", "duplicate"]
    assert [r["runtime_config"]["parameters"] for r in kfp.runs()] == [
        {"examples_location": "gs://bucket/examples/123"}
    ]


def test_a_live_claim_of_another_holder_is_waited_on_briefly_then_answered_503(cluster_function, kube, kfp):
    # The broker retries with its own backoff: a holder that does not finish within the short wait
    # (the run does not exist either) is answered 503, long before the retry budget is spent.
    seed(kube)
    live_claim_on_training(kube, "alive/1")
    function = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="15")
    kube.reset_log()

    started = time.monotonic()
    status, body = function.post(binary_event(event_data()))

    assert status == 503 and body["dependents"][0]["reason"] == "trigger-in-progress"
    assert time.monotonic() - started < 12, "the delivery waited for the claim as long as its budget"
    assert kfp.runs() == []


def test_a_delivery_meeting_a_live_claim_answers_with_the_holders_outcome(cluster_function, kube, kfp):
    """A copy of an event that meets the claim of a holder about to finish waits for it, and answers
    200 (duplicate) instead of 503: copies sent at once no longer keep each other in 503."""
    seed(kube)
    live_claim_on_training(kube, "alive/1")
    function = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="15")
    training = r"/namespaces/dependant-namespace/runconfigurations/penguin-pipeline-training-rc$"
    kube.faults.add(method="GET", path=training, mode="delay", delay=0.0, times=1)  # the claim's read
    poll = kube.faults.add(method="GET", path=training, mode="hold", times=1, delay=30.0)  # a re-read
    answer: list[tuple[int, dict]] = []
    delivery = threading.Thread(target=lambda: answer.append(function.post(binary_event(event_data()))))
    delivery.start()

    assert poll.wait_arrived(1, timeout=30), "the delivery did not look at the claim again"
    obj = kube.get("dependant-namespace", "penguin-pipeline-training-rc")
    obj["status"] = {"triggers": {"runConfigurations": {EXAMPLES_RC: {"providerId": "123"}}}}
    kube.put(obj)  # the holder completed meanwhile
    poll.release()
    delivery.join(60)

    [(status, body)] = answer
    assert status == 200 and body["dependents"][0]["outcome"] == "duplicate", body
    assert kfp.runs() == []


def test_an_older_trigger_completed_under_a_live_claim_is_a_duplicate_not_a_503(cluster_function, kube, kfp):
    """status.triggers keeps only the latest run consumed: once a newer run is recorded, an older
    trigger's completion shows only as its claim, live until the lease ends. A copy that meets it
    finds the run in KFP and answers 200, instead of 503 for a whole lease."""
    seed(kube)
    first = cluster_function(KFP_CHAIN_HOLDER="replica-1")
    assert first.post(binary_event(event_data()))[0] == 200  # the run is made and recorded
    function = cluster_function(KFP_CHAIN_HOLDER="replica-2", KFP_CHAIN_RETRY_BUDGET_SECONDS="15")
    assert function.get("/healthz")[0] == 200
    live_claim_on_training(kube, "alive/1")  # ... by a holder whose claim is still live
    obj = kube.get("dependant-namespace", "penguin-pipeline-training-rc")
    obj["status"]["triggers"]["runConfigurations"][EXAMPLES_RC] = {"providerId": "124"}  # a newer one since
    kube.put(obj)

    status, body = function.post(binary_event(event_data()))

    assert status == 200, body
    assert (body["dependents"][0]["outcome"], body["dependents"][0]["reason"]) == (
        "duplicate",
        "run-already-existed",
    )
    assert [r["display_name"] for r in kfp.runs()] == [TRAINING_RUN]


def live_claim_on_training(kube, holder: str) -> str:
    """The training RunConfiguration carries `holder`'s claim on examples run 123, live for ages; its id."""
    claim_id = Trigger(RcKey.parse(TRAINING_RC), RcKey.parse(EXAMPLES_RC), "123").claim_id
    training = kube.get("dependant-namespace", "penguin-pipeline-training-rc")
    training["metadata"]["annotations"] = {
        f"kfp-chain.io/claim.{claim_id}": json.dumps(
            {
                "holder": holder,
                "expiresAt": "2999-01-01T00:00:00+00:00",
                "upstream": EXAMPLES_RC,
                "runId": "123",
            }
        )
    }
    kube.put(training)
    return claim_id
