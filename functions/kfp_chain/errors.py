"""Every error kfp-chain raises, and what the broker should do about it.

The tree, and the HTTP answer each maps to at the function boundary:

    KfpChainError                      root; never escapes the entry points
    ├── InvalidEvent (400)             the request is not a run-completion event we can use;
    │                                  redelivering the same bytes can never help
    ├── ConfigurationError             settings that make start-up impossible
    ├── Refused                        the sender may not ask this; never retried into success
    │   ├── Unauthenticated (401)      no valid token for this function's audience
    │   └── Forbidden (403)            a valid sender that is not allowed
    │       └── UpstreamUnverified     KFP does not confirm the upstream run succeeded
    ├── TemporaryError (503)           a fault that may pass: retry later
    │   ├── BackendUnavailable         Kubernetes / KFP unreachable, timed out or 5xx
    │   ├── ClaimConflict              optimistic-concurrency writes that did not settle
    │   ├── TriggerInProgress          another replica holds the claim and its run is not there yet
    │   ├── DeploymentFault            KFP or Kubernetes refused *us* (401/403, a 422 on our write):
    │   │                              an expired token or a missing RBAC verb, never the event's fault
    │   ├── UpstreamNotFinished        KFP does not report the upstream run finished yet
    │   └── ArtifactsNotYetKnown       the artifact store does not know the run yet (plain KFP)
    └── PermanentError                 one dependent cannot be triggered, whatever we retry:
        ├── UnresolvableParameter      a required artifact is missing
        ├── UnknownPipeline            the pipeline or version does not exist in KFP
        ├── RejectedByBackend          KFP / Kubernetes answered 4xx to a well-formed request
        ├── CycleRefused               the edge closes a dependency cycle
        ├── AwaitingUpstreams          fan-in (`all`): not every upstream has a new success yet
        ├── InputTooOld                fan-in: an input is older than `kfp-chain.io/fan-in-max-age`
        ├── InvalidPolicy              the RunConfiguration names a trigger policy we do not know
        └── BadSchedule                a `triggers.schedules` entry KFP cannot run (cron, start/end)

A deployment fault is answered 5xx like any temporary fault, not acknowledged as a skip: until
someone fixes the deployment every trigger stays pending (and reconcile starts it afterwards),
and `kfp_chain_deployment_faults_total` gives an alert something to fire on.

Permanent per-dependent errors are logged, recorded and acknowledged (2xx), so that one broken
dependent cannot make the broker redeliver (and re-trigger) the others. Third-party exceptions
(`kubernetes`, `kfp_server_api`, urllib3) are translated into these only where those clients are
called.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ArtifactsNotYetKnown",
    "AwaitingUpstreams",
    "Backend",
    "BackendUnavailable",
    "BadSchedule",
    "ClaimConflict",
    "ConfigurationError",
    "CycleRefused",
    "DeploymentFault",
    "Forbidden",
    "InputTooOld",
    "InvalidEvent",
    "InvalidPolicy",
    "KfpChainError",
    "PermanentError",
    "Refused",
    "RejectedByBackend",
    "TemporaryError",
    "TriggerInProgress",
    "Unauthenticated",
    "UnknownPipeline",
    "UnresolvableParameter",
    "UpstreamNotFinished",
    "UpstreamUnverified",
]

Backend = Literal[
    "kubernetes", "kfp", "mlmd"
]  # who refused us: the label of `kfp_chain_deployment_faults_total`


class KfpChainError(Exception):
    """Root of every error kfp-chain raises on purpose."""

    reason: str = "error"


class InvalidEvent(KfpChainError):
    """The request cannot be a usable run-completion event; answered 400 and never retried."""

    reason = "invalid-event"

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def as_body(self) -> dict[str, str]:
        body = {"error": self.reason, "message": str(self)}
        if self.field is not None:
            body["field"] = self.field
        return body


class ConfigurationError(KfpChainError):
    """Settings that make it impossible to start; raised at start-up, not per event."""

    reason = "configuration"


class Refused(KfpChainError):
    """The request is well-formed but its sender may not make it: 401/403, counted, never a run.

    The message is safe to log and to answer: it never holds the credential it judged.
    """

    reason = "refused"
    status = 403

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    def as_body(self) -> dict[str, str]:
        return {"error": self.reason, "message": str(self)}


class Unauthenticated(Refused):
    """No token, a token the API server does not authenticate, or one issued for another audience."""

    reason = "unauthenticated"
    status = 401


class Forbidden(Refused):
    """An authenticated sender that KFP_CHAIN_ALLOWED_SENDERS does not list."""

    reason = "forbidden"
    status = 403


class UpstreamUnverified(Forbidden):
    """KFP does not know the upstream run, or knows it as not succeeded: the event is not believed."""

    reason = "upstream-unverified"


class TemporaryError(KfpChainError):
    """A fault that may pass; the event is answered 5xx so the broker redelivers it."""

    reason = "temporary"


class BackendUnavailable(TemporaryError):
    reason = "backend-unavailable"


class ClaimConflict(TemporaryError):
    reason = "claim-conflict"


class TriggerInProgress(TemporaryError):
    reason = "trigger-in-progress"


class DeploymentFault(TemporaryError):
    """A backend refused kfp-chain's own credentials or writes: fix the deployment, then it passes."""

    reason = "deployment-fault"

    def __init__(self, message: str, backend: Backend, status: int) -> None:
        super().__init__(message)
        self.backend = backend
        self.status = status


class UpstreamNotFinished(TemporaryError):
    """KFP still reports the upstream run as not finished: its bookkeeping may lag the event."""

    reason = "upstream-not-finished"


class ArtifactsNotYetKnown(TemporaryError):
    """The artifact store has no record of a finished run yet: retried, never "a run without outputs"."""

    reason = "artifacts-not-yet-known"


class PermanentError(KfpChainError):
    """This dependent cannot be triggered by this event, however often it is delivered."""

    reason = "permanent"


class UnresolvableParameter(PermanentError):
    reason = "missing-artifact"


class UnknownPipeline(PermanentError):
    reason = "unknown-pipeline"


class RejectedByBackend(PermanentError):
    reason = "rejected"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CycleRefused(PermanentError):
    reason = "cycle"


class AwaitingUpstreams(PermanentError):
    """Nothing to do for this event yet: a later upstream success (or reconcile) completes the set."""

    reason = "awaiting-upstreams"


class InputTooOld(PermanentError):
    reason = "input-too-old"


class InvalidPolicy(PermanentError):
    reason = "invalid-policy"


class BadSchedule(PermanentError):
    """A schedule entry that cannot become a KFP recurring run: the cron or its time bounds."""

    reason = "bad-schedule"
