"""`explain` says "already triggered" exactly when the ledger would, because it asks the ledger.

Each case runs `kfp-chain explain` for an event, then posts the same event to the real function
over the same source and ledger, and checks that explain predicted what the function did; where a
ledger is at hand, its `claim` is asked too. The cases are the ones where a second copy of the
ledger's rule drifts: a YAML `status.triggers` the SQLite ledger never reads, an entry naming the
upstream by its bare name (counts in the dependent's namespace only), a fan-in set whose runs a
join already consumed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from kfp_chain.adapters.folder.ledger import SqliteLedger
from kfp_chain.adapters.kubernetes.client import kubernetes_api_client
from kfp_chain.adapters.kubernetes.ledger import KubernetesLedger
from kfp_chain.adapters.kubernetes.source import KubernetesSource
from kfp_chain.adapters.ports import ClaimState, Trigger
from kfp_chain.cli import main
from kfp_chain.runconfiguration import RcKey
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import binary_event, event_data, rc, ref, write_kubeconfig
from tests.cli.support import Cli

PIPELINE = "penguin-pipeline-training"  # the one the KFP fake knows
PREDICTED = {"would-start": "started", "duplicate": "duplicate", "skipped": "skipped"}
UP, DOWN, FAR = RcKey("a", "up"), RcKey("a", "down"), RcKey("b", "down")


def upstream(namespace: str, name: str) -> dict[str, Any]:
    return rc(namespace, name, artifacts=[{"name": "out", "path": "Step:out"}])


def dependent(key: RcKey, upstreams: list[str], status: dict[str, Any] | None = None) -> dict[str, Any]:
    params = [ref(u, "out", param=u.split("/")[1]) for u in upstreams]
    return rc(key.namespace, key.name, PIPELINE, triggers=upstreams, parameters=params, status=status)


def consumed(entries: dict[str, str]) -> dict[str, Any]:
    return {"triggers": {"runConfigurations": {u: {"providerId": r} for u, r in entries.items()}}}


def event(name: str, run: str) -> tuple[dict[str, str], bytes]:
    return binary_event(event_data(name, run, artifacts=[{"name": "out", "location": f"gs://{run}"}]))


def outcomes(body: dict[str, Any], field: str) -> dict[str, str]:
    return {d["dependent"]: d[field] for d in body["dependents"]}


def predicted(explained: dict[str, Any]) -> dict[str, str]:
    return {k: PREDICTED[v] for k, v in outcomes(explained, "outcome").items()}


def test_a_status_in_the_yaml_is_not_the_sqlite_ledgers_so_explain_says_it_would_start(
    cli: Cli, function_factory: Any, kfp: FakeKfp, tmp_path: Path, state_db: Path
) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    objects = [upstream("a", "up"), dependent(DOWN, ["a/up"], consumed({"a/up": "run-1"}))]
    (folder / "rcs.yaml").write_text(yaml.safe_dump_all(objects))
    function = function_factory(
        RUNCONFIGURATIONS=str(folder), KFP_HOST=kfp.url, KFP_CHAIN_STATE_DB=str(state_db)
    )

    explained = json.loads(
        cli(
            "explain", "a/up", "--run-id", "run-1", "-a", "out=gs://run-1", "-o", "json", folder=folder
        ).output
    )
    _, done = function.post(event("a/up", "run-1"))

    assert predicted(explained) == outcomes(done, "outcome") == {"a/down": "started"}
    again = json.loads(
        cli(
            "explain", "a/up", "--run-id", "run-1", "-a", "out=gs://run-1", "-o", "json", folder=folder
        ).output
    )
    assert outcomes(again, "outcome") == {"a/down": "duplicate"}
    trigger = Trigger(DOWN, UP, "run-1")
    assert SqliteLedger(state_db).claim(trigger, "someone", timedelta(minutes=1)) is ClaimState.DONE


def cluster_with_bare_names(kube: FakeKubernetes, tmp_path: Path) -> Path:
    kube.put(upstream("a", "up"))
    kube.put(dependent(DOWN, ["a/up"], consumed({"up": "run-9"})))  # same namespace: a/up, consumed
    kube.put(dependent(FAR, ["a/up"], consumed({"up": "run-9"})))  # b/up, which is not a/up
    return write_kubeconfig(tmp_path / "kubeconfig", kube.url)


def test_explain_counts_a_bare_name_in_status_triggers_in_the_dependents_namespace_only(
    kube: FakeKubernetes, cluster_function: Any, kfp: FakeKfp, tmp_path: Path
) -> None:
    kubeconfig = cluster_with_bare_names(kube, tmp_path)
    env = {"RUNCONFIGURATIONS": "kubernetes", "KUBECONFIG": str(kubeconfig)}
    args = ["explain", "a/up", "--run-id", "run-9", "-a", "out=gs://run-9", "-o", "json"]
    explained = json.loads(CliRunner().invoke(main, args, env=env, catch_exceptions=False).output)

    assert outcomes(explained, "outcome") == {"a/down": "duplicate", "b/down": "would-start"}
    _, done = cluster_function().post(event("a/up", "run-9"))
    assert predicted(explained) == outcomes(done, "outcome")


def test_the_cluster_ledger_claims_by_the_same_rule(
    kube: FakeKubernetes, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster_with_bare_names(kube, tmp_path)))
    source = KubernetesSource(kubernetes_api_client(), "pipelines.kubeflow.org", "v1beta1", ())
    ledger = KubernetesLedger(source)
    near, far = Trigger(DOWN, UP, "run-9"), Trigger(FAR, UP, "run-9")

    assert (ledger.consumed(near), ledger.consumed(far)) == (True, False)
    lease = timedelta(minutes=1)
    assert (ledger.claim(near, "t", lease), ledger.claim(far, "t", lease)) == (
        ClaimState.DONE,
        ClaimState.ACQUIRED,
    )


def test_a_fan_in_set_whose_runs_a_join_consumed_is_a_duplicate_for_both(
    cli: Cli, function_factory: Any, kfp: FakeKfp, tmp_path: Path, state_db: Path
) -> None:
    folder = tmp_path / "rcs"
    folder.mkdir()
    join = dependent(DOWN, ["a/one", "a/two"])
    join["metadata"]["annotations"] = {"kfp-chain.io/trigger-policy": "all"}
    (folder / "rcs.yaml").write_text(yaml.safe_dump_all([upstream("a", "one"), upstream("a", "two"), join]))
    function = function_factory(
        RUNCONFIGURATIONS=str(folder), KFP_HOST=kfp.url, KFP_CHAIN_STATE_DB=str(state_db)
    )
    function.post(event("a/one", "r1"))
    function.post(event("a/two", "r2"))  # the join {one: r1, two: r2} starts
    assert len(kfp.runs()) == 1

    for name, run in [("a/two", "r2"), ("a/one", "r1"), ("a/one", "r3")]:
        explained = json.loads(
            cli("explain", name, "--run-id", run, "-a", f"out=gs://{run}", "-o", "json", folder=folder).output
        )
        _, done = function.post(event(name, run))
        assert predicted(explained) == outcomes(done, "outcome"), (name, run, explained, done)
    joined = Trigger.fan_in(DOWN, [(RcKey("a", "one"), "r1"), (RcKey("a", "two"), "r2")])
    overlapping = Trigger.fan_in(DOWN, [(RcKey("a", "one"), "r3"), (RcKey("a", "two"), "r2")])
    assert (SqliteLedger(state_db).consumed(joined), SqliteLedger(state_db).consumed(overlapping)) == (
        True,
        True,
    )
    assert len(kfp.runs()) == 1
