"""KFP's recurring runs through kfp_server_api's RecurringRunServiceApi: the `ScheduleStore` port.

Where it sits: the schedules pass of reconcile (`service/schedules.py`) lists, creates, enables,
disables and deletes recurring runs here; pipeline, version and experiment ids come from the
launcher's lookups (and its `IdCache`), on the same `kfp.Client` (token, namespace, timeouts).
Every call runs inside `kfp_errors`, so KFP's answers become kfp-chain's errors in one place.

The list asks KFP for recurring runs whose description holds the marker (`IS_SUBSTRING`, a filter
KFP's job store takes on `description`), every page; the caller re-reads the marker line itself,
so the filter is only a way to send less. A recurring run created without `mode` is disabled in
KFP (`toModelJobEnabled`), so `mode` is always sent.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from ...errors import BackendUnavailable, UnknownPipeline
from ...ownership import MARKER_KEY
from ...runconfiguration import RcKey
from ..ports import PipelineRef, RecurringRun, RecurringRunSpec
from .errors import kfp_errors
from .launcher import KfpLauncher

__all__ = ["KfpScheduleStore"]

log = logging.getLogger("kfp_chain.kfp")
PAGE_SIZE = 200  # KFP's largest page
MAX_PAGES = 1000  # a server that keeps answering a next page token is a bug, not a reason to spin


class KfpScheduleStore:
    def __init__(self, launcher: KfpLauncher) -> None:
        self.launcher = launcher

    @property
    def _api(self) -> Any:
        return self.launcher.client._recurring_run_api

    def pipeline(self, pipeline: str, owner: RcKey) -> PipelineRef:
        return self.launcher.pipeline_ref(pipeline, owner)

    def experiment(self, name: str) -> str:
        return self.launcher.experiment_id(name)

    def marked(self) -> list[RecurringRun]:
        predicate = {"key": "description", "operation": "IS_SUBSTRING", "string_value": f"{MARKER_KEY}: "}
        query = {"filter": json.dumps({"predicates": [predicate]}), "page_size": PAGE_SIZE}
        if self.launcher.namespace:
            query["namespace"] = self.launcher.namespace
        found: list[RecurringRun] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            with kfp_errors("list recurring runs"):
                page = self._api.recurring_run_service_list_recurring_runs(
                    **query, **({"page_token": token} if token else {})
                )
            found.extend(_recurring_run(r) for r in page.recurring_runs or [] if r.recurring_run_id)
            token = page.next_page_token or None
            if token is None:
                return found
        raise BackendUnavailable("KFP kept answering another page of recurring runs")

    def create(self, spec: RecurringRunSpec, start_time: datetime | None, enabled: bool) -> str:
        from kfp_server_api import (
            V2beta1CronSchedule,
            V2beta1PipelineVersionReference,
            V2beta1RecurringRun,
            V2beta1RuntimeConfig,
            V2beta1Trigger,
        )

        reference = V2beta1PipelineVersionReference(pipeline_id=spec.pipeline_id)
        if spec.pipeline_version_id:  # none: KFP's controller runs the latest version at each firing
            reference.pipeline_version_id = spec.pipeline_version_id
        body = V2beta1RecurringRun(
            display_name=spec.display_name,
            description=spec.description,
            pipeline_version_reference=reference,
            runtime_config=V2beta1RuntimeConfig(parameters=dict(spec.parameters)),
            max_concurrency=str(spec.max_concurrency),
            no_catchup=spec.no_catchup,
            mode="ENABLE" if enabled else "DISABLE",
            experiment_id=spec.experiment_id,
            namespace=self.launcher.namespace,
            trigger=V2beta1Trigger(
                cron_schedule=V2beta1CronSchedule(
                    cron=spec.cron, start_time=start_time, end_time=spec.end_time
                )
            ),
        )
        with kfp_errors(f"create recurring run {spec.display_name!r}", carries_spec=True):
            created = self._api.recurring_run_service_create_recurring_run(recurring_run=body)
        return str(created.recurring_run_id)

    def enable(self, recurring_run_id: str) -> None:
        self._gone_is_fine("enable", self._api.recurring_run_service_enable_recurring_run, recurring_run_id)

    def disable(self, recurring_run_id: str) -> None:
        self._gone_is_fine("disable", self._api.recurring_run_service_disable_recurring_run, recurring_run_id)

    def delete(self, recurring_run_id: str) -> None:
        self._gone_is_fine("delete", self._api.recurring_run_service_delete_recurring_run, recurring_run_id)

    def _gone_is_fine(self, verb: str, call: Any, recurring_run_id: str) -> None:
        """One call on one recurring run; a 404 means another pass removed it, which is no error."""
        try:
            with kfp_errors(f"{verb} recurring run {recurring_run_id}"):
                call(recurring_run_id)
        except UnknownPipeline:  # kfp_errors' name for any 404
            log.info("recurring run already gone", extra={"recurringRunId": recurring_run_id, "verb": verb})


def _recurring_run(raw: Any) -> RecurringRun:
    cron = getattr(getattr(raw, "trigger", None), "cron_schedule", None)
    status = str(getattr(raw, "status", "") or "")
    mode = str(getattr(raw, "mode", "") or "")
    return RecurringRun(
        recurring_run_id=str(raw.recurring_run_id),
        display_name=str(raw.display_name or ""),
        description=str(raw.description or ""),
        enabled=status == "ENABLED" or (not status and mode == "ENABLE"),
        created_at=_aware(getattr(raw, "created_at", None)),
        cron=getattr(cron, "cron", None),
        start_time=_aware(getattr(cron, "start_time", None)),
        end_time=_aware(getattr(cron, "end_time", None)),
    )


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
