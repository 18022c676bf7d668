"""RunConfigurations and the exactly-once ledger in the cluster, through the `kubernetes` client.

The one place that calls the Kubernetes API for RunConfigurations, and so the one place its
exceptions are translated: 5xx, 429, timeouts and dropped connections become
`BackendUnavailable` (retry), a 409 that does not settle becomes `ClaimConflict` (retry).

Where the bookkeeping lives, and why there: a real API server prunes every field the CRD schema
does not declare, so kfp-chain writes only
- `status.triggers.runConfigurations["ns/upstream"].providerId = <upstream runId>`: the field
  kfp-operator itself uses to say which upstream run a dependent has consumed;
- `status.latestRuns.succeeded {providerId, artifacts}` of the emitter (unless RECORD_LATEST_RUNS
  is off because kfp-operator's controllers write it);
- claims as annotations `kfp-chain.io/claim.<digest of upstream and runId>` holding
  `{upstream, runId, holder, expiresAt}`. Annotations are metadata, written with the object's
  resourceVersion as a precondition (a merge patch that carries it is refused with 409 when stale),
  which is what makes a claim exclusive across replicas.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import orjson
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from .errors import (
    BackendUnavailable,
    ClaimConflict,
    ConfigurationError,
    DeploymentFault,
    KfpChainError,
    RejectedByBackend,
)
from .invalid import CheckedObjects, InvalidObjects, check_object
from .ports import ClaimInfo, ClaimState, Clock, SystemClock, Trigger
from .runconfiguration import PLURAL, Artifact, RcKey, RunConfiguration

__all__ = ["CLAIM_PREFIX", "KubernetesLedger", "KubernetesSource", "claims_in", "kubernetes_api_client"]

log = logging.getLogger("kfp_chain.kubernetes")
T = TypeVar("T")

Objects = list[dict[str, Any]]  # `list` is a method name below

CLAIM_PREFIX = "kfp-chain.io/claim."
CONFLICT_ATTEMPTS = 5
PAGE_SIZE = 500


def kubernetes_api_client() -> k8s.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config.

    KUBECONFIG is read here rather than by the client, which reads it once at import time.
    """
    from kubernetes import config

    configuration = k8s.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        try:
            config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
            )
        except (config.ConfigException, OSError) as exc:
            raise ConfigurationError(
                f"RUNCONFIGURATIONS=kubernetes but there is no in-cluster config and no usable KUBECONFIG: {exc}"
            ) from exc
    return k8s.ApiClient(configuration)


# 401: our token is not accepted; 403: RBAC lacks a verb; 422: the API server refuses what we wrote
# (a CRD version or schema we do not match). None is the event's fault, so none may become a skip.
DEPLOYMENT_STATUSES = (401, 403, 422)


def call(what: str, work: Callable[[], T]) -> T:
    """Runs one API call, translating transport faults and 5xx into `BackendUnavailable`, and
    answers that mean the deployment is wrong into `DeploymentFault`; other 4xx stay ApiException."""
    try:
        return work()
    except ApiException as exc:
        if exc.status in (0, 429) or exc.status >= 500:
            raise BackendUnavailable(f"Kubernetes API {what}: HTTP {exc.status} {exc.reason}") from exc
        if exc.status in DEPLOYMENT_STATUSES:
            raise DeploymentFault(
                f"Kubernetes API {what}: HTTP {exc.status} {exc.reason}: kfp-chain's service account or "
                "the CRD it writes needs fixing",
                "kubernetes",
                exc.status,
            ) from exc
        raise
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise BackendUnavailable(f"Kubernetes API {what}: {type(exc).__name__}: {exc}") from exc


