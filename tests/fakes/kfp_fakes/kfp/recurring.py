"""The KFP fake's recurring runs: `/apis/v2beta1/recurringruns` and `fire`, the ScheduledWorkflow's tick.

Where it sits: a mixin of `FakeKfp` (server.py registers `recurring_routes()`). What it does as KFP
2.17 does (`backend/api/v2beta1/recurring_run.proto`; `server/api_converter.go`, `toApiRecurringRun`;
`resource/resource_manager.go`, `CreateJob`; the ScheduledWorkflow controller):

- create: `display_name` required; `max_concurrency` 1-10; the cron must parse as robfig/cron v1.2.0's
  `cron.Parse` does (five or six fields, seconds first: five fields are accepted and read as seconds
  to month, which is how a kfp-operator cron sent unconverted would fire every minute), else 400
  "Schedule cron is not a supported format"; `pipeline_version_reference.pipeline_id` required and
  known, the version optional (none: each firing runs the latest version); `mode` other than ENABLE
  stores it disabled.
- JSON as the server writes it: proto names, enums by name, int64 as strings, timestamps in whole
  seconds; `status` ENABLED/DISABLED and `mode` ENABLE/DISABLE; lists under `recurringRuns` (the
  proto's own field name); list filters on recurring_run_id, display_name, created_at, updated_at,
  description (EQUALS, IS_SUBSTRING).
- `:enable` / `:disable` / DELETE; 404 for an id it does not know.
- `fire(recurring_run_id)`: what the controller does at a tick: a run whose display name is
  `<ScheduledWorkflow name>-<index>-<fnv32a of "<name>-<index>">`, with `recurring_run_id` set, the
  recurring run's experiment, parameters and pipeline version (the latest when none is pinned), and
  no description (KFP's CreateRun from the controller sets none).
"""

from __future__ import annotations

import copy
import json
import random
import re
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kfp_fakes.http import Request, Response
from kfp_fakes.kfp.query import invalid, not_found, page

__all__ = ["RECURRING_RUN_KEYS", "RecurringRuns"]

