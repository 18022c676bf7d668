"""Hostile input through the real HTTP function: always a 4xx naming the field, never a 500, never a run.

Hypothesis generates the input; every case is a POST to the function built by functions-framework
(Kubernetes source and KFP server are the fakes, with a dependent waiting on the emitter, so an
event wrongly accepted would start a run and fail the test). Unknown extra fields in an otherwise
valid event are the one thing that must be accepted: kfp-operator adds fields between versions.
The number of cases run is printed in the terminal summary (tests/reliability/conftest.py).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from kfp_chain.intake import ARTIFACT_SCHEMES

from tests.builders import binary_event, event_data, plain_event, rc, structured_event
from tests.reliability import summary

MAX_BODY = 65536
EMITTER = "team/up"
KNOWN = (
    "status",
    "runConfigurationName",
    "pipelineName",
    "runId",
    "runName",
    "artifacts",
    "provider",
    "runStartTime",
    "runEndTime",
)
REQUIRED = ("status", "runId")  # an absent or empty runConfigurationName is a one-off Run (tests/intake)
ENCODINGS = {"binary": binary_event, "structured": structured_event, "plain": plain_event}

SETTINGS = settings(
    max_examples=int(os.environ.get("INTAKE_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
encodings = st.sampled_from(sorted(ENCODINGS))
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
not_strings = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(json_scalars, min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
)


@pytest.fixture
def function(cluster_function: Any, kube: Any, kfp: Any) -> Any:
    kube.put(rc("team", "up", artifacts=[{"name": "out", "path": "C:out"}]))
    kube.put(rc("team", "down", triggers=["up"]))
    return cluster_function(KFP_CHAIN_MAX_BODY_BYTES=str(MAX_BODY), LOG_LEVEL="ERROR")


def post(function: Any, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    response = function.flask.test_client().post("/", headers=headers, data=body)
    return response.status_code, response.get_json(silent=True)


def refused(function: Any, kfp: Any, request: tuple[dict[str, str], bytes], test: str) -> dict[str, Any]:
    """Posts and checks the common contract; returns the JSON body for the field check."""
    summary.case(test)
    status, body = post(function, *request)
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and body.get("error") == "invalid-event", body
    assert kfp.runs() == []
    return body


# -- bytes and content types ----------------------------------------------------------
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/x-www-form-urlencoded",
]


@SETTINGS
@given(body=st.binary(max_size=2048), content_type=st.sampled_from(CONTENT_TYPES), ce=st.booleans())
@example(body=b"{}", content_type="application/json", ce=False)  # an object: the missing field is named
def test_arbitrary_bytes_are_refused_with_a_named_field(function, kfp, body, content_type, ce):
    headers = {"Content-Type": content_type} if content_type else {}
    if ce:  # binary-mode CloudEvent headers around garbage data
        headers |= {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "org.kubeflow.pipelines.run-completion"}  # fmt: skip
    answer = refused(function, kfp, (headers, body), "arbitrary bytes, any content type")
    try:
        an_object = isinstance(json.loads(body), dict)
    except ValueError:
        an_object = False
    if an_object:  # bytes that happen to be a JSON object are an event missing its fields
        assert isinstance(answer["field"], str) and answer["field"], answer
    else:
        assert answer["field"] in ("body", "data", "content-type", "cloudevent"), answer


@SETTINGS
@given(
    data=json_values.filter(lambda v: not isinstance(v, dict)),
    content_type=st.sampled_from(["application/json", "text/json", "application/vnd.x+json"]),
)
def test_json_that_is_not_an_object_is_refused(function, kfp, data, content_type):
    answer = refused(
        function,
        kfp,
        ({"Content-Type": content_type}, json.dumps(data).encode()),
        "JSON that is not an object",
    )
    assert answer["field"] in ("body", "content-type"), answer


@SETTINGS
@given(
    headers=st.fixed_dictionaries(
        {},
        optional={
            "ce-specversion": st.sampled_from(["1.0", "0.3", "2.0", ""]),
            "ce-id": st.text(max_size=5),
            "ce-source": st.text(max_size=5),
            "ce-type": st.sampled_from(["org.kubeflow.pipelines.run-completion", "x", ""]),
        },
    ).filter(lambda h: "ce-specversion" in h),
)
def test_broken_binary_cloudevent_envelopes_are_refused(function, kfp, headers):
    # Empty ce-id/ce-source are pinned by their own test below; here they count as present.
    complete = (
        headers.get("ce-specversion") in ("1.0", "0.3")
        and "ce-id" in headers
        and "ce-source" in headers
        and headers.get("ce-type") == "org.kubeflow.pipelines.run-completion"
    )
    if complete:
        headers = {**headers, "ce-type": "com.example.other"}
    safe = {k: v for k, v in headers.items() if re.fullmatch(r"[\x20-\x7e]*", v)}
    if "ce-specversion" not in safe:
        return
    body = json.dumps(event_data(EMITTER)).encode()
    answer = refused(
        function, kfp, ({**safe, "Content-Type": "application/json"}, body), "broken binary envelopes"
    )
    assert answer["field"] in ("cloudevent", "type"), answer


@pytest.mark.parametrize("empty", ["ce-id", "ce-source"])
def test_a_binary_cloudevent_with_an_empty_id_or_source_is_refused(function, kfp, empty):
    headers, body = binary_event(event_data(EMITTER))
    headers[empty] = ""
    answer = refused(function, kfp, (headers, body), "empty ce-id or ce-source")
    assert answer["field"] == "cloudevent", answer


# -- fields of the data object --------------------------------------------------------
@SETTINGS
@given(
    missing=st.sampled_from(REQUIRED),
    encoding=encodings,
    how=st.sampled_from(["absent", "null", "empty", "blank"]),
)
def test_a_missing_required_field_is_named(function, kfp, missing, encoding, how):
    data = event_data(EMITTER)
    if how == "absent":
        del data[missing]
    else:
        data[missing] = {"null": None, "empty": "", "blank": "  "}[how]
    answer = refused(function, kfp, ENCODINGS[encoding](data), "missing required field")
    assert answer["field"] == missing, answer


@SETTINGS
@given(name=st.sampled_from(KNOWN), value=not_strings, encoding=encodings)
def test_a_field_of_the_wrong_type_is_named(function, kfp, name, value, encoding):
    if name == "artifacts" and isinstance(value, list) and all(isinstance(v, dict) for v in value):
        value = 7  # a list of objects is the right type; covered by the artifact tests
    data = {**event_data(EMITTER), name: value}
    answer = refused(function, kfp, ENCODINGS[encoding](data), "field of the wrong type")
    assert answer["field"] == name or answer["field"].startswith(f"{name}["), answer


@SETTINGS
@given(part=st.sampled_from(["name", "location"]), value=not_strings, index=st.integers(0, 2))
def test_an_artifact_field_of_the_wrong_type_is_named_with_its_index(function, kfp, part, value, index):
    artifacts = [{"name": f"a{i}", "location": f"gs://b/{i}"} for i in range(3)]
    artifacts[index][part] = value
    answer = refused(
        function,
        kfp,
        plain_event(event_data(EMITTER, artifacts=artifacts)),
        "artifact field of the wrong type",
    )
    assert answer["field"] == f"artifacts[{index}].{part}", answer


@SETTINGS
@given(status=st.text(max_size=30).filter(lambda s: s not in ("succeeded", "failed")), encoding=encodings)
def test_an_unknown_status_is_refused(function, kfp, status, encoding):
    answer = refused(
        function, kfp, ENCODINGS[encoding]({**event_data(EMITTER), "status": status}), "unknown status"
    )
    assert answer["field"] == "status", answer


# -- free text: control characters and length ----------------------------------------
# runId, runName, provider and an artifact's name and location are free text: nothing but the
# control-character and the length checks stands between them and a KFP run name or a log line.
FREE_TEXT = ("runId", "runName", "provider", "artifacts[0].name", "artifacts[0].location")
control_characters = st.sampled_from([chr(c) for c in (*range(0x20), 0x7F)])


def with_free_text(field: str, value: str) -> dict[str, Any]:
    data = event_data(EMITTER, artifacts=[{"name": "out", "location": "gs://b/o"}])
    if field.startswith("artifacts[0]."):
        part = field.rsplit(".", 1)[1]
        data["artifacts"][0][part] = ("gs://b/" if part == "location" else "") + value
    else:
        data[field] = value
    return data


@SETTINGS
@given(
    field=st.sampled_from(FREE_TEXT),
    text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20),
    control=control_characters,
    at=st.integers(0, 20),
    encoding=encodings,
)
def test_a_control_character_in_free_text_is_refused(function, kfp, field, text, control, at, encoding):
    value = text[:at] + control + text[at:]
    assume(value.strip())  # blank text is refused by another rule
    answer = refused(function, kfp, ENCODINGS[encoding](with_free_text(field, value)), "control character")
    assert answer["field"] == field, answer


@settings(SETTINGS, max_examples=30)
@given(field=st.sampled_from(FREE_TEXT), length=st.integers(4097, 12000), encoding=encodings)
def test_free_text_over_4096_characters_is_refused(function, kfp, field, length, encoding):
    value = ("r" * length)[: length - (7 if field.endswith("location") else 0)]  # gs://b/ + rest
    answer = refused(function, kfp, ENCODINGS[encoding](with_free_text(field, value)), "over 4096 characters")
    assert answer["field"] == field, answer


@pytest.mark.parametrize("field", FREE_TEXT)
def test_free_text_of_exactly_4096_printable_characters_is_accepted(function, kfp, field):
    value = ("p" * 4096)[: 4096 - (7 if field.endswith("location") else 0)]
    summary.case("4096 characters accepted")
    status, body = post(function, *plain_event(with_free_text(field, value)))
    assert status == 200, body


# -- Kubernetes names -----------------------------------------------------------------
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def is_kubernetes_reference(text: str) -> bool:
    """`namespace/name` as the API server would accept it: a DNS-1123 label / a DNS-1123 subdomain."""
    namespace, sep, name = text.partition("/")
    if not sep or len(namespace) > 63 or not _LABEL.fullmatch(namespace):
        return False
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(part) for part in name.split("."))


name_chars = st.sampled_from([*"abz09-._/AZ_ ~é", "\u200b"])
odd_names = st.one_of(
    st.text(name_chars, min_size=1, max_size=24),
    st.text(max_size=24),
    st.builds(lambda n: f"{'a' * n}/x", st.integers(64, 80)),
    st.builds(lambda n: f"ns/{'a' * n}", st.integers(254, 300)),
    st.sampled_from(
        [
            "ns/a..b",
            "ns/a.-b",
            "ns/-a",
            "ns/a-",
            "-ns/a",
            "ns/.a",
            "ns/a.",
            "NS/a",
            "ns/A",
            "ns/a_b",
            "/a",
            "ns/",
            "a/b/c",
            "ns//a",
        ]
    ),
).filter(lambda t: not is_kubernetes_reference(t))


@SETTINGS
# pipelineName is free text: kfp-operator up to v0.6 published a bare pipeline name (tests/intake)
@given(name=odd_names, field=st.just("runConfigurationName"), encoding=encodings)
def test_names_that_are_not_kubernetes_names_are_refused(function, kfp, name, field, encoding):
    assume(name != "")  # an optional field left empty is absent (a one-off Run for runConfigurationName)
    answer = refused(
        function, kfp, ENCODINGS[encoding]({**event_data(EMITTER), field: name}), "not a Kubernetes name"
    )
    assert answer["field"] == field, answer


# -- artifact locations ---------------------------------------------------------------
odd_schemes = st.one_of(
    st.sampled_from(
        ["javascript", "data", "ftp", "ssh", "mailto", "jar", "C", "git+ssh", "s4", "gss", "file2"]
    ),
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9+.-]{0,10}", fullmatch=True),
).filter(lambda s: s.lower() not in ARTIFACT_SCHEMES)
odd_locations = st.one_of(
    st.builds(
        lambda s, rest: f"{s}:{rest}", odd_schemes, st.sampled_from(["//bucket/x", "alert(1)", "", "x"])
    ),
    st.sampled_from(["/abs/path", "relative/path", "bucket/x", "://x", "1gs://x", " gs://x", "gs//x"]),
    st.text(max_size=20).filter(lambda t: not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", t)),
)


@SETTINGS
@given(location=odd_locations, index=st.integers(0, 2), encoding=encodings)
def test_artifact_locations_with_odd_schemes_are_refused(function, kfp, location, index, encoding):
    artifacts = [{"name": f"a{i}", "location": f"gs://b/{i}"} for i in range(3)]
    artifacts[index]["location"] = location
    answer = refused(
        function, kfp, ENCODINGS[encoding](event_data(EMITTER, artifacts=artifacts)), "odd artifact location"
    )
    assert answer["field"] == f"artifacts[{index}].location", answer


# -- size -----------------------------------------------------------------------------
@settings(SETTINGS, max_examples=20)
@given(size=st.integers(MAX_BODY + 1, 4 * MAX_BODY), encoding=encodings)
def test_a_body_over_the_limit_is_refused_with_413(function, kfp, size, encoding):
    data = {**event_data(EMITTER), "padding": "x" * size}  # otherwise a valid event
    summary.case("body over the limit")
    status, body = post(function, *ENCODINGS[encoding](data))
    assert status == 413, (status, body)
    assert body.get("field") == "body", body
    assert kfp.runs() == []


# -- extra fields are accepted --------------------------------------------------------
_run_ids = itertools.count()


@settings(SETTINGS, max_examples=40)
@given(
    extra=st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN), json_values, min_size=1, max_size=4),
    artifact_extra=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in ("name", "location")), json_values, max_size=2),
    encoding=encodings,
)  # fmt: skip
def test_unknown_extra_fields_in_a_valid_event_are_accepted_and_it_starts_its_run(
    function, kfp, extra, artifact_extra, encoding
):
    run_id = f"extra-{next(_run_ids)}"
    data = event_data(
        EMITTER, run_id=run_id, artifacts=[{"name": "out", "location": "gs://b/o", **artifact_extra}]
    )
    summary.case("extra fields accepted")
    status, body = post(function, *ENCODINGS[encoding]({**data, **extra}))
    assert status == 200, body
    assert len(kfp.runs_named(f"team/down <- {EMITTER} run {run_id}")) == 1
