"""The CLI knows the fan-in policy: validate checks it, graph marks it, explain says what it awaits;
and the folder source with its SQLite ledger joins exactly once, like the cluster."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from kfp_chain.adapters.folder.ledger import SqliteLedger
from kfp_chain.runconfiguration import RcKey

from tests.builders import binary_event, event_data, rc, ref
from tests.cli.support import Cli


def write(folder: Path, *objects: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rcs.yaml").write_text(yaml.safe_dump_all(objects))
    return folder


def fan_in(policy: str = "all", upstreams: tuple[str, ...] = ("a/one", "a/two"), **annotations: str) -> dict:
    obj = rc(
        "a", "join", triggers=list(upstreams), parameters=[ref(u, "out", param=u[-3:]) for u in upstreams]
    )
    obj["metadata"]["annotations"] = {"kfp-chain.io/trigger-policy": policy, **annotations}
    return obj


def upstream(name: str) -> dict:
    return rc("a", name, artifacts=[{"name": "out", "path": "Step:out"}])


def test_validate_fails_on_an_unknown_policy_and_a_bad_max_age(cli: Cli, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "rcs",
        upstream("one"),
        upstream("two"),
        fan_in("majority", **{"kfp-chain.io/fan-in-max-age": "soon"}),
    )

    result = cli("validate", "-o", "json", folder=folder)

    assert result.exit_code == 1
    codes = {(f["severity"], f["code"]) for f in json.loads(result.output)["findings"]}
    assert ("error", "unknown-policy") in codes and ("error", "invalid-max-age") in codes


def test_validate_warns_on_all_with_a_single_upstream(cli: Cli, tmp_path: Path) -> None:
    folder = write(tmp_path / "rcs", upstream("one"), fan_in(upstreams=("a/one",)))

    plain = cli("validate", "-o", "json", folder=folder)
    strict = cli("validate", "--strict", "-o", "json", folder=folder)

    assert plain.exit_code == 0 and strict.exit_code == 1
    [finding] = json.loads(plain.output)["findings"]
    assert (finding["severity"], finding["code"]) == ("warning", "fan-in-single-upstream")


def test_graph_marks_fan_in_nodes(cli: Cli, tmp_path: Path) -> None:
    folder = write(tmp_path / "rcs", upstream("one"), upstream("two"), fan_in())

    mermaid = cli("graph", folder=folder).output
    dot = cli("graph", "--format", "dot", folder=folder).output
    nodes = {
        n["id"]: n["policy"]
        for n in json.loads(cli("graph", "--format", "json", folder=folder).output)["nodes"]
    }

    assert '["join (all upstreams)"]' in mermaid and '["one"]' in mermaid
    assert 'label="join (all upstreams)", peripheries=2' in dot
    assert nodes == {"a/join": "all", "a/one": "any", "a/two": "any"}


def test_explain_says_which_upstreams_a_fan_in_awaits(cli: Cli, tmp_path: Path, state_db: Path) -> None:
    folder = write(tmp_path / "rcs", upstream("one"), upstream("two"), fan_in())
    SqliteLedger(state_db).record_succeeded(RcKey("a", "one"), "r1", ())

    text = cli("explain", "a/join", folder=folder).output
    body = json.loads(cli("explain", "a/join", "-o", "json", folder=folder).output)
    one_only = cli("explain", "a/one", "--run-id", "r1", "-o", "json", folder=folder).output

    assert (
        "a/one: latest run r1: new" in text and "a/two: latest run -: awaited: no succeeded run yet" in text
    )
    assert body["fanIn"]["a/two"]["state"] == "awaited: no succeeded run yet"
    [decision] = json.loads(one_only)["dependents"]
    assert decision["reason"] == "awaiting-upstreams" and "a/two (no succeeded run yet)" in decision["detail"]


def test_the_folder_source_joins_once_through_the_function(function_factory, kfp, tmp_path: Path) -> None:
    folder = write(tmp_path / "rcs", upstream("one"), upstream("two"), fan_in())
    function = function_factory(
        RUNCONFIGURATIONS=str(folder), KFP_HOST=kfp.url, KFP_CHAIN_STATE_DB=str(tmp_path / "state.db")
    )

    def done(name: str, run: str) -> dict:
        return function.post(
            binary_event(event_data(name, run, artifacts=[{"name": "out", "location": f"gs://{run}"}]))
        )[1]

    waiting = done("a/one", "r1")
    joined = done("a/two", "r2")
    again = [done("a/two", "r2"), done("a/one", "r1")]

    assert waiting["dependents"][0]["reason"] == "awaiting-upstreams"
    assert joined["dependents"][0]["outcome"] == "started"
    assert all(a["dependents"][0]["outcome"] in ("duplicate", "skipped") for a in again)
    [run] = kfp.runs()
    assert run["runtime_config"]["parameters"] == {"one": "gs://r1", "two": "gs://r2"}
    [row] = SqliteLedger(tmp_path / "state.db").triggers()
    assert (row["upstream"], row["runId"], row["done"]) == ("a/one+a/two", "r1+r2", 1)
