"""The Kubernetes fake, driven by the real `kubernetes` client: if these pass, the fake answers like a cluster."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kfp_fakes.kubernetes import FakeKubernetes
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

G, V, P = "pipelines.kubeflow.org", "v1beta1", "runconfigurations"


def rc(name: str, namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "RunConfiguration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"run": {"provider": "kfp/default", "pipeline": "train", **spec}},
    }


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes(bookmark_interval=0.1) as server:
        yield server


@pytest.fixture
def api(fake: FakeKubernetes) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(fake.api_client())


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


# -- lists -------------------------------------------------------------------------------------------


def test_lists_across_namespaces_and_in_one(fake: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    fake.put(rc("x", "team-b"))
    fake.put(rc("y", "team-a"))
    fake.put(rc("z", "team-a"))

    everything = api.list_cluster_custom_object(G, V, P)
    in_a = api.list_namespaced_custom_object(G, V, "team-a", P)

    assert everything["kind"] == "RunConfigurationList"
    assert everything["metadata"]["resourceVersion"] == fake.resource_version
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everything["items"]] == [
        ("team-a", "y"),
        ("team-a", "z"),
        ("team-b", "x"),
    ]
    assert [o["metadata"]["name"] for o in in_a["items"]] == ["y", "z"]
    assert api.list_namespaced_custom_object(G, V, "nobody", P)["items"] == []


def test_pagination_over_250_objects_is_consistent_while_others_write(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    for i in range(250):
        fake.put(rc(f"rc-{i:03d}", "team-a" if i % 2 else "team-b"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = api.list_cluster_custom_object(G, V, P, limit=100, _continue=token)
        pages += 1
        seen += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
        if pages == 1:
            assert page["metadata"]["remainingItemCount"] == 150
            fake.put(rc("aaa-written-meanwhile", "team-a"))  # after the snapshot: must not show up
            fake.delete("team-b", "rc-248")  # deleted meanwhile: still part of this snapshot
        if not token:
            break

    assert pages == 3
    assert len(seen) == 250 == len(set(seen))
    assert "aaa-written-meanwhile" not in seen and "rc-248" in seen
    in_a = api.list_namespaced_custom_object(G, V, "team-a", P, limit=1000)
    assert len(in_a["items"]) == 126 and "continue" not in in_a["metadata"]


def test_continue_token_expires_after_compaction(fake: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    for i in range(5):
        fake.put(rc(f"rc-{i}"))
    first = api.list_namespaced_custom_object(G, V, "team-a", P, limit=2)
    fake.compact()

    with pytest.raises(ApiException) as caught:
        api.list_namespaced_custom_object(G, V, "team-a", P, limit=2, _continue=first["metadata"]["continue"])

    assert caught.value.status == 410
    assert status_of(caught.value)["reason"] == "Expired"


def test_get_of_a_missing_object_is_404_with_a_status_body(api: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as caught:
        api.get_namespaced_custom_object(G, V, "team-a", P, "nope")

    assert caught.value.status == 404
    body = status_of(caught.value)
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert body["details"] == {"name": "nope", "group": G, "kind": P}


def test_create_twice_is_409_already_exists(api: client.CustomObjectsApi) -> None:
    created = api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    with pytest.raises(ApiException) as caught:
        api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))

    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"].endswith("Z")
    assert created["metadata"]["generation"] == 1
    assert caught.value.status == 409 and status_of(caught.value)["reason"] == "AlreadyExists"


def test_both_served_versions_answer_the_same_object_in_their_own_api_version(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    old = api.get_namespaced_custom_object(G, "v1alpha6", "team-a", P, "one")
    new = api.get_namespaced_custom_object(G, "v1beta1", "team-a", P, "one")

    assert old["apiVersion"] == f"{G}/v1alpha6" and new["apiVersion"] == f"{G}/v1beta1"
    assert old["spec"] == new["spec"] and old["metadata"] == new["metadata"]


# -- writes: status subresource, concurrency, patch types ----------------------------------------------


def test_custom_object_patches_are_sent_as_merge_patches(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {"labels": {"a": "b"}}})
    api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", {"status": {"provider": "p"}})

    sent = [call.headers["content-type"] for call in fake.calls("PATCH")]
    assert sent == ["application/merge-patch+json", "application/merge-patch+json"]


def test_status_patch_changes_only_status(fake: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    before = fake.put(rc("one"))
    patch = {
        "metadata": {"labels": {"sneaky": "yes"}},
        "spec": {"run": {"pipeline": "other"}},
        "status": {"observedGeneration": 1, "provider": "kfp/default"},
    }
    after = api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", patch)

    assert after["status"] == {"observedGeneration": 1, "provider": "kfp/default"}
    assert after["spec"] == before["spec"]
    assert "labels" not in after["metadata"]
    assert after["metadata"]["generation"] == 1
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


def test_status_is_ignored_on_main_resource_writes(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    body = rc("one")
    body["status"] = {"provider": "from-create"}
    created = api.create_namespaced_custom_object(G, V, "team-a", P, body)
    api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", {"status": {"provider": "real"}})
    patched = api.patch_namespaced_custom_object(
        G, V, "team-a", P, "one", {"status": {"provider": "from-patch"}}
    )

    assert "status" not in created
    assert patched["status"] == {"provider": "real"}


def test_generation_counts_spec_changes_and_a_no_op_write_keeps_the_resource_version(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    labelled = api.patch_namespaced_custom_object(
        G, V, "team-a", P, "one", {"metadata": {"labels": {"a": "b"}}}
    )
    respec = api.patch_namespaced_custom_object(
        G, V, "team-a", P, "one", {"spec": {"run": {"pipeline": "p2"}}}
    )
    again = api.patch_namespaced_custom_object(
        G, V, "team-a", P, "one", {"spec": {"run": {"pipeline": "p2"}}}
    )

    assert labelled["metadata"]["generation"] == 1
    assert respec["metadata"]["generation"] == 2
    assert again["metadata"]["resourceVersion"] == respec["metadata"]["resourceVersion"]


def test_a_merge_patch_carrying_the_resource_version_is_a_precondition(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    rv = fake.put(rc("one"))["metadata"]["resourceVersion"]
    guarded = {"metadata": {"resourceVersion": rv}, "status": {"provider": "first"}}
    api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", guarded)

    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(
            G, V, "team-a", P, "one", {**guarded, "status": {"provider": "2"}}
        )

    assert caught.value.status == 409
    assert fake.get("team-a", "one")["status"] == {"provider": "first"}  # type: ignore[index]


def test_patches_other_than_merge_patches_are_415(fake: FakeKubernetes, api: client.CustomObjectsApi) -> None:
    """Only merge patches are modelled: a JSON patch (which the client sends only through call_api) and a
    strategic merge patch (what the client makes of a dict sent as a JSON patch) are refused loudly."""
    fake.put(rc("one"))
    path = f"/apis/{G}/{V}/namespaces/team-a/{P}/one"

    def json_patch(ops: Any) -> Any:
        return api.api_client.call_api(
            path,
            "PATCH",
            header_params={"Content-Type": "application/json-patch+json", "Accept": "application/json"},
            body=ops,
            response_type="object",
            _return_http_data_only=True,
        )

    with pytest.raises(ApiException) as json_patched:
        json_patch([{"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}])
    with pytest.raises(ApiException) as strategic:
        json_patch({"metadata": {"labels": {"a": "b"}}})  # a dict: the client switches to strategic merge

    assert json_patched.value.status == 415
    assert strategic.value.status == 415 and status_of(strategic.value)["reason"] == "UnsupportedMediaType"
    assert fake.calls("PATCH")[-1].headers["content-type"] == "application/strategic-merge-patch+json"
    assert "annotations" not in fake.get("team-a", "one")["metadata"]  # type: ignore[index]


def test_pruning_drops_unknown_fields_and_keeps_annotations(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    body = rc("one", futureField="x")
    body["metadata"]["annotations"] = {"kfp-chain/ledger": "run-1"}
    body["metadata"]["madeUp"] = "gone"
    body["spec"]["run"]["parameters"] = [{"name": "a", "value": "1", "extra": True}]
    api.create_namespaced_custom_object(G, V, "team-a", P, body)
    status = {
        "status": {
            "provider": "kfp/default",
            "myBookkeeping": {"seen": ["run-1"]},
            "triggers": {"runConfigurations": {"team-a/up": {"providerId": "r1", "notInSchema": 1}}},
        }
    }
    api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", status)

    stored = fake.get("team-a", "one")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {"kfp-chain/ledger": "run-1"}
    assert "madeUp" not in stored["metadata"]
    assert stored["spec"]["run"] == {
        "provider": "kfp/default",
        "pipeline": "train",
        "parameters": [{"name": "a", "value": "1"}],
    }
    assert stored["status"] == {
        "provider": "kfp/default",
        "triggers": {"runConfigurations": {"team-a/up": {"providerId": "r1"}}},
    }


def test_schema_violations_are_422_invalid_with_causes(api: client.CustomObjectsApi) -> None:
    api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    condition = {"type": "Synchronized", "status": "Maybe"}  # no reason/message/time, bad enum

    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(
            G, V, "team-a", P, "one", {"status": {"conditions": [condition]}}
        )
    with pytest.raises(ApiException) as bad_annotation:
        api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {"annotations": {"n": 1}}})

    body = status_of(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"status.conditions[0].reason", "status.conditions[0].status"} <= fields
    assert bad_annotation.value.status == 400


def test_watch_sees_added_modified_deleted_and_bookmarks(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    seen: list[tuple[str, str]] = []
    stream = watch.Watch().stream(
        api.list_cluster_custom_object, G, V, P, allow_watch_bookmarks=True, timeout_seconds=5
    )
    for event in stream:
        name = event["raw_object"]["metadata"].get("name", "")
        seen.append((event["type"], name))
        if len(seen) == 1:
            api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {"labels": {"a": "b"}}})
            fake.delete("team-a", "one")
        if event["type"] == "BOOKMARK":
            assert event["raw_object"]["metadata"]["resourceVersion"] == fake.resource_version
            break

    assert seen == [("ADDED", "one"), ("MODIFIED", "one"), ("DELETED", "one"), ("BOOKMARK", "")]


def test_watch_from_a_resource_version_sends_only_later_events(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("old"))
    listed = api.list_namespaced_custom_object(G, V, "team-a", P)
    fake.put(rc("new"))
    fake.put(rc("elsewhere", "team-b"))

    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object,
            G,
            V,
            "team-a",
            P,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=0.3,
        )
    )

    assert [(e["type"], e["raw_object"]["metadata"]["name"]) for e in events] == [("ADDED", "new")]


def test_watch_from_an_expired_resource_version_is_410(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    small = FakeKubernetes(history_limit=3).start()
    try:
        small_api = client.CustomObjectsApi(small.api_client())
        first = small.put(rc("one"))["metadata"]["resourceVersion"]
        for i in range(4):
            small.put(rc(f"more-{i}"))
        raw = small_api.list_namespaced_custom_object(
            G, V, "team-a", P, watch=True, resource_version=first, timeout_seconds=1, _preload_content=False
        )
        lines = [json.loads(line) for line in raw.read().splitlines()]
        with pytest.raises(ApiException) as caught:
            list(watch.Watch().stream(small_api.list_namespaced_custom_object, G, V, "team-a", P,
                                      resource_version=first, timeout_seconds=1))  # fmt: skip
    finally:
        small.stop()

    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    assert lines[0]["object"]["code"] == 410 and lines[0]["object"]["reason"] == "Expired"
    assert caught.value.status == 410


def test_compaction_expires_watches_from_old_versions(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    rv = fake.put(rc("one"))["metadata"]["resourceVersion"]
    fake.put(rc("two"))
    fake.compact()

    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                api.list_cluster_custom_object, G, V, P, resource_version=rv, timeout_seconds=1
            )
        )
    assert caught.value.status == 410


def test_dropped_watch_surfaces_as_a_protocol_error(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    outcome: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in watch.Watch().stream(api.list_cluster_custom_object, G, V, P, timeout_seconds=5):
                pass
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    assert fake.wait_for_watches(1)
    assert fake.drop_watches() == 1
    worker.join(5)

    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], urllib3.exceptions.ProtocolError)
    assert fake.open_watches == 0


def test_injected_500_has_a_status_body_and_changes_nothing(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    fake.faults.add(method="PATCH", path=r"/status$", status=500, times=1)

    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", {"status": {"provider": "x"}})
    api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", {"status": {"provider": "y"}})

    assert caught.value.status == 500 and status_of(caught.value)["reason"] == "InternalError"
    assert fake.get("team-a", "one")["status"] == {"provider": "y"}  # type: ignore[index]


def test_dropped_connections_fail_patches_and_urllib3_retries_gets(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    fake.faults.add(method="PATCH", mode="drop", times=1)
    fake.faults.add(method="GET", mode="drop", times=1)

    with pytest.raises(urllib3.exceptions.ProtocolError):
        api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {"labels": {"a": "b"}}})
    got = api.get_namespaced_custom_object(G, V, "team-a", P, "one")

    assert "labels" not in got["metadata"]
    assert [c.status for c in fake.calls("GET")] == [0, 200]  # 0 = no answer; urllib3 retried on its own


def test_a_fault_after_commit_loses_the_answer_but_keeps_the_write(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    fake.faults.add(method="PATCH", path=r"/status$", mode="after", status=503)

    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(G, V, "team-a", P, "one", {"status": {"provider": "x"}})

    assert caught.value.status == 503
    assert fake.get("team-a", "one")["status"] == {"provider": "x"}  # type: ignore[index]


def test_concurrent_writers_lose_no_update(fake: FakeKubernetes) -> None:
    fake.put(rc("one"))

    def increment(times: int) -> None:
        api = client.CustomObjectsApi(fake.api_client())
        for _ in range(times):
            while True:
                current = api.get_namespaced_custom_object(G, V, "team-a", P, "one")
                count = int((current["metadata"].get("annotations") or {}).get("count", "0"))
                guarded = {
                    "metadata": {
                        "resourceVersion": current["metadata"]["resourceVersion"],
                        "annotations": {"count": str(count + 1)},
                    }
                }
                try:
                    api.patch_namespaced_custom_object(G, V, "team-a", P, "one", guarded)
                    break
                except ApiException as exc:
                    assert exc.status == 409

    workers = [threading.Thread(target=increment, args=(10,)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)

    assert fake.get("team-a", "one")["metadata"]["annotations"]["count"] == "60"  # type: ignore[index]
    assert any(c.status == 409 for c in fake.calls("PATCH"))


# -- core Events -------------------------------------------------------------------------------------


def test_core_events_are_created_and_listed(fake: FakeKubernetes) -> None:
    core = client.CoreV1Api(fake.api_client())
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="one.1"),
        involved_object=client.V1ObjectReference(
            api_version=f"{G}/{V}", kind="RunConfiguration", name="one", namespace="team-a"
        ),
        reason="RunStarted",
        message="started run r-1",
        type="Normal",
    )
    core.create_namespaced_event("team-a", event)
    core.create_namespaced_event("team-b", client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="other"),
        involved_object=client.V1ObjectReference(name="x", namespace="team-b")))  # fmt: skip

    listed = core.list_namespaced_event("team-a", field_selector="involvedObject.name=one")
    assert [e.reason for e in listed.items] == ["RunStarted"]
    assert listed.items[0].metadata.name.startswith("one.")
    assert [e["reason"] for e in fake.events("team-a")] == ["RunStarted"]
    assert len(fake.events()) == 2


def test_the_client_rewatches_after_a_clean_end_from_the_last_version_it_saw(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    fake.put(rc("one"))
    seen = []
    for event in watch.Watch().stream(api.list_cluster_custom_object, G, V, P):
        seen.append((event["type"], event["raw_object"]["metadata"]["name"]))
        if len(seen) == 1:
            assert fake.drop_watches(graceful=True) == 1
            assert fake.wait_for_watches(1)  # the client is back
            fake.put(rc("two"))
        else:
            break

    watches = fake.calls("GET", path=P)
    assert seen == [("ADDED", "one"), ("ADDED", "two")]
    assert len(watches) == 2
    assert watches[1].query["resourceVersion"] == [fake.get("team-a", "one")["metadata"]["resourceVersion"]]  # type: ignore[index]


# -- what a real API server refuses in metadata, Events and patches -----------------------------------
BAD_KEYS = [
    ("kfp-chain.io/" + "c" * 64, "name part must be no more than 63 characters"),
    ("Not_A_Domain/claim", "prefix part a lowercase RFC 1123 subdomain"),
    ("x" * 254 + "/claim", "prefix part must be no more than 253 characters"),
    ("kfp-chain.io/-claim", "name part must consist of alphanumeric characters"),
    ("kfp-chain.io/claim/extra", "a qualified name must consist of"),
    ("kfp-chain.io/", "name part must be non-empty"),
    ("/claim", "prefix part must be non-empty"),
]


@pytest.mark.parametrize("where", ["annotations", "labels"])
@pytest.mark.parametrize(("key", "problem"), BAD_KEYS, ids=[k[:20] for k, _ in BAD_KEYS])
def test_a_key_a_real_api_server_rejects_is_422_invalid(
    api: client.CustomObjectsApi, where: str, key: str, problem: str
) -> None:
    api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {where: {key: "v"}}})

    body = status_of(caught.value)
    assert caught.value.status == 422
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Invalid", 422)
    causes = body["details"]["causes"]  # one per problem, as field.ErrorList has them
    assert {(c["reason"], c["field"]) for c in causes} == {("FieldValueInvalid", f"metadata.{where}")}
    assert all(c["message"].startswith(f'Invalid value: "{key}": ') for c in causes)
    assert any(problem in c["message"] for c in causes), causes


def test_valid_keys_and_upper_case_annotation_prefixes_are_accepted(api: client.CustomObjectsApi) -> None:
    api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    annotations = {"kfp-chain.io/claim." + "a" * 24: "{}", "Example.COM/Key_1.x": "v", "c" * 63: "v"}
    labels = {"app.kubernetes.io/name": "kfp-chain", "tier": "A_b-c.d"}
    api.patch_namespaced_custom_object(
        G, V, "team-a", P, "one", {"metadata": {"annotations": annotations, "labels": labels}}
    )
    got = api.get_namespaced_custom_object(G, V, "team-a", P, "one")
    assert got["metadata"]["annotations"] == annotations and got["metadata"]["labels"] == labels


@pytest.mark.parametrize(
    "value", ["v" * 64, "-starts-badly", "has space", "ends."], ids=["long", "start", "space", "end"]
)
def test_a_label_value_a_real_api_server_rejects_is_422(api: client.CustomObjectsApi, value: str) -> None:
    api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {"labels": {"k": value}}})
    assert caught.value.status == 422
    assert {c["field"] for c in status_of(caught.value)["details"]["causes"]} == {"metadata.labels"}


def test_annotations_over_256_kib_in_all_are_422_too_long(api: client.CustomObjectsApi) -> None:
    api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    big = {f"k{i}": "x" * 100_000 for i in range(3)}
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(G, V, "team-a", P, "one", {"metadata": {"annotations": big}})
    [cause] = status_of(caught.value)["details"]["causes"]
    assert caught.value.status == 422 and cause["reason"] == "FieldValueTooLong"


def test_a_patch_that_renames_the_object_is_400_and_changes_nothing(
    fake: FakeKubernetes, api: client.CustomObjectsApi
) -> None:
    api.create_namespaced_custom_object(G, V, "team-a", P, rc("one"))
    before = fake.get("team-a", "one")
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(
            G, V, "team-a", P, "one", {"metadata": {"name": "two", "labels": {"a": "b"}}}
        )

    body = status_of(caught.value)
    assert caught.value.status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == "the name of the object (two) does not match the name on the URL (one)"
    assert fake.get("team-a", "one") == before and fake.get("team-a", "two") is None


def test_an_event_about_an_object_of_another_namespace_is_422(fake: FakeKubernetes) -> None:
    core = client.CoreV1Api(fake.api_client())
    about_elsewhere = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="one.1"),
        involved_object=client.V1ObjectReference(kind="RunConfiguration", name="one", namespace="team-b"),
        reason="RunStarted",
    )
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_event("team-a", about_elsewhere)

    body = status_of(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    [cause] = body["details"]["causes"]
    assert cause["field"] == "involvedObject.namespace"
    assert cause["message"] == 'Invalid value: "team-b": does not match event.namespace'
    assert fake.events() == []

    # An Event in "default" may name an object without a namespace (a cluster-scoped one).
    core.create_namespaced_event(
        "default",
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="node.1"),
            involved_object=client.V1ObjectReference(kind="Node", name="n1"),
        ),
    )
    assert len(fake.events("default")) == 1
