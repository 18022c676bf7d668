"""The onChange pass: a run for each RunConfiguration whose pipeline got a new version or whose spec changed.

Where it sits: the last part of a reconcile pass with KFP_CHAIN_SCHEDULES=true (onChange, like the
schedules, is kfp-operator's controller's job where it runs). It asks KFP (`ScheduleStore.pipeline`,
cached ids) for the version of each `onChange: [pipeline]` RunConfiguration's pipeline, and hands
what `on_change.due_changes` finds due to `Chain.on_change`: the exactly-once protocol, observers
and all. A pipeline KFP does not know is reported in the answer and the log; the others go on.
"""

from __future__ import annotations

import logging
from typing import Any

from ..adapters.ports import ScheduleStore
from ..chain import Chain
from ..dependents import DependentsIndex
from ..errors import KfpChainError
from ..on_change import Change, due_changes
from ..outcomes import Outcome, OutcomeKind

__all__ = ["on_change_pass"]

log = logging.getLogger("kfp_chain.on_change")


def on_change_pass(chain: Chain, store: ScheduleStore, index: DependentsIndex) -> tuple[dict[str, Any], bool]:
    """One pass over `index`; the `onChange` part of a reconcile answer, and whether KFP refused us."""
    due: list[Change] = []
    unknown: list[dict[str, str]] = []
    for rc in index.all():
        if not rc.on_change or not chain.options.allows(rc.key.namespace):
            continue
        version = None
        if "pipeline" in rc.on_change:
            try:
                version = store.pipeline(rc.pipeline, rc.key).version_id
            except KfpChainError as exc:
                log.warning(
                    "onChange: no pipeline version",
                    extra={"runConfiguration": str(rc.key), "error": str(exc)},
                )
                unknown.append({"runConfiguration": str(rc.key), "reason": exc.reason, "detail": str(exc)})
        due.extend(due_changes(rc, version))
    outcomes = chain.on_change(due, index.get)
    faulted = any(o.outcome == OutcomeKind.RETRY and o.reason == "deployment-fault" for o in outcomes)
    faulted |= any(u["reason"] == "deployment-fault" for u in unknown)
    return {"due": len(due), "started": _count(outcomes, OutcomeKind.STARTED), "unknownPipeline": unknown,
            "triggers": [o.as_json() for o in outcomes]}, faulted  # fmt: skip


def _count(outcomes: tuple[Outcome, ...], kind: OutcomeKind) -> int:
    return sum(1 for o in outcomes if o.outcome == kind)
