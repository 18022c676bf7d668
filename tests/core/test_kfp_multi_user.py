"""The function against a multi-user KFP that checks bearer tokens: KFP_NAMESPACE and KFP_TOKEN are used
on every call (the experiment is created in, and runs are looked up in, that namespace)."""

from __future__ import annotations

from tests.builders import binary_event, event_data, rc


def test_runs_start_in_the_namespace_of_kfp_namespace_with_the_token(cluster_function, kube, kfp):
    kube.put(rc("a", "up"))
    kube.put(rc("a", "down", triggers=["up"]))
    kfp.multi_user = True
    kfp.require_tokens({"team-a-token": {"team-a"}})
    function = cluster_function(KFP_NAMESPACE="team-a", KFP_TOKEN="team-a-token")

    status, body = function.post(binary_event(event_data("a/up", run_id="1")))
    again = function.post(binary_event(event_data("a/up", run_id="1")))

    assert status == 200, body
    assert again[0] == 200 and again[1]["dependents"][0]["outcome"] == "duplicate"
    [run] = kfp.runs()
    [experiment] = (
        kfp.client(existing_token="team-a-token", namespace="team-a")
        .list_experiments(namespace="team-a")
        .experiments
    )
    assert (experiment.display_name, run["experiment_id"]) == ("Default", experiment.experiment_id)
    assert {c.status for c in kfp.calls()} == {200}
