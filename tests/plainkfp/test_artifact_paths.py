"""`component:output[:index][filter]`: kfp-operator's path grammar, and which artifact a path picks.

The rule under test (artifact_paths.py): the run's artifacts of that component and output that have
a URI, in creation order; the filter keeps what it accepts; the index picks from what is left.
"""

from __future__ import annotations

from typing import Any

import pytest
from kfp_chain.adapters.ports import OutputArtifact
from kfp_chain.artifact_filter import parse_filter
from kfp_chain.artifact_paths import ArtifactPath, parse_path, select
from kfp_chain.runconfiguration import Artifact, ArtifactDeclaration


def out(
    task: str, output: str, uri: str | None, order: int, display: str | None = None, **metadata: Any
) -> OutputArtifact:
    return OutputArtifact(task, display or task, output, uri, metadata, order)


def declared(**paths: str) -> list[ArtifactDeclaration]:
    return [ArtifactDeclaration(name, path) for name, path in paths.items()]


@pytest.mark.parametrize(
    ("text", "component", "output", "index", "filter_text"),
    [
        ("trainer:model", "trainer", "model", 0, None),
        ("Pusher:pushed_model:0[pushed == 1]", "Pusher", "pushed_model", 0, "pushed == 1"),
        ("trainer:model:3", "trainer", "model", 3, None),
        ("trainer:model:", "trainer", "model", 0, None),  # an empty index is 0, as strconv is never called
        ("trainer:model:[pushed == 1]", "trainer", "model", 0, "pushed == 1"),
        ("trainer:model[pushed == 1]", "trainer", "model", 0, "pushed == 1"),
        ("train model:the output:007", "train model", "the output", 7, None),
        ("a-b.c:d_e", "a-b.c", "d_e", 0, None),
    ],
)
def test_a_path_reads_as_kfp_operator_reads_it(
    text: str, component: str, output: str, index: int, filter_text: str | None
) -> None:
    path = parse_path(text)
    assert (path.component, path.output, path.index) == (component, output, index)
    assert (str(path.filter) if path.filter else None) == filter_text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "trainer",
        "trainer:",
        ":model",
        "trainer:model:x",
        "trainer:model:1:2",
        "trainer:model[]",
        "trainer:model[pushed == 1",
        "trainer:model[a:b == 1]",  # no part may hold ':' (kfp-operator's CRD pattern)
        "trainer:model[a[`b`] == 1]",
        "trainer:model[pushed == 1]x",
        "trainer:model:-1",
        "trainer:model:\u0661",  # ARABIC-INDIC DIGIT ONE: Go's \d is ASCII only
        "trainer:model:99999999999999999999",  # strconv.Atoi's range
        "trainer:model[pushed ==]",
        "trainer:model[any x as y { y == 1 }]",
    ],
)
def test_a_malformed_path_is_a_value_error_that_names_it(text: str) -> None:
    with pytest.raises(ValueError, match="artifact path"):
        parse_path(text)


def test_a_path_is_written_back_as_kfp_operator_writes_it() -> None:
    assert str(parse_path("trainer:model")) == "trainer:model:0"
    assert str(parse_path("Pusher:pushed_model[pushed == 1]")) == "Pusher:pushed_model:0[pushed == 1]"
    assert parse_path(str(parse_path("a:b:2[x in y]"))) == parse_path("a:b:2[x in y]")


def test_paths_are_equal_when_their_filters_mean_the_same() -> None:
    assert parse_path("a:b[x == 1]") == parse_path("a:b:0[ ( x==1 ) ]")
    assert parse_path("a:b[x == 1]") != parse_path("a:b[x == 2]")


def test_a_component_is_its_task_name_or_its_display_name() -> None:
    outputs = [out("train-model", "model", "gs://b/m", 1, display="Train the model")]
    assert select(declared(by_key="train-model:model"), outputs)[0] == (Artifact("by_key", "gs://b/m"),)
    assert select(declared(by_ui="Train the model:model"), outputs)[0] == (Artifact("by_ui", "gs://b/m"),)
    assert select(declared(other="train:model"), outputs) == ((), ("other",))


