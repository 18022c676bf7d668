"""Which runs a pass hands to which RunConfiguration (`ownership.py`), through the real CLI and fakes.

Runs kfp-chain started carry the marker; kfp-operator names the RunConfiguration in its runtime
parameters; runs started by hand belong to a RunConfiguration only under `kfp-chain.io/adopt-runs`,
in its namespace (multi-user KFP) and experiment. Everything else is skipped and counted.
"""

from __future__ import annotations

import json

from tests.builders import rc
from tests.support import installed_cli


def adopting(namespace: str, name: str, pipeline: str, experiment: str | None = None, adopt: bool = True):
    obj = rc(namespace, name, pipeline=pipeline)
    if adopt:
        obj["metadata"]["annotations"] = {"kfp-chain.io/adopt-runs": "true"}
    if experiment:
        obj["spec"]["run"]["experimentName"] = experiment
    return obj


def dependents(kfp, upstream: str) -> list[str]:
    return sorted(r["display_name"] for r in kfp.runs() if f"<- {upstream} run" in r["display_name"])


def test_a_run_started_by_hand_is_adopted_only_under_the_annotation(poll_cli, kube, kfp):
    kube.put(adopting("a", "up", "upstream", adopt=False))
    kube.put(rc("a", "down", triggers=["up"]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    before = kfp.add_run("notebook", pid, vid)
    kfp.finish_run(before, "SUCCEEDED")

    code, off = poll_cli()
    kube.put(adopting("a", "up", "upstream"))
    after = kfp.add_run("notebook again", pid, vid)
    kfp.finish_run(after, "SUCCEEDED")
    again, on = poll_cli()

    assert code == 0 and off["skipped"] == {"unowned": 1}, off
    assert again == 0 and on["results"] == {"already-handled": 1, "handled": 1}, on
    assert [r["rule"] for r in on["runs"]] == ["adopt-runs"]
    assert dependents(kfp, "a/up") == [f"a/down <- a/up run {after}"]


def test_adopt_runs_needs_the_experiment_and_exactly_one_runconfiguration(poll_cli, kube, kfp):
    kube.put(adopting("a", "up", "upstream", experiment="nightly"))
    kube.put(rc("a", "down", triggers=["up"]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    other = kfp.add_experiment("scratch")
    nightly = kfp.add_experiment("nightly")
    wrong = kfp.add_run("elsewhere", pid, vid, experiment_id=other)
    right = kfp.add_run("nightly run", pid, vid, experiment_id=nightly)
    for run in (wrong, right):
        kfp.finish_run(run, "SUCCEEDED")

    code, body = poll_cli()
    kube.put(adopting("b", "twin", "upstream", experiment="nightly"))
    late = kfp.add_run("nightly run 2", pid, vid, experiment_id=nightly)
    kfp.finish_run(late, "SUCCEEDED")
    _, twins = poll_cli()

    assert code == 0 and body["skipped"] == {"unowned": 1} and body["results"]["handled"] == 1, body
    assert dependents(kfp, "a/up") == [f"a/down <- a/up run {right}"]
    assert twins["skipped"] == {"ambiguous": 1}, twins


def test_kfp_operator_runs_are_known_by_their_runtime_parameters(poll_cli, kube, kfp):
    kube.put(rc("a", "up", pipeline="upstream"))
    kube.put(rc("a", "down", triggers=["up"]))
    pid, (vid,) = kfp.add_pipeline("a-upstream")
    params = {"runconfiguration-namespace": "a", "runconfiguration-name": "up"}
    run_id = kfp.add_run("up-xyz", pid, vid, parameters=params)
    gone = kfp.add_run("up-old", pid, vid, parameters={**params, "runconfiguration-name": "deleted"})
    for run in (run_id, gone):
        kfp.finish_run(run, "SUCCEEDED")

    code, body = poll_cli()

    assert code == 0 and body["skipped"] == {"unknown-runconfiguration": 1}, body
    assert dependents(kfp, "a/up") == [f"a/down <- a/up run {run_id}"]
    assert kube.get("a", "up")["status"]["latestRuns"]["succeeded"]["providerId"] == run_id


def test_multi_user_kfp_is_listed_per_namespace_of_the_runconfigurations(poll_cli, kube, kfp):
    kfp.multi_user = True
    kube.put(adopting("team-a", "up", "upstream"))
    kube.put(rc("team-a", "down", triggers=["up"]))
    pid, (vid,) = kfp.add_pipeline("upstream")
    ours = kfp.add_run("ours", pid, vid, experiment_id=kfp.add_experiment("Default", namespace="team-a"))
    theirs = kfp.add_run("theirs", pid, vid, experiment_id=kfp.add_experiment("Default", namespace="team-b"))
    for run in (ours, theirs):
        kfp.finish_run(run, "SUCCEEDED")

    code, body = poll_cli(KFP_CHAIN_MULTI_USER="true", KFP_NAMESPACE="team-a")

    assert code == 0 and body["seen"] == 1, body
    assert dependents(kfp, "team-a/up") == [f"team-a/down <- team-a/up run {ours}"]
    listed = {c.query.get("namespace", [""])[0] for c in kfp.calls("GET", "/runs$")}
    assert listed == {"team-a"}


def test_a_pass_pages_through_every_finished_run_and_counts_the_unowned(poll_cli, kube, kfp):
    kube.put(rc("a", "up", pipeline="upstream"))
    pid, (vid,) = kfp.add_pipeline("upstream")
    for i in range(205):
        kfp.finish_run(kfp.add_run(f"notebook {i}", pid, vid), "SUCCEEDED")

    code, body = poll_cli()

    assert code == 0 and body["seen"] == 205 and body["skipped"] == {"unowned": 205}, body["seen"]
    assert len(kfp.calls("GET", "/runs$")) == 2


def test_explain_says_whether_runs_started_by_hand_are_adopted(cluster_env, kube):
    kube.put(adopting("a", "up", "upstream", adopt=False))
    kube.put(adopting("a", "adopter", "upstream"))

    off = installed_cli(cluster_env, "explain", "a/up", "-o", "json")
    on = installed_cli(cluster_env, "explain", "a/adopter")

    assert json.loads(off.stdout)["adoptRuns"] == (
        "runs of pipeline 'upstream' started by hand start nothing: "
        'not annotated kfp-chain.io/adopt-runs: "true"'
    )
    assert "started by hand are adopted (kfp-chain.io/adopt-runs)" in on.stdout