RECURRING_RUN_KEYS = {
    "recurring_run_id": "recurring_run_id",
    "id": "recurring_run_id",
    "display_name": "display_name",
    "name": "display_name",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "description": "description",
}
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = {
    **{
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    **{d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}


class RecurringRuns:
    """Recurring runs in memory; every access holds the server's `_lock`."""

    _lock: Any
    _runs: dict[str, dict[str, Any]]
    _versions: dict[str, dict[str, dict[str, Any]]]
    multi_user: bool
    _now: Callable[[], str]
    _remember: Callable[[str], None]
    _order: Callable[[dict[str, Any]], int]
    _create_run: Callable[[Request], Response]
    _pipeline: Callable[[str], dict[str, Any]]
    _version: Callable[[str, str], dict[str, Any]]
    _default_experiment: Callable[[], str]
    _experiment: Callable[[str], dict[str, Any]]

    def _reset_recurring(self) -> None:
        self._recurring: dict[str, dict[str, Any]] = {}
        self._swf: dict[str, list[Any]] = {}  # recurring run id -> [ScheduledWorkflow name, last index]
        self._enabled_peak: dict[str, int] = {}  # first description line -> most enabled at one moment

    def recurring_routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        one = r"/recurringruns/(?P<rrid>[^/:]+)"
        return [
            ("GET", "/recurringruns", self._list_recurring),
            ("POST", "/recurringruns", self._create_recurring),
            ("GET", one, self._get_recurring),
            ("DELETE", one, self._delete_recurring),
            ("POST", one + ":enable", lambda r: self._set_mode(r, True)),
            ("POST", one + ":disable", lambda r: self._set_mode(r, False)),
        ]

    # -- test side -------------------------------------------------------------------
    def recurring_runs(self) -> list[dict[str, Any]]:
        """Every recurring run as GET would return it, in creation order."""
        with self._lock:
            return [copy.deepcopy(r) for r in sorted(self._recurring.values(), key=self._order)]

    def most_enabled_at_once(self, first_line: str) -> int:
        """The most recurring runs whose description starts with `first_line` ever enabled at one moment."""
        with self._lock:
            return self._enabled_peak.get(first_line, 0)

    def _count_enabled(self, description: str) -> None:
        first = description.split("\n", 1)[0]
        now = sum(
            1
            for r in self._recurring.values()
            if r["status"] == "ENABLED" and r["description"].split("\n", 1)[0] == first
        )
        self._enabled_peak[first] = max(self._enabled_peak.get(first, 0), now)

    def add_recurring_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store a recurring run as if someone else (a person, kfp-operator) created it."""
        return self._store_recurring(body)

    def fire(self, recurring_run_id: str) -> dict[str, Any]:
        """One tick of the recurring run's ScheduledWorkflow: the run it starts, as GET /runs/{id} has it."""
        with self._lock:
            recurring = self._recurring[recurring_run_id]
            if recurring["status"] != "ENABLED":
                raise ValueError(
                    f"recurring run {recurring_run_id} is disabled: its controller starts nothing"
                )
            swf = self._swf[recurring_run_id]
            swf[1] += 1
            resource = f"{swf[0]}-{swf[1]}"
            reference = dict(recurring["pipeline_version_reference"])
            if not reference.get("pipeline_version_id"):
                versions = self._versions[reference["pipeline_id"]].values()
                reference["pipeline_version_id"] = max(versions, key=self._order)["pipeline_version_id"]
            body = {
                "display_name": f"{resource}-{_fnv32a(resource)}",
                "experiment_id": recurring["experiment_id"],
                "pipeline_version_reference": reference,
                "runtime_config": recurring.get("runtime_config") or {},
            }
            answer = self._create_run(Request("POST", "/runs", {}, {}, json.dumps(body).encode()))
            if answer.status != 200:
                raise RuntimeError(f"the fake could not start the run: {answer.body}")
            run = self._runs[answer.body["run_id"]]
            run["recurring_run_id"] = recurring_run_id
            return copy.deepcopy(run)

    # -- handlers --------------------------------------------------------------------
    def _list_recurring(self, request: Request) -> Response:
        if self.multi_user and not request.arg("namespace"):
            raise invalid(
                "Invalid input error: ListRecurringRuns must filter by namespace in multi-user mode"
            )
        with self._lock:
            items = list(self._recurring.values())
            if request.arg("namespace"):
                items = [r for r in items if r.get("namespace") == request.arg("namespace")]
            if request.arg("experiment_id"):
                items = [r for r in items if r["experiment_id"] == request.arg("experiment_id")]
            answer = page(request, items, RECURRING_RUN_KEYS, "recurringRuns", self._order)
        return answer

    def _create_recurring(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError as exc:
            raise invalid(f"invalid JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise invalid("request body must be a JSON object")
        return Response(200, self._store_recurring(body))

    def _get_recurring(self, request: Request) -> Response:
        with self._lock:
            return Response(200, copy.deepcopy(self._known(request.params["rrid"])))

    def _delete_recurring(self, request: Request) -> Response:
        with self._lock:
            self._known(request.params["rrid"])
            del self._recurring[request.params["rrid"]]
        return Response(200, {})

    def _set_mode(self, request: Request, enabled: bool) -> Response:
        with self._lock:
            recurring = self._known(request.params["rrid"])
            if recurring["status"] != ("ENABLED" if enabled else "DISABLED"):
                recurring["updated_at"] = self._now()
            recurring["status"] = "ENABLED" if enabled else "DISABLED"
            recurring["mode"] = "ENABLE" if enabled else "DISABLE"
            self._count_enabled(recurring["description"])
        return Response(200, {})

    def _known(self, recurring_run_id: str) -> dict[str, Any]:
        if recurring_run_id not in self._recurring:
            raise not_found(f"Recurring run {recurring_run_id} not found")
        return self._recurring[recurring_run_id]

    def _store_recurring(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("display_name") or ""
        if not name:
            raise invalid("Recurring run's name cannot be empty")
        try:
            concurrency = int(body.get("max_concurrency") or 0)
        except (TypeError, ValueError) as exc:
            raise invalid(f"max_concurrency {body.get('max_concurrency')!r} is not a number") from exc
        if not 1 <= concurrency <= 10:
            raise invalid(
                f"Max concurrency of a recurring run must be at least 1 and at most 10. Received {concurrency}"
            )
        cron = (body.get("trigger") or {}).get("cron_schedule") or {}
        problem = _robfig_problem(str(cron.get("cron") or ""))
        if problem is not None:
            raise invalid(
                f"Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). Error: {problem}"
            )
        reference = body.get("pipeline_version_reference") or {}
        with self._lock:
            if not reference.get("pipeline_id"):
                raise invalid("Cannot create a job with an empty pipeline ID")
            self._pipeline(reference["pipeline_id"])
            if reference.get("pipeline_version_id"):
                self._version(reference["pipeline_id"], reference["pipeline_version_id"])
            if self.multi_user and not body.get("namespace"):
                raise invalid(
                    "Invalid input error: A recurring run cannot have an empty namespace in multi-user mode"
                )
            experiment_id = body.get("experiment_id") or self._default_experiment()
            self._experiment(experiment_id)
            now = self._now()
            enabled = body.get("mode") == "ENABLE"
            schedule = {"cron": cron["cron"]}
            for key in ("start_time", "end_time"):
                if cron.get(key):
                    schedule[key] = _whole_seconds(cron[key])
            recurring: dict[str, Any] = {
                "recurring_run_id": str(uuid.uuid4()),
                "display_name": name,
                "description": body.get("description") or "",
                "pipeline_version_reference": {
                    k: v for k, v in reference.items() if k in ("pipeline_id", "pipeline_version_id") and v
                },
                "service_account": body.get("service_account") or "pipeline-runner",
                "max_concurrency": str(concurrency),
                "trigger": {"cron_schedule": schedule},
                "mode": "ENABLE" if enabled else "DISABLE",
                "status": "ENABLED" if enabled else "DISABLED",
                "created_at": now,
                "updated_at": now,
                "no_catchup": bool(body.get("no_catchup")),
                "namespace": body.get("namespace") or "kubeflow",
                "experiment_id": experiment_id,
            }
            parameters = (body.get("runtime_config") or {}).get("parameters") or {}
            if parameters:
                recurring["runtime_config"] = {"parameters": dict(parameters)}
            self._remember(recurring["recurring_run_id"])
            self._recurring[recurring["recurring_run_id"]] = recurring
            self._count_enabled(recurring["description"])
            swf = re.sub(r"[^a-z0-9-]+", "", name.lower())[:25] or "job-"
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            self._swf[recurring["recurring_run_id"]] = [swf + suffix, 0]
            return copy.deepcopy(recurring)


def _whole_seconds(text: str) -> str:
    """A timestamp as KFP answers it: stored as unix seconds, written back in UTC with `Z`."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError as exc:
        raise invalid(f"invalid timestamp {text!r}") from exc
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _robfig_problem(cron: str) -> str | None:
    """robfig/cron v1.2.0 `Parse`: five or six fields (seconds first, day of week optional)."""
    fields = cron.split()
    if len(fields) not in (5, 6):
        return f"Expected 5 to 6 fields, found {len(fields)}: {cron}"
    for text, (low, high) in zip(fields, _BOUNDS, strict=False):
        for part in text.split(","):
            span, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"Step of range should be a positive number: {part}"
            if span in ("*", "?"):
                continue
            for value in span.split("-", 1):
                number = _NAMES.get(value.lower()) if not value.isdigit() else int(value)
                if number is None:
                    return f"Failed to parse int from {value}"
                if not low <= number <= high:
                    return f"value ({number}) outside {low}-{high}: {part}"
    return None


def _fnv32a(text: str) -> int:
    """FNV-1a, 32 bits: how the ScheduledWorkflow names the workflow (and run) of each tick."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value
