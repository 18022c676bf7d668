"""Kubernetes Events on the dependent RunConfiguration: why a run did or did not start.

Where it sits: an observer of the chain, wired by `app.build_app` only when RunConfigurations come
from the cluster. For each decision it writes one core/v1 Event whose involvedObject is the
dependent, so `kubectl describe mlrc NAME` lists "TriggerStarted", "TriggerSkipped" (with the
reason, e.g. a missing artifact or a cycle) and "TriggerDuplicate" next to kfp-operator's own
Events (kfp-operator #628, #438). A RunConfiguration the function skips as invalid gets an
"InvalidRunConfiguration" Warning naming the problems, once per change (see `invalid.py`).

`kubectl describe` selects Events by the object's uid, so the observer takes the dependent's uid
from the watch index when there is one, and reads it from the API server otherwise; when that read
fails the Event is still written without it (it then shows in
`kubectl get events`, not in `describe`). Temporary faults are not Events: the broker redelivers
and the final decision is reported then. Writing an Event is best effort: any failure is logged
and swallowed, so reporting can never change what happens to an event.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from ...intake import RunCompletion
from ...invalid import InvalidObject
from ...outcomes import Outcome, OutcomeKind
from ...runconfiguration import KIND, PLURAL, RcKey

__all__ = ["INVALID_REASON", "REASONS", "KubernetesEventObserver"]

log = logging.getLogger("kfp_chain.kube_events")

# Temporary faults (RETRY) get no Event: the broker redelivers and the final decision is reported then.
REASONS: dict[OutcomeKind, str] = {
    OutcomeKind.STARTED: "TriggerStarted",
    OutcomeKind.SKIPPED: "TriggerSkipped",
    OutcomeKind.DUPLICATE: "TriggerDuplicate",
}
INVALID_REASON = "InvalidRunConfiguration"
COMPONENT = "kfp-chain"
MAX_MESSAGE = 1024  # the API server refuses longer Event messages
REQUEST_TIMEOUT = (3.0, 5.0)


class KubernetesEventObserver:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        api_version: str = "pipelines.kubeflow.org/v1beta1",
        instance: str = COMPONENT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        known_uid: Callable[[RcKey], str | None] = lambda key: None,
    ) -> None:
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.api_version = api_version
        self.instance = instance
        self._clock = clock
        self._known_uid = known_uid  # the watch index knows every uid: no GET per Event then

    def on_outcome(self, event: RunCompletion, outcome: Outcome) -> None:
        reason = REASONS.get(outcome.outcome)
        if reason is None or outcome.repeat:  # one Event per refusal, not one per reconcile pass
            return
        # A fan-in waiting for its other upstreams is the policy working, not a problem.
        kind = (
            "Warning"
            if outcome.outcome == OutcomeKind.SKIPPED and outcome.reason != "awaiting-upstreams"
            else "Normal"
        )
        # A skip is decided again on every delivery of the same event (redeliveries, copies, replicas):
        # one Event per trigger and reason, named after both, so a second create is a harmless 409.
        once = (
            (str(event.run_configuration), event.run_id, outcome.reason)
            if outcome.outcome == OutcomeKind.SKIPPED
            else None
        )
        self.write(outcome.dependent, reason, message(event, outcome), kind, once=once)

    def on_invalid(self, item: InvalidObject) -> None:
        """An `InvalidRunConfiguration` Warning on an object the function skips (once per change)."""
        if item.key is not None:
            text = f"skipped by kfp-chain until fixed: {item.summary}"
            # Every replica sees the same object: one Event per object and problem (a 409 for the rest).
            self.write(item.key, INVALID_REASON, text, "Warning", uid=item.uid, once=(item.uid, item.summary))

    def write(
        self,
        key: RcKey,
        reason: str,
        text: str,
        kind: str = "Warning",
        uid: str | None = None,
        once: tuple[str | None, ...] | None = None,
    ) -> None:
        """One Event on RunConfiguration `key`; best effort (the dead-letter function uses it too).

        With `once`, the Event's name is derived from `key`, `reason` and `once`, so writing the same
        Event again (another delivery, another replica) is a 409 from the API server and nothing more.
        """
        try:
            body = self.event_body(key, reason, text, kind, uid or self._uid(key))
            if once is not None:
                body["metadata"]["name"] = event_name(key, reason, once)
            self.core.create_namespaced_event(key.namespace, body, _request_timeout=REQUEST_TIMEOUT)
        except Exception as exc:  # best effort: an Event must never fail the trigger it reports
            if once is not None and getattr(exc, "status", None) == 409:
                return  # already written by an earlier delivery or another replica
            log.warning(
                "could not write Kubernetes Event",
                extra={"dependent": str(key), "reason": reason, "error": _short(exc)},
            )

    def event_body(self, key: RcKey, reason: str, text: str, kind: str, uid: str | None) -> dict[str, Any]:
        now = self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        involved: dict[str, str] = {
            "apiVersion": self.api_version,
            "kind": KIND,
            "name": key.name,
            "namespace": key.namespace,
        }
        if uid:
            involved["uid"] = uid
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{key.name[:200]}.{uuid.uuid4().hex[:16]}", "namespace": key.namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": text[:MAX_MESSAGE],
            "type": kind,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }

    def _uid(self, key: RcKey) -> str | None:
        known = self._known_uid(key)
        if known:
            return known
        group, _, version = self.api_version.rpartition("/")
        try:
            obj = self.custom.get_namespaced_custom_object(
                group, version, key.namespace, PLURAL, key.name, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            log.info("no uid for Event", extra={"dependent": str(key), "error": _short(exc)})
            return None
        uid = (obj.get("metadata") or {}).get("uid") if isinstance(obj, dict) else None
        return uid if isinstance(uid, str) else None


def event_name(key: RcKey, reason: str, once: tuple[str | None, ...]) -> str:
    """A stable Event name for one (object, reason, identity): the same inputs give the same name."""
    digest = hashlib.sha256("\x00".join([str(key), reason, *(part or "" for part in once)]).encode())
    return f"{key.name[:200]}.{digest.hexdigest()[:16]}"


def message(event: RunCompletion, outcome: Outcome) -> str:
    """One sentence naming the upstream run and the reason, as `kubectl describe` shows it."""
    upstream = f"{event.run_configuration} run {event.run_id}"
    if outcome.via == "on-change":  # its own pipeline or spec changed: no upstream run to name
        upstream = "a change (triggers.onChange)"
    if outcome.outcome == OutcomeKind.STARTED:
        return f"started KFP run {outcome.run_id} ({outcome.display_name}) after {upstream}"
    if outcome.outcome == OutcomeKind.DUPLICATE:
        return f"not started again: {upstream} already triggered KFP run {outcome.run_id or '(recorded)'} ({outcome.reason})"
    return f"not started after {upstream}: {outcome.reason}: {outcome.detail}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"