class KubernetesSource:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        group: str,
        version: str,
        namespaces: tuple[str, ...] = (),
        timeout: tuple[float, float] = (5.0, 15.0),
    ) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.group, self.version, self.namespaces = group, version, namespaces
        self.timeout = timeout  # connect, read: a hung API server must not hold an event for ever
        self.invalid = InvalidObjects()  # skipped by list(), reported once each
        self._checked = CheckedObjects(group)  # each object checked once per resourceVersion

    def list(self) -> Iterator[RunConfiguration]:
        valid, invalid = self._checked.sort(self.list_objects()[0])
        self.invalid.replace_all(invalid)
        yield from valid

    def list_objects(self) -> tuple[Objects, str]:
        """Every RunConfiguration, paginated, and the list's resourceVersion (where a watch resumes)."""
        listing = self.listing()
        items = list(listing)
        return items, listing.resource_version

    def listing(self) -> Listing:
        """Every RunConfiguration, paginated, object by object as the pages arrive (see `Listing`)."""
        return Listing(self)

    def _fetch_page(self, token: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": self.timeout}
        if token:
            kwargs["_continue"] = token
        page: dict[str, Any] = call("list runconfigurations", partial(self._list_page, kwargs))
        return page

    def _list_page(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One page, decoded straight from the wire with orjson.

        A cold start lists every RunConfiguration (200 pages at 100k); the client's own path decodes
        each body to text and then with the json module, about three times the work. Errors still
        come as ApiException: the client raises on a non-2xx answer before anything is read here.
        """
        response = self.api.list_cluster_custom_object(
            self.group, self.version, PLURAL, _preload_content=False, **kwargs
        )
        try:
            page = orjson.loads(response.data)
        except orjson.JSONDecodeError as exc:
            raise BackendUnavailable(
                f"Kubernetes API list runconfigurations: unreadable page: {exc}"
            ) from exc
        finally:
            response.release_conn()
        if not isinstance(page, dict):
            raise BackendUnavailable("Kubernetes API list runconfigurations: the page is not a JSON object")
        return page

    def get(self, key: RcKey) -> RunConfiguration | None:
        obj = self.get_object(key)
        checked = None if obj is None else check_object(obj, self.group)
        return checked if isinstance(checked, RunConfiguration) else None

    def get_object(self, key: RcKey) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = call(
                f"get {key}",
                lambda: self.api.get_namespaced_custom_object(
                    self.group,
                    self.version,
                    key.namespace,
                    PLURAL,
                    key.name,
                    _request_timeout=self.timeout,
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RejectedByBackend(f"get {key}: HTTP {exc.status} {exc.reason}", exc.status) from exc
        return obj

    def _allowed(self, obj: dict[str, Any]) -> bool:
        return not self.namespaces or (obj.get("metadata") or {}).get("namespace") in self.namespaces


class Listing:
    """One paginated list, iterated object by object; `resource_version` is set once it is exhausted.

    A helper thread requests the pages one after the other, each as soon as the previous one is
    decoded, and keeps up to `AHEAD` of them ready: the API server's time to serve them overlaps the
    caller's time to read them (check and parse the objects, fill an index). At cold start with
    100k RunConfigurations that takes 200 round trips out of series with the parsing, and a few
    pages in hand absorb a server that is slow now and then. An error in any page is raised from
    the iteration; a caller that stops early stops the helper (the request in flight is finished,
    bounded by the request timeout).
    """

    AHEAD = 4

    def __init__(self, source: KubernetesSource) -> None:
        self.source = source
        self.resource_version = ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        pages: queue.Queue[dict[str, Any] | BaseException] = queue.Queue(self.AHEAD)
        stop = threading.Event()
        fetcher = threading.Thread(
            target=self._fetch_all, args=(pages, stop), name="kfp-chain-list", daemon=True
        )
        fetcher.start()
        try:
            resource_version = ""
            while True:
                page = pages.get()
                if isinstance(page, BaseException):
                    raise page
                metadata = page.get("metadata") or {}
                resource_version = str(metadata.get("resourceVersion") or resource_version)
                for obj in page.get("items") or ():
                    if self.source._allowed(obj):
                        yield obj
                if not metadata.get("continue"):
                    self.resource_version = resource_version
                    return
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):  # unblock a helper waiting to hand over a page
                while True:
                    pages.get_nowait()
            fetcher.join()

    def _fetch_all(self, pages: queue.Queue[dict[str, Any] | BaseException], stop: threading.Event) -> None:
        token: str | None = None
        while not stop.is_set():
            try:
                page = self.source._fetch_page(token)
            except BaseException as exc:  # handed to the caller, which raises it
                pages.put(exc)
                return
            while not stop.is_set():
                try:
                    pages.put(page, timeout=0.1)
                    break
                except queue.Full:
                    continue
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return


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
            if _consumed(obj, trigger) or _moved_since_planned(obj, trigger):
                return ClaimState.DONE  # done, or superseded: a newer join was recorded since this one's plan
            current = _claim_value(obj, annotation)
            now = self.clock.now()
            rival = trigger.joined and _overlapping_claim(obj, trigger, annotation, holder, now)
            if rival or (
                current is not None and current.get("holder") != holder and not _expired(current, now)
            ):
                if fresh:
                    return ClaimState.HELD
                obj, fresh = self._require(trigger.dependent), True  # a copy may show a claim since released
                continue
            value = {
                "upstream": trigger.ledger_key[1],
                "runId": trigger.ledger_key[2],
                "holder": holder,
                "expiresAt": (now + lease).isoformat(),
            }
            changes: dict[str, str | None] = {a: None for a in _done_claims(obj) if a != annotation}
            changes[annotation] = json.dumps(value, sort_keys=True)
            before = dict(trigger.planned_on) if trigger.planned_on else _consumed_runs(obj, trigger)
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

    def complete(self, trigger: Trigger, holder: str, run_id: str | None) -> None:
        """Records the trigger as consumed; the claim goes with the next claim's write (see above)."""
        consumed = {str(upstream): {"providerId": run} for upstream, run in trigger.inputs}
        patch = {"status": {"triggers": {"runConfigurations": consumed}}}
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
        with self._writing.hold(key):
            obj, _ = self._known(key)
            for _ in range(CONFLICT_ATTEMPTS):
                now = _consumed_runs(obj, trigger)
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
            current = _claim_value(obj, annotation)
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
        except RejectedByBackend as exc:
            if exc.status != 404:
                raise
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
        body = {
            "metadata": {
                "resourceVersion": obj["metadata"]["resourceVersion"],
                "annotations": changes,
            }
        }
        try:
            answer = call(
                f"patch {key}",
                lambda: self.api.patch_namespaced_custom_object(
                    self.source.group,
                    self.source.version,
                    key.namespace,
                    PLURAL,
                    key.name,
                    body,
                    _request_timeout=self.source.timeout,
                ),
            )
        except ApiException as exc:
            if exc.status == 409:
                self._forget(key)
                return False
            self._forget(key)
            raise RejectedByBackend(f"patch {key}: HTTP {exc.status} {exc.reason}", exc.status) from exc
        except KfpChainError:
            self._forget(key)  # the write may or may not have happened: re-read next time
            raise
        self._remember(key, answer)
        return True

    def _patch_status(self, key: RcKey, patch: dict[str, Any]) -> None:
        with self._writing.hold(key):  # its answer is the next claim's precondition: keep them in order
            self._patch_status_once(key, patch)

    def _patch_status_once(self, key: RcKey, patch: dict[str, Any]) -> None:
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                answer = call(
                    f"patch {key}/status",
                    lambda: self.api.patch_namespaced_custom_object_status(
                        self.source.group,
                        self.source.version,
                        key.namespace,
                        PLURAL,
                        key.name,
                        patch,
                        _request_timeout=self.source.timeout,
                    ),
                )
                self._remember(key, answer)
                return
            except KfpChainError:
                self._forget(key)
                raise
            except ApiException as exc:
                if exc.status == 409:  # an unconditional merge patch only conflicts transiently
                    continue
                raise RejectedByBackend(
                    f"patch {key}/status: HTTP {exc.status} {exc.reason}", exc.status
                ) from exc
        raise ClaimConflict(f"patching {key}/status kept conflicting")

    def _patch_status_guarded(self, key: RcKey, body: dict[str, Any]) -> bool:
        """One status patch carrying a resourceVersion precondition; False when someone wrote first.

        Called with the object's write lock held (it is not re-entrant)."""
        try:
            answer = call(
                f"patch {key}/status",
                lambda: self.api.patch_namespaced_custom_object_status(
                    self.source.group,
                    self.source.version,
                    key.namespace,
                    PLURAL,
                    key.name,
                    body,
                    _request_timeout=self.source.timeout,
                ),
            )
        except KfpChainError:
            self._forget(key)
            raise
        except ApiException as exc:
            self._forget(key)
            if exc.status == 409:
                return False
            raise RejectedByBackend(
                f"patch {key}/status: HTTP {exc.status} {exc.reason}", exc.status
            ) from exc
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


def _moved_since_planned(obj: dict[str, Any], trigger: Trigger) -> bool:
    """A join whose upstreams' consumed runs are no longer what its plan saw has been superseded."""
    return bool(trigger.planned_on) and _consumed_runs(obj, trigger) != dict(trigger.planned_on)


def _consumed_runs(obj: dict[str, Any], trigger: Trigger) -> dict[str, str | None]:
    """The run `status.triggers` records as consumed for each of the trigger's upstreams (None: none)."""
    entries = ((obj.get("status") or {}).get("triggers") or {}).get("runConfigurations") or {}
    found: dict[str, str | None] = {}
    for upstream, _ in trigger.inputs:
        names = [str(upstream)] + (
            [upstream.name] if upstream.namespace == trigger.dependent.namespace else []
        )
        found[str(upstream)] = next(
            (str(e["providerId"]) for n in names if (e := entries.get(n) or {}).get("providerId")), None
        )
    return found


def _done_claims(obj: dict[str, Any]) -> list[str]:
    """Claim annotations whose trigger `status.triggers` already records as consumed (leftovers)."""
    key = RcKey(
        str((obj.get("metadata") or {}).get("namespace")), str((obj.get("metadata") or {}).get("name"))
    )
    done = []
    for annotation in (obj.get("metadata") or {}).get("annotations") or {}:
        if annotation.startswith(CLAIM_PREFIX):
            trigger = _claimed_trigger(key, _claim_value(obj, annotation) or {})
            if trigger is not None and _consumed(obj, trigger):
                done.append(annotation)
    return done


def _claimed_trigger(dependent: RcKey, claim: dict[str, Any]) -> Trigger | None:
    """The trigger a claim's value names (`upstream` and `runId`, joined by `+` for a fan-in)."""
    upstreams, runs = str(claim.get("upstream", "")).split("+"), str(claim.get("runId", "")).split("+")
    if len(upstreams) != len(runs):
        return None
    try:
        pairs = [(RcKey.parse(u), r) for u, r in zip(upstreams, runs, strict=True)]
    except ValueError:
        return None
    return Trigger.fan_in(dependent, pairs) if len(pairs) > 1 else Trigger(dependent, *pairs[0])


def _overlapping_claim(obj: dict[str, Any], trigger: Trigger, mine: str, holder: str, now: datetime) -> bool:
    """Another holder's live claim on a fan-in set sharing a run with `trigger`'s.

    Two sets that share a run (the event's run joined with two successive successes of another
    upstream, planned a moment apart) have two claim annotations, so each claim alone lets both
    through and that run is consumed twice (the fault-injection suite found this). Our claim is
    written guarded by the resourceVersion we checked, so of two such claimants one sees the other.
    """
    key = RcKey(str(obj["metadata"].get("namespace")), str(obj["metadata"].get("name")))
    ours = set(trigger.inputs)
    for annotation in (obj.get("metadata") or {}).get("annotations") or {}:
        if not annotation.startswith(CLAIM_PREFIX) or annotation == mine:
            continue
        claim = _claim_value(obj, annotation) or {}
        other = _claimed_trigger(key, claim)
        if other is None or claim.get("holder") == holder or _expired(claim, now):
            continue
        if ours & set(other.inputs):
            return True
    return False


def _consumed(obj: dict[str, Any], trigger: Trigger) -> bool:
    """The trigger's run is recorded as consumed; for a fan-in, any of its runs is.

    A fan-in set one of whose runs another join has consumed can never start: the dependent waits
    for a new success of that upstream (and a fully consumed set is a plain duplicate).
    """
    entries = ((obj.get("status") or {}).get("triggers") or {}).get("runConfigurations") or {}
    return any(_consumed_one(entries, trigger.dependent, u, r) for u, r in trigger.inputs)


def _consumed_one(entries: dict[str, Any], dependent: RcKey, upstream: RcKey, run_id: str) -> bool:
    for name in (str(upstream), upstream.name):
        if (entries.get(name) or {}).get("providerId") == run_id:
            if name == upstream.name and upstream.namespace != dependent.namespace:
                continue
            return True
    return False


def claims_in(obj: dict[str, Any]) -> list[ClaimInfo]:
    """The claims an object carries on triggers not done yet, live or expired, read without the API."""
    metadata = obj.get("metadata") or {}
    key = RcKey(str(metadata.get("namespace") or "default"), str(metadata.get("name") or ""))
    found = []
    done = set(_done_claims(obj))
    for annotation in sorted(metadata.get("annotations") or {}):
        if not annotation.startswith(CLAIM_PREFIX) or annotation in done:
            continue
        value = _claim_value(obj, annotation) or {}
        try:
            expires: datetime | None = datetime.fromisoformat(str(value.get("expiresAt")))
        except ValueError:
            expires = None
        found.append(
            ClaimInfo(
                key,
                str(value.get("upstream", "?")),
                str(value.get("runId", "?")),
                str(value.get("holder", "?")),
                expires,
            )
        )
    return found


def _claim_value(obj: dict[str, Any], annotation: str) -> dict[str, Any] | None:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(annotation)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"holder": "?", "expiresAt": "1970-01-01T00:00:00+00:00"}  # unreadable: treat as expired
    return value if isinstance(value, dict) else None


def _expired(claim: dict[str, Any], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(claim.get("expiresAt"))) <= now
    except ValueError:
        return True
