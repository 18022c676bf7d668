"""A finished run's output artifacts from KFP's native task API (the KFP line after 2.18).

Where it sits: the `ArtifactResolver` the poll uses when `KFP_CHAIN_ARTIFACT_SOURCE=kfp`; the other
is ML Metadata over gRPC (`adapters/mlmd/`), for KFP up to 2.18. `artifact_paths.select` then picks
the declared artifacts out of what this returns.

The call is `GET /apis/v2beta1/runs/{run_id}/tasks` (paged with `page_size`/`page_token`, ordered
with `order_by`: this API has no `sort_by`). kfp-server-api 2.17.3 has no method for it, so it goes
through the client's own `ApiClient.call_api`: the same connection pool, bearer token and timeouts as
every other call of `kfp_client`, and its errors go through `kfp_errors` like theirs.

What a task list becomes (KFP PR #13986's run.proto and artifact.proto):
- tasks of type RUNTIME and IMPORTER, by creation time and loop iteration, each once; ROOT and
  DAG tasks only hold copies of their children's outputs (same `artifact_id`), so leaving them out
  drops the copies. An artifact under two producing tasks (a cache hit inside one run) is an
  output of each; within one task and output an `artifact_id` counts once;
- their `outputs.artifacts[]` groups of type OUTPUT or ITERATOR_OUTPUT: `artifact_key` is the output
  name; the groups' `artifacts[]` are flattened in that order, which is what `:index` counts;
- skipped: the `executor-logs` output, and the `Metric` artifacts (one per metric, a number and no
  URI) that a `system.Metrics` output becomes;
- `metadata` is already plain JSON (a bool stays a bool, unlike ML Metadata's int 1/0).

A 404 from the task route is told apart by asking for the run: KFP knows the run, so the route is
missing (KFP <= 2.18: a deployment fault, fixed by KFP_CHAIN_ARTIFACT_SOURCE=mlmd), or KFP does
not know the run (yet), which is temporary. An empty list is the same question: single-user KFP
lists nothing, rather than 404, for a run it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...errors import BackendUnavailable, DeploymentFault, UnknownPipeline
from ..ports import OutputArtifact
from .errors import kfp_errors
from .launcher import LazyClient

__all__ = ["KfpArtifactResolver"]

TASKS_PATH = "/apis/v2beta1/runs/{run_id}/tasks"
PRODUCING_TASKS = frozenset({"RUNTIME", "IMPORTER"})
OUTPUT_GROUPS = frozenset({"OUTPUT", "ITERATOR_OUTPUT"})
LOGS_OUTPUT = "executor-logs"


class KfpArtifactResolver:
    def __init__(self, client_factory: Callable[[], Any], page_size: int = 100) -> None:
        self._client = LazyClient(client_factory)
        self.page_size = page_size

    @property
    def client(self) -> Any:
        return self._client()

    def outputs(self, run_id: str) -> tuple[OutputArtifact, ...]:
        tasks = self._tasks(run_id)
        if not tasks:
            self._known(run_id, "lists no tasks for")
        return _artifacts(tasks)

    def _tasks(self, run_id: str) -> list[dict[str, Any]]:
        """Every task of the run, every page; a repeated page token is KFP's fault, not a loop of ours."""
        api_client = self.client._run_api.api_client  # the one ApiClient every API of kfp.Client shares
        tasks: list[dict[str, Any]] = []
        token, seen = "", set()
        while True:
            query: list[tuple[str, Any]] = [("page_size", self.page_size), ("order_by", "create_time")]
            if token:
                query.append(("page_token", token))
            try:
                with kfp_errors(f"list the tasks of run {run_id!r}"):
                    body = api_client.call_api(
                        TASKS_PATH,
                        "GET",
                        path_params={"run_id": run_id},
                        query_params=query,
                        header_params={"Accept": "application/json"},
                        response_type="object",
                        auth_settings=["Bearer"],
                        _return_http_data_only=True,
                    )
            except UnknownPipeline as exc:  # kfp_errors' name for any 404
                self._known(run_id, "answers 404 to the task API of")
                raise DeploymentFault(
                    f"KFP answers 404 to the task API of run {run_id!r}, a run it knows: this KFP has no "
                    "native artifact API (KFP <= 2.18); set KFP_CHAIN_ARTIFACT_SOURCE=mlmd",
                    "kfp",
                    404,
                ) from exc
            if not isinstance(body, dict):
                raise BackendUnavailable(f"KFP: the tasks of run {run_id!r} are not a JSON object")
            tasks.extend(t for t in body.get("tasks") or [] if isinstance(t, dict))
            token = str(body.get("next_page_token") or "")
            if not token:
                return tasks
            if token in seen:
                raise BackendUnavailable(
                    f"KFP: listing the tasks of run {run_id!r} repeats page token {token!r}"
                )
            seen.add(token)

    def _known(self, run_id: str, what: str) -> None:
        """Returns when KFP knows the run; BackendUnavailable (temporary) when it does not (yet)."""
        try:
            with kfp_errors(f"get run {run_id!r}"):
                self.client.get_run(run_id)
        except UnknownPipeline as exc:
            raise BackendUnavailable(
                f"KFP {what} run {run_id!r} and does not know the run (yet): its artifacts cannot be read"
            ) from exc


def _artifacts(tasks: list[dict[str, Any]]) -> tuple[OutputArtifact, ...]:
    found: list[OutputArtifact] = []
    seen: set[tuple[str, str, str]] = set()  # (task, output, artifact)
    for task in sorted(tasks, key=_creation):
        task_id = str(task.get("task_id") or id(task))
        if task.get("type") not in PRODUCING_TASKS or (task_id, "", "") in seen:
            continue
        seen.add((task_id, "", ""))
        name = str(task.get("name") or "")
        display_name = str(task.get("display_name") or name)
        for group in (task.get("outputs") or {}).get("artifacts") or []:
            key = str(group.get("artifact_key") or "")
            if group.get("type") not in OUTPUT_GROUPS or key == LOGS_OUTPUT:
                continue
            for artifact in group.get("artifacts") or []:
                uri = artifact.get("uri") or None
                if artifact.get("type") == "Metric" and uri is None:
                    continue
                ident = (task_id, key, str(artifact.get("artifact_id") or id(artifact)))
                if ident in seen:
                    continue
                seen.add(ident)
                metadata = artifact.get("metadata")
                found.append(
                    OutputArtifact(
                        task_name=name,
                        display_name=display_name,
                        output=key,
                        uri=uri,
                        metadata=dict(metadata) if isinstance(metadata, dict) else {},
                        order=len(found),
                    )
                )
    return tuple(found)


def _creation(task: dict[str, Any]) -> tuple[datetime, int]:
    """Creation time (whole seconds: ties are common), then the loop iteration as a tie-break."""
    try:
        created = datetime.fromisoformat(str(task.get("create_time")).replace("Z", "+00:00"))
    except ValueError:
        created = datetime.min
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    attributes = task.get("type_attributes") or {}
    try:
        iteration = int(attributes.get("iteration_index", -1))
    except (TypeError, ValueError):
        iteration = -1
    return created, iteration
