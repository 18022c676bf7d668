"""What the project ships, read from infra/: the Trigger's delivery spec and the containers' environment.

The fault-injection suite must behave like the deployment, not like a copy of it that drifts: its
broker follows the `delivery` of the rendered Trigger (retries, backoff, per-attempt timeout) and
its function processes run with the rendered Services' container environment (ConfigMap keys
resolved), so a change of lease, budget or timeouts on main changes the suite with it. Only what
ties a process to this machine is overridden by the caller: endpoints, identity, logging.

The rendering is the production overlay's, by `tests/infra/manifests.build`, the same reader the
infra tests check against kubectl.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from kfp_chain.delivery import DeliveryPolicy

from tests.infra.manifests import INFRA, Resource, build, containers, find

__all__ = ["Sender", "delivery_policy", "ping", "rendered", "retryable", "senders", "service_environment"]

OVERLAY = INFRA / "overlays" / "production"
TRIGGER = "kfp-chain-run-completion"
PINGSOURCE = "kfp-chain-reconcile"

# Knative's dispatcher retries these answers (and no answer at all: timeout, refused, reset);
# any other 4xx goes straight to the dead-letter sink.
RETRYABLE_4XX = frozenset({404, 408, 409, 429})


def retryable(status: int | None) -> bool:
    """Whether Knative's dispatcher retries an attempt that ended so; None is no answer."""
    return status is None or status >= 500 or status in RETRYABLE_4XX


@cache
def rendered() -> tuple[Resource, ...]:
    return tuple(build(OVERLAY))


def delivery_policy() -> DeliveryPolicy:
    """The rendered Trigger's `spec.delivery`, read by the function's own reader of it.

    Its waits take Knative's exponential backoff conservatively (delay * 2^(k-1) before retry k;
    Knative's code computes delay * 2^k, which only waits longer).
    """
    (trigger,) = find(list(rendered()), "Trigger", TRIGGER)
    delivery: dict[str, Any] = trigger["spec"].get("delivery") or {}
    return DeliveryPolicy.from_spec(delivery)


def service_environment(name: str) -> dict[str, str]:
    """The container env of Knative Service `name`, ConfigMap and Secret references resolved.

    An optional Secret key is absent here (the Secret is not part of the install), and a
    fieldRef (the pod name) has no value outside a pod: both are left unset for the caller.
    """
    resources = list(rendered())
    (service,) = find(resources, "Service", name)
    maps = {m["metadata"]["name"]: m.get("data") or {} for m in find(resources, "ConfigMap")}
    env: dict[str, str] = {}
    for variable in containers(service)[0].get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        source = variable.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[variable["name"]] = str(maps[ref["name"]][ref["key"]])
        elif "secretKeyRef" in source and not source["secretKeyRef"].get("optional"):
            raise AssertionError(f"{name}: {variable['name']} needs a Secret the suite does not have")
    return env


@dataclass(frozen=True)
class Sender:
    """Who Knative Eventing sends as (with the `authentication-oidc` feature), and for which audience.

    `audience` None: the manifest sets none, so Knative sends no token.
    """

    username: str
    audience: str | None


def senders() -> dict[str, Sender]:
    """The OIDC identities of the shipped Trigger (deliveries and dead letters) and PingSource.

    Knative names the ServiceAccount it mints tokens for `<name>-oidc-<group>-<kind>` in the
    source's namespace; computed here from the manifests, not taken from the allow-list, so a
    wrong `KFP_CHAIN_ALLOWED_SENDERS` shows as refused deliveries.
    """
    resources = list(rendered())
    (trigger,) = find(resources, "Trigger", TRIGGER)
    (source,) = find(resources, "PingSource", PINGSOURCE)

    def account(resource: Resource, group: str, kind: str) -> str:
        namespace = resource["metadata"].get("namespace") or "default"
        return f"system:serviceaccount:{namespace}:{resource['metadata']['name']}-oidc-{group}-{kind}"

    by_trigger = account(trigger, "eventing.knative.dev", "trigger")
    dead_letter_sink = (trigger["spec"].get("delivery") or {}).get("deadLetterSink") or {}
    return {
        "subscriber": Sender(by_trigger, trigger["spec"]["subscriber"].get("audience")),
        "dead-letter": Sender(by_trigger, dead_letter_sink.get("audience")),
        "ping": Sender(
            account(source, "sources.knative.dev", "pingsource"), source["spec"]["sink"].get("audience")
        ),
    }


def ping() -> tuple[str, bytes]:
    """The shipped PingSource's content type and data: what every tick posts."""
    (source,) = find(list(rendered()), "PingSource", PINGSOURCE)
    spec = source["spec"]
    return str(spec.get("contentType") or "text/plain"), str(spec.get("data") or "").encode()
