"""The exactly-once ledger in the cluster: claims in annotations, completions in `status.triggers`.

Where the bookkeeping lives, and why there: a real API server prunes every field the CRD schema
does not declare, so kfp-chain writes only
- `status.triggers.runConfigurations["ns/upstream"].providerId = <upstream runId>`: the field
  kfp-operator itself uses to say which upstream run a dependent has consumed;
- `status.latestRuns.succeeded {providerId, artifacts}` of the emitter (unless RECORD_LATEST_RUNS
  is off because kfp-operator's controllers write it);
- claims as annotations (see `claims`). Annotations are metadata, written with the object's
  resourceVersion as a precondition (a merge patch that carries it is refused with 409 when stale),
  which is what makes a claim exclusive across replicas.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from ...errors import ClaimConflict, KfpChainError, RejectedByBackend
from ...runconfiguration import PLURAL, Artifact, RcKey
from ..ports import ClaimState, Clock, SystemClock, Trigger
from .claims import (
    CLAIM_PREFIX,
    claim_value,
    consumed,
    consumed_runs,
    done,
    done_claims,
    expired,
    join_in_flight,
    unsettled_joins,
)
from .errors import Conflict, NotFound, kubernetes_errors
from .source import KubernetesSource

__all__ = ["KeyedLocks", "KubernetesLedger"]

log = logging.getLogger("kfp_chain.kubernetes")

CONFLICT_ATTEMPTS = 5


class KubernetesLedger:
    """Claims in annotations, completions in `status.triggers`, latest runs in `status.latestRuns`.

    Round trips per started run, in steady state: one PATCH for the claim, one for the completion.
    Every write answers with the whole object, which is kept per dependent (`_seen`) and used as the
    next write's precondition instead of a GET: a stale copy costs one 409 and a re-read, never a
    wrong decision, since the write that acts on it carries its resourceVersion. The only decisions
    taken on a copy without a write are DONE (consumption only ever happened, so it stays true) and
    none else: a claim that looks held is re-read before 503 is answered.

    A completed trigger's claim is not removed by a write of its own: `status.triggers` says it is
    done, and the next claim written on the same dependent removes every such leftover in the same
    PATCH. Until then `kfp-chain explain` does not list it as in progress.

    Writes to one object are serialised inside this process (`_writing`): the request threads of a
    replica that all trigger one dependent (a busy upstream, a burst) would otherwise each write on
    the copy another thread has just made stale, and pay a 409 and a re-read for it, again and
    again. In turn, each write takes its precondition from the previous one's answer and succeeds
    first time. Replicas still exclude each other through resourceVersion alone; the lock only
    saves this process's own threads the conflicts, it decides nothing.
    """

    SEEN_LIMIT = 4096  # objects kept for their resourceVersion; past this the oldest are forgotten

    def __init__(self, source: KubernetesSource, clock: Clock | None = None) -> None:
        self.source = source
        self.api = source.api
        self.clock = clock or SystemClock()
        self._seen: dict[RcKey, dict[str, Any]] = {}
        self._seen_lock = threading.Lock()
        self._writing = KeyedLocks()
        # Joined (fan-in) claims: what status.triggers said of their upstreams when first acquired,
        # so that `complete` never writes a set back over a newer join (see `_complete_join`).
        self._consumed_before: dict[tuple[str, str], dict[str, str | None]] = {}

    # -- claims ----------------------------------------------------------------------
    def claim(self, trigger: Trigger, holder: str, lease: timedelta) -> ClaimState:
        with self._writing.hold(trigger.dependent):
            return self._claim(trigger, holder, lease)

    def _claim(self, trigger: Trigger, holder: str, lease: timedelta) -> ClaimState:
        annotation = CLAIM_PREFIX + trigger.claim_id
        obj, fresh = self._known(trigger.dependent)
        for _ in range(CONFLICT_ATTEMPTS):
            if done(obj, trigger):
                if fresh or consumed(obj, trigger):
                    return ClaimState.DONE  # done, or superseded: a newer join was recorded since its plan
                # "Superseded" on a copy may only be the copy's age (older than the plan's fresh read,
                # another replica completed a join since): unlike consumption, it is not monotone.
                obj, fresh = self._require(trigger.dependent), True
                continue
            current = claim_value(obj, annotation)
            now = self.clock.now()
            rival = trigger.joined and join_in_flight(obj, annotation, holder, now)
            if rival or (
                current is not None and current.get("holder") != holder and not expired(current, now)
            ):
                if fresh:
                    return ClaimState.HELD
                obj, fresh = self._require(trigger.dependent), True  # a copy may show a claim since released
                continue
            before = dict(trigger.planned_on) if trigger.planned_on else consumed_runs(obj, trigger)
            value: dict[str, Any] = {
                "upstream": trigger.ledger_key[1],
                "runId": trigger.ledger_key[2],
                "holder": holder,
                "expiresAt": (now + lease).isoformat(),
            }
            if trigger.joined:  # whoever settles this join after its lease records it under the same rule
                value["plannedOn"] = before
            changes: dict[str, str | None] = {a: None for a in done_claims(obj) if a != annotation}
            changes[annotation] = json.dumps(value, sort_keys=True)
            if self._patch_annotations(trigger.dependent, obj, changes):
                if trigger.joined:
                    self._remember_before(trigger, holder, before)
                if current is not None and current.get("holder") != holder:
                    log.warning(
                        "took over an expired claim",
                        extra={"trigger": trigger.display_name, "previousHolder": current.get("holder")},
                    )
                return ClaimState.ACQUIRED
            obj, fresh = self._require(trigger.dependent), True
        raise ClaimConflict(f"claiming {trigger.display_name!r}: the object kept changing under us")

    def unsettled(self, trigger: Trigger) -> tuple[tuple[Trigger, str], ...]:
        """Other joins of the dependent whose claim expired unrecorded (`claims.unsettled_joins`).

        Read from the copy the last write answered: asked right after our claim was written, that
        is the object as it is while our claim keeps every other join out."""
        obj, _ = self._known(trigger.dependent)
        return tuple(unsettled_joins(obj, CLAIM_PREFIX + trigger.claim_id, self.clock.now()))

    def consumed(self, trigger: Trigger) -> bool:
        """`claim`'s DONE rule (`claims.done`) on a fresh read of the dependent; writes nothing."""
        obj = self.source.get_object(trigger.dependent)
        return obj is not None and done(obj, trigger)

    def complete(self, trigger: Trigger, holder: str, run_id: str | None) -> None:
        """Records the trigger as consumed; the claim goes with the next claim's write (see above)."""
        consumed = {str(upstream): {"providerId": run} for upstream, run in trigger.inputs}
        patch: dict[str, Any] = {"status": {"triggers": {"runConfigurations": consumed}}}
        if trigger.change is not None:  # onChange: the version it ran, where kfp-operator records it
            patch = {"status": {"triggers": {trigger.change: {"version": trigger.upstream_run_id}}}}
        if trigger.joined:
            self._complete_join(trigger, holder, patch)
        else:
            self._patch_status(trigger.dependent, patch)

    def _complete_join(self, trigger: Trigger, holder: str, patch: dict[str, Any]) -> None:
        """Records a join unless a newer one was recorded since its claim: a compare-and-swap.

        `status.triggers` keeps one run per upstream and no order, so a join that completes late
        (a slow holder, a reconcile pass planned on an older list) would write its older runs back
        over a newer join's, and those newer runs would look unconsumed and be joined a second time
        (the fault suite found it). The write carries the resourceVersion it was decided on; if the
        entries of this join's upstreams moved since the claim, the join has been superseded: its
        run exists and stays, the newer record stays too.
        """
        key = trigger.dependent
        before = self._consumed_before.pop((trigger.claim_id, holder), None)
        if before is None and trigger.planned_on:  # settling another holder's join: its claim's plan
            before = dict(trigger.planned_on)
        with self._writing.hold(key):
            obj, _ = self._known(key)
            for _ in range(CONFLICT_ATTEMPTS):
                now = consumed_runs(obj, trigger)
                if all(now.get(str(u)) == r for u, r in trigger.inputs):
                    return  # recorded already (a retry whose first answer was lost)
                if before is not None and now != before:
                    log.warning(
                        "a newer join was recorded meanwhile: this one's runs are not recorded over it",
                        extra={"trigger": trigger.display_name, "recorded": now, "claimedOn": before},
                    )
                    return
                guarded = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, **patch}
                if self._patch_status_guarded(key, guarded):
                    return
                obj = self._require(key)
        raise ClaimConflict(f"recording {trigger.display_name!r}: the object kept changing under us")

    def _remember_before(self, trigger: Trigger, holder: str, before: dict[str, str | None]) -> None:
        self._consumed_before.setdefault((trigger.claim_id, holder), before)  # the first claim's view
        while len(self._consumed_before) > self.SEEN_LIMIT:
            self._consumed_before.pop(next(iter(self._consumed_before)))

    def release(self, trigger: Trigger, holder: str) -> None:
        with self._writing.hold(trigger.dependent):
            self._release(trigger, holder)

    def _release(self, trigger: Trigger, holder: str) -> None:
        annotation = CLAIM_PREFIX + trigger.claim_id
        obj, _ = self._known(trigger.dependent)
        for _ in range(CONFLICT_ATTEMPTS):
            current = claim_value(obj, annotation)
            if current is None or current.get("holder") != holder:
                return  # not ours (any more): nothing to release
            if self._patch_annotations(trigger.dependent, obj, {annotation: None}):
                return
            obj = self._require(trigger.dependent)
        raise ClaimConflict(f"releasing {trigger.display_name!r}: the object kept changing under us")

    # -- latest runs -----------------------------------------------------------------
    def record_succeeded(self, key: RcKey, run_id: str, artifacts: tuple[Artifact, ...]) -> None:
        patch = {
            "status": {
                "latestRuns": {
                    "succeeded": {
                        "providerId": run_id,
                        "artifacts": [{"name": a.name, "location": a.location} for a in artifacts],
                    }
                }
            }
        }
        try:
            self._patch_status(key, patch)
        except NotFound:
            log.info("emitter is not a RunConfiguration here: nothing recorded", extra={"emitter": str(key)})

    # -- plumbing --------------------------------------------------------------------
    def _require(self, key: RcKey) -> dict[str, Any]:
        obj = self.source.get_object(key)
        if obj is None:
            raise RejectedByBackend(f"RunConfiguration {key} was deleted while being triggered")
        self._remember(key, obj)
        return obj

    def _known(self, key: RcKey) -> tuple[dict[str, Any], bool]:
        """The last copy this ledger saw of `key` (False: a copy), else a fresh read (True)."""
        with self._seen_lock:
            obj = self._seen.get(key)
        return (obj, False) if obj is not None else (self._require(key), True)

    def _remember(self, key: RcKey, obj: Any) -> None:
        if not isinstance(obj, dict) or not (obj.get("metadata") or {}).get("resourceVersion"):
            return
        with self._seen_lock:
            self._seen.pop(key, None)
            self._seen[key] = obj
            while len(self._seen) > self.SEEN_LIMIT:
                self._seen.pop(next(iter(self._seen)))

    def _forget(self, key: RcKey) -> None:
        with self._seen_lock:
            self._seen.pop(key, None)

    def _patch_annotations(self, key: RcKey, obj: dict[str, Any], changes: dict[str, str | None]) -> bool:
        """Merge-patches annotations guarded by resourceVersion; False when someone wrote first."""
        guard = {"resourceVersion": obj["metadata"]["resourceVersion"], "annotations": changes}
        return self._patch(key, {"metadata": guard}, status=False)

    def _patch_status(self, key: RcKey, patch: dict[str, Any]) -> None:
        """An unguarded status merge patch: it only conflicts transiently, so it is simply repeated."""
        with self._writing.hold(key):  # its answer is the next claim's precondition: keep them in order
            for _ in range(CONFLICT_ATTEMPTS):
                if self._patch(key, patch, status=True):
                    return
        raise ClaimConflict(f"patching {key}/status kept conflicting")

    def _patch_status_guarded(self, key: RcKey, body: dict[str, Any]) -> bool:
        """One status patch carrying a resourceVersion precondition; False when someone wrote first.

        Called with the object's write lock held (it is not re-entrant)."""
        return self._patch(key, body, status=True)

    def _patch(self, key: RcKey, body: dict[str, Any], status: bool) -> bool:
        """One merge patch of the object or its status; False on a 409, the answer kept on success.

        Any failure forgets the copy of `key`: the write may or may not have happened, so the next
        decision on it starts from a fresh read.
        """
        write = (
            self.api.patch_namespaced_custom_object_status
            if status
            else self.api.patch_namespaced_custom_object
        )
        try:
            with kubernetes_errors(f"patch {key}{'/status' if status else ''}"):
                answer = write(
                    self.source.group,
                    self.source.version,
                    key.namespace,
                    PLURAL,
                    key.name,
                    body,
                    _request_timeout=self.source.timeout,
                )
        except Conflict:
            self._forget(key)
            return False
        except KfpChainError:
            self._forget(key)
            raise
        self._remember(key, answer)
        return True


class KeyedLocks:
    """One lock per key, kept only while some thread holds or waits for it (no unbounded growth)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[RcKey, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: RcKey) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
