"""Throttling is a temporary fault: a 429 from the API server or KFP is retried, never a skip.

API Priority and Fairness answers 429 to a client over its share, and a gateway in front of KFP
may too. Acknowledged as a skip, the trigger would be dropped for good while the event path is
merely throttled; answered 503, the broker comes back (issue 21, item 5).
"""

from __future__ import annotations

from tests.builders import binary_event, event_data, seed_objects

KFP = "/apis/v2beta1"
TRAINING = r"/namespaces/dependant-namespace/runconfigurations/penguin-pipeline-training-rc$"


def test_a_kubernetes_429_on_the_claim_is_retried_by_the_broker(cluster_function, kube, kfp):
    for obj in seed_objects():
        kube.put(obj)
    function = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="1")
    kube.faults.add(method="PATCH", path=TRAINING, status=429, times=None)

    status, body = function.post(binary_event(event_data()))

    assert status == 503, body
    assert body["dependents"][0]["outcome"] == "retry"
    assert kfp.runs() == []


def test_a_kfp_429_on_the_create_is_retried_by_the_broker(cluster_function, kube, kfp):
    for obj in seed_objects():
        kube.put(obj)
    function = cluster_function(KFP_CHAIN_RETRY_BUDGET_SECONDS="1")
    kfp.faults.add(method="POST", path=f"{KFP}/runs$", status=429, times=None)

    status, body = function.post(binary_event(event_data()))

    assert status == 503, body
    assert body["dependents"][0]["outcome"] == "retry"
    assert kfp.runs() == []
