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

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.infra.manifests import INFRA, Resource, build, containers, find

__all__ = ["DeliverySpec", "delivery_spec", "iso8601_seconds", "rendered", "service_environment"]

OVERLAY = INFRA / "overlays" / "production"
TRIGGER = "kfp-chain-run-completion"

# Knative's dispatcher retries these answers (and no answer at all: timeout, refused, reset);
# any other 4xx goes straight to the dead-letter sink.
RETRYABLE_4XX = frozenset({404, 408, 409, 429})

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def iso8601_seconds(text: str) -> float:
    """`PT1S`, `PT0.5S`, `PT1M30S`, `P1D` -> seconds (the subset Knative's delivery fields take)."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("days", 0) * 86400 + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60
    ) + parts.get("seconds", 0)


@dataclass(frozen=True)
class DeliverySpec:
    """A Trigger's `spec.delivery`, and the dispatcher's arithmetic on it."""

    retry: int
    backoff_policy: str  # exponential | linear
    backoff_delay: float  # seconds
    timeout: float | None  # per attempt, seconds; None = the dispatcher's default (none here)
    dead_letter_sink: str | None  # the sink's Service name

    def backoff(self, retry_number: int) -> float:
        """The wait before retry `retry_number` (1..retry).

        Exponential is read conservatively as delay * 2^(k-1): 1 s, 2 s, 4 s... (Knative's code
        computes delay * 2^k, which only waits longer, so a guarantee shown here holds there too).
        """
        if not 1 <= retry_number <= self.retry:
            raise ValueError(f"retry {retry_number} outside 1..{self.retry}")
        if self.backoff_policy == "exponential":
            return float(self.backoff_delay * 2 ** (retry_number - 1))
        if self.backoff_policy == "linear":
            return self.backoff_delay * retry_number
        raise ValueError(f"unknown backoffPolicy {self.backoff_policy!r}")

    @property
    def window(self) -> float:
        """Seconds from the first attempt to the last one's start, without the attempts themselves."""
        return sum(self.backoff(k) for k in range(1, self.retry + 1))

    @staticmethod
    def retryable(status: int | None) -> bool:
        """None is no answer (timeout, refused, reset)."""
        return status is None or status >= 500 or status in RETRYABLE_4XX


@cache
def rendered() -> tuple[Resource, ...]:
    return tuple(build(OVERLAY))


def delivery_spec() -> DeliverySpec:
    (trigger,) = find(list(rendered()), "Trigger", TRIGGER)
    delivery: dict[str, Any] = trigger["spec"].get("delivery") or {}
    sink = ((delivery.get("deadLetterSink") or {}).get("ref") or {}).get("name")
    return DeliverySpec(
        retry=int(delivery.get("retry", 0)),
        backoff_policy=str(delivery.get("backoffPolicy", "exponential")),
        backoff_delay=iso8601_seconds(str(delivery.get("backoffDelay", "PT0.2S"))),
        timeout=iso8601_seconds(str(delivery["timeout"])) if delivery.get("timeout") else None,
        dead_letter_sink=sink,
    )


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
