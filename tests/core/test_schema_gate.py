"""The compiled schema check (fastjsonschema) gives jsonschema's verdict, at a fraction of the cost.

`rc_schema.schema_problems` lets the compiled check accept an object on its own and asks
`jsonschema` (the reference, whose messages are reported) only about objects it refuses. That is
only right if both read the CRD schema the same way: every object here, valid ones and each of a
valid object's fields replaced by values of every JSON type (malformed dates and 64-bit overflows
among them, which `format` would refuse and the API server does not), must get the same verdict
from both. And the compiled check must never write into the object it checks (defaults).
"""

from __future__ import annotations

import contextlib
import copy
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from kfp_chain import rc_schema

from bench.cluster import objects as bench_objects
from tests.builders import seed_objects
from tests.support import ROOT

VALID = {
    "apiVersion": "pipelines.kubeflow.org/v1beta1",
    "kind": "RunConfiguration",
    "metadata": {"name": "rc", "namespace": "team", "resourceVersion": "7", "uid": "u-1"},
    "spec": {
        "run": {
            "provider": "kfp-operator/kfp",
            "pipeline": "pipe:v1",
            "experimentName": "exp",
            "parameters": [
                {"name": "mode", "value": "fast"},
                {"name": "data", "valueFrom": {"runConfigurationRef": {"name": "up", "outputArtifact": "a"}}},
            ],
            "artifacts": [{"name": "model", "path": "Trainer:model"}],
        },
        "triggers": {
            "runConfigurations": ["up"],
            "onChange": ["pipeline"],
            "schedules": [{"cronExpression": "0 * * * *", "startTime": "2026-01-01T00:00:00Z"}],
        },
    },
    "status": {
        "observedGeneration": 3,
        "provider": "kfp-operator/kfp",
        "conditions": [
            {
                "type": "Synchronized",
                "status": "True",
                "reason": "Succeeded",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 3,
            }
        ],
        "latestRuns": {"succeeded": {"providerId": "r1", "artifacts": [{"name": "a", "location": "gs://x"}]}},
        "triggers": {"runConfigurations": {"team/up": {"providerId": "r1"}}},
    },
}
SAMPLES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x",
    "not-a-date",
    "2026-13-45T99:99:99Z",
    "UPPER case/with spaces",
    [],
    ["x"],
    [{"name": "n"}],
    {},
    {"name": "n", "location": "l"},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield (*prefix, key)
            yield from _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield (*prefix, index)
            yield from _paths(sub, (*prefix, index))


def _replaced(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = copy.deepcopy(value)
    return out


def _verdicts(obj: Any) -> tuple[bool, bool]:
    """(compiled check accepts, jsonschema accepts) for an object of a served version."""
    version = obj["apiVersion"].rpartition("/")[2]
    try:
        rc_schema._gates()[version](copy.deepcopy(obj))
        gate = True
    except rc_schema.fastjsonschema.JsonSchemaException:
        gate = False
    reference = not any(True for _ in rc_schema._validators()[version].iter_errors(obj))
    return gate, reference


def _cases() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "valid", VALID
    for path in _paths(VALID):
        if path[0] in ("apiVersion", "kind"):
            continue
        for sample in SAMPLES:
            yield f"{'.'.join(map(str, path))}={sample!r}"[:90], _replaced(VALID, path, sample)
    for obj in seed_objects() + bench_objects(40):
        yield f"seed/bench {obj['metadata']['name']}", obj


def test_both_checks_agree_on_every_field_replaced_by_every_kind_of_value() -> None:
    disagreements = []
    cases = 0
    for label, obj in _cases():
        gate, reference = _verdicts(obj)
        cases += 1
        if gate != reference:
            disagreements.append(f"{label}: compiled {'accepts' if gate else 'refuses'}, jsonschema does not")
    assert cases > 500
    assert disagreements == []


def test_the_valid_object_is_valid_and_some_replacements_are_not() -> None:
    verdicts = [_verdicts(obj)[1] for _, obj in _cases()]
    assert verdicts[0] is True
    assert verdicts.count(False) > 100  # the cases above do test refusals, not only acceptances


def test_the_compiled_check_never_writes_into_the_object() -> None:
    for _, obj in _cases():
        before = copy.deepcopy(obj)
        version = obj["apiVersion"].rpartition("/")[2]
        with contextlib.suppress(rc_schema.fastjsonschema.JsonSchemaException):
            rc_schema._gates()[version](obj)
        assert obj == before


def test_problems_are_still_jsonschemas_messages() -> None:
    broken = _replaced(VALID, ("spec", "run", "provider"), 5)
    assert rc_schema.schema_problems(broken) == [
        (("spec", "run", "provider"), "spec.run.provider: 5 is not of type 'string'")
    ]


def test_valid_objects_never_reach_the_slow_check() -> None:
    """In a fresh process, checking valid objects never even builds jsonschema's validators (about
    60-250 us an object, 11 s of a cold start at 100k); the first invalid object does."""
    script = (
        "from kfp_chain import rc_schema\n"
        "from kfp_chain.invalid import CheckedObjects\n"
        "from bench.cluster import objects\n"
        "valid, invalid = CheckedObjects().sort(objects(200))\n"
        "print(len(valid), len(invalid), rc_schema._validators.cache_info().currsize)\n"
        "broken = objects(1)[0]\n"
        "broken['spec']['run']['provider'] = 5\n"
        "print(len(rc_schema.schema_problems(broken)), rc_schema._validators.cache_info().currsize)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == "200 0 0"  # all valid, and the reference validators never built
    assert out[1] == "1 1"
