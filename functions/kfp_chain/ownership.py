"""Which RunConfiguration a KFP run belongs to, on a KFP install without kfp-operator.

Where it sits: the poll (`service/poll.py`) and the Workflow nudge hear that a run ended; this pure
module says whose run it was, so that its completion can be handed to the chain as that
RunConfiguration's run-completion. The rule is in docs/plain-kfp.md; the display name is never
used, so renaming a run cannot move it to another RunConfiguration.

The rule, first match wins (`owner`):
1. the marker kfp-chain writes into the `description` of every run it creates (KFP's API has no call
   that changes a run's description afterwards);
2. a run of a recurring run whose `description` carries that marker (kfp-chain's schedules);
3. kfp-operator's runtime parameters `runconfiguration-namespace` and `runconfiguration-name`;
4. adopt-runs: the run's pipeline is the pipeline of exactly one RunConfiguration annotated
   `kfp-chain.io/adopt-runs: "true"`, in that RunConfiguration's experiment (and namespace, when KFP
   is multi-user); two such RunConfigurations make the run ambiguous, and it is skipped.
Everything else is skipped with a reason the poll counts. Lookups the rule needs (a recurring run's
description, a pipeline's and an experiment's display name) are passed in as functions, so this
module stays pure and a lookup is made only when the rules before it did not decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from .adapters.ports import FinishedRun
from .runconfiguration import RcKey, RunConfiguration

__all__ = ["MARKER_KEY", "Ownership", "Rule", "Skip", "marked", "marker_line", "owner"]

MARKER_KEY = "kfp-chain.io/runconfiguration"
_MARKER = re.compile(r"^kfp-chain\.io/runconfiguration: *(\S+) *$", re.MULTILINE)


def marker_line(key: RcKey) -> str:
    """The description line that names `key` as the owner of a run or recurring run."""
    return f"{MARKER_KEY}: {key}"


def marked(description: str | None) -> RcKey | None:
    """The RunConfiguration a description's marker line names, or None (no line, or not ns/name)."""
    if not description:
        return None
    found = _MARKER.search(description)
    if found is None:
        return None
    try:
        key = RcKey.parse(found.group(1))
    except ValueError:
        return None
    return key


KO_NAMESPACE, KO_NAME = "runconfiguration-namespace", "runconfiguration-name"


class Rule(StrEnum):
    """Which rule of the module's docstring named the owner (a log field, and `explain`'s answer)."""

    MARKER = "marker"
    RECURRING_RUN = "recurring-run"
    KFP_OPERATOR = "kfp-operator"
    ADOPTED = "adopt-runs"


class Skip(StrEnum):
    """Why a run has no owner: the `reason` label of `kfp_chain_poll_runs_total{result="skipped"}`."""

    UNOWNED = "unowned"  # no rule matched: a run of nobody kfp-chain serves
    AMBIGUOUS = "ambiguous"  # several adopt-runs RunConfigurations share its pipeline and experiment
    UNKNOWN_RUNCONFIGURATION = "unknown-runconfiguration"  # named, but no such RunConfiguration (any more)


@dataclass(frozen=True)
class Ownership:
    """The answer for one run: an owner and the rule that named it, or a skip reason."""

    key: RcKey | None
    rule: Rule | None = None
    skip: Skip | None = None


def owner(
    run: FinishedRun,
    runconfigurations: Callable[[RcKey], RunConfiguration | None],
    adopters: Iterable[RunConfiguration],
    recurring_description: Callable[[str], str | None],
    pipeline_name: Callable[[str], str | None],
    experiment_name: Callable[[str], str | None],
    pipeline_of: Callable[[RunConfiguration], str],
    default_experiment: str = "Default",
    multi_user: bool = False,
) -> Ownership:
    """The owner of `run` by the module's rule; `pipeline_of` maps a RunConfiguration to KFP's pipeline name."""
    named = _named(run, recurring_description)
    if named is not None:
        key, rule = named
        if runconfigurations(key) is None:
            return Ownership(None, skip=Skip.UNKNOWN_RUNCONFIGURATION)
        return Ownership(key, rule)
    candidates = [rc for rc in adopters if rc.adopt_runs]
    if not candidates or not run.pipeline_id:
        return Ownership(None, skip=Skip.UNOWNED)
    if multi_user:
        candidates = [rc for rc in candidates if rc.key.namespace == run.namespace]
        if not candidates:
            return Ownership(None, skip=Skip.UNOWNED)
    pipeline = pipeline_name(run.pipeline_id)
    if pipeline is None:
        return Ownership(None, skip=Skip.UNOWNED)
    candidates = [rc for rc in candidates if pipeline_of(rc) == pipeline]
    if candidates and run.experiment_id:
        experiment = experiment_name(run.experiment_id)
        candidates = [rc for rc in candidates if (rc.experiment or default_experiment) == experiment]
    if not candidates:
        return Ownership(None, skip=Skip.UNOWNED)
    if len(candidates) > 1:
        return Ownership(None, skip=Skip.AMBIGUOUS)
    return Ownership(candidates[0].key, Rule.ADOPTED)


def _named(run: FinishedRun, recurring_description: Callable[[str], str | None]) -> tuple[RcKey, Rule] | None:
    """Rules 1-3: a RunConfiguration the run itself names (marker, its recurring run, kfp-operator)."""
    key = marked(run.description)
    if key is not None:
        return key, Rule.MARKER
    if run.recurring_run_id:
        key = marked(recurring_description(run.recurring_run_id))
        if key is not None:
            return key, Rule.RECURRING_RUN
    namespace, name = run.parameters.get(KO_NAMESPACE), run.parameters.get(KO_NAME)
    if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
        try:
            return RcKey.parse(f"{namespace}/{name}"), Rule.KFP_OPERATOR
        except ValueError:
            return None
    return None