def test_the_index_counts_the_outputs_in_creation_order_not_in_the_order_given() -> None:
    outputs = [out("t", "m", "gs://b/2", 2), out("t", "m", "gs://b/0", 0), out("t", "m", "gs://b/1", 1)]
    found, missing = select(declared(first="t:m", second="t:m:1", third="t:m:2", fourth="t:m:3"), outputs)
    assert found == (
        Artifact("first", "gs://b/0"),
        Artifact("second", "gs://b/1"),
        Artifact("third", "gs://b/2"),
    )
    assert missing == ("fourth",)


def test_artifacts_of_other_tasks_and_outputs_and_without_uri_do_not_count_for_the_index() -> None:
    outputs = [
        out("t", "metrics", "gs://b/metrics", 0),
        out("other", "m", "gs://b/other", 1),
        out("t", "m", None, 2),
        out("t", "m", "", 3),
        out("t", "m", "gs://b/wanted", 4),
    ]
    assert select(declared(model="t:m"), outputs) == ((Artifact("model", "gs://b/wanted"),), ())


def test_the_filter_applies_before_the_index() -> None:
    outputs = [
        out("pusher", "model", "gs://b/0", 0, pushed=0),
        out("pusher", "model", "gs://b/1", 1, pushed=1),
        out("pusher", "model", "gs://b/2", 2, pushed=0),
        out("pusher", "model", "gs://b/3", 3, pushed=1),
    ]
    found, missing = select(
        declared(
            first_pushed="pusher:model[pushed == 1]",
            second_pushed="pusher:model:1[pushed == 1]",
            third_pushed="pusher:model:2[pushed == 1]",
            second_of_all="pusher:model:1",
        ),
        outputs,
    )
    assert found == (
        Artifact("first_pushed", "gs://b/1"),
        Artifact("second_pushed", "gs://b/3"),
        Artifact("second_of_all", "gs://b/1"),
    )
    assert missing == ("third_pushed",)


def test_in_a_loop_the_first_iteration_that_passes_the_filter_wins_as_in_kfp_operator() -> None:
    """kfp-operator on ML Metadata: index 0 of each execution, filtered; the first match is used."""
    outputs = [
        out("train", "model", f"gs://b/{i}", i, accuracy=acc) for i, acc in enumerate((0.7, 0.95, 0.99))
    ]
    assert select(declared(good="train:model[accuracy == 0.95 or accuracy == 0.99]"), outputs) == (
        (Artifact("good", "gs://b/1"),),
        (),
    )


def test_an_artifact_the_filter_cannot_be_evaluated_on_is_left_out() -> None:
    """go-bexpr errors on a missing top-level key; kfp-operator then drops the artifact, and so do we."""
    outputs = [out("t", "m", "gs://b/no-flag", 0), out("t", "m", "gs://b/flag", 1, pushed=True)]
    assert select(declared(model="t:m[pushed == 1]"), outputs) == ((Artifact("model", "gs://b/flag"),), ())
    assert select(declared(model="t:m[pushed != 1]"), outputs) == ((), ("model",))


def test_an_unparseable_path_or_filter_leaves_its_artifact_missing_not_the_others() -> None:
    outputs = [out("t", "m", "gs://b/m", 0, pushed=1)]
    found, missing = select(
        declared(broken="t-m", bad_filter="t:m[pushed ==]", good="t:m[pushed == 1]"), outputs
    )
    assert found == (Artifact("good", "gs://b/m"),)
    assert missing == ("broken", "bad_filter")


def test_without_outputs_every_declared_artifact_is_missing() -> None:
    assert select(declared(a="t:m", b="t:n:1[x == 1]"), []) == ((), ("a", "b"))


def test_a_path_built_in_code_picks_as_a_parsed_one() -> None:
    built = ArtifactPath("t", "m", 1, parse_filter("pushed == true"))
    outputs = [out("t", "m", f"gs://b/{i}", i, pushed=i % 2 == 0) for i in range(4)]
    picked = built.pick(outputs)
    assert picked is not None and picked.uri == "gs://b/2"
    assert built == parse_path("t:m:1[pushed == true]")
