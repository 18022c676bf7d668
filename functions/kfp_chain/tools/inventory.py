"""What a `kfp-chain` command looks at: the RunConfigurations, where each came from, and the ledger.

Where it sits: first step of every read-only command (`explain`, `graph`, `validate`, `reconcile
--dry-run`). It reads RunConfigurations from the cluster (`RUNCONFIGURATIONS=kubernetes`) or from
a folder of YAML files, keeps what it could not read and what is defined twice (so `validate` can
name the file and line), and hands over the same ledger the function decides with, so that
"already triggered" is the ledger's answer rather than a copy of its rule. Nothing here writes:
the folder's state store is opened only when it already exists, since opening creates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..adapters.folder.files import Document, read_folder
from ..adapters.ports import ClaimInfo, Ledger, Trigger
from ..dependents import DependentsIndex
from ..invalid import blocking_problems
from ..rc_schema import read_runconfiguration
from ..runconfiguration import RcKey, RunConfiguration
from ..settings import Settings

__all__ = ["Loaded", "first_line", "load", "report_skipped"]


@dataclass
class Loaded:
    """What the CLI knows: RunConfigurations (with status when there is one) and the ledger."""

    settings: Settings
    ledger: Ledger
    runconfigurations: list[RunConfiguration] = field(default_factory=list)
    origins: dict[RcKey, str] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    duplicates: list[tuple[RcKey, str]] = field(default_factory=list)
    # For showing only: the KFP run a done (dependent, upstream, run) started, where the ledger keeps it.
    kfp_run_ids: dict[tuple[RcKey, RcKey, str], str] = field(default_factory=dict)
    claims: list[ClaimInfo] = field(default_factory=list)  # live or expired, on triggers not yet done
    documents: dict[RcKey, Document] = field(default_factory=dict)  # folder source: where each was written

    def index(self) -> DependentsIndex:
        """Every readable RunConfiguration, invalid ones too: what `validate` and `graph` look at."""
        return DependentsIndex(self.runconfigurations)

    def valid_index(self) -> DependentsIndex:
        """What the function indexes: invalid RunConfigurations are skipped (see `invalid.py`)."""
        return DependentsIndex(rc for rc in self.runconfigurations if not blocking_problems(rc))

    def consumed(self, trigger: Trigger) -> bool:
        """The ledger's answer: would its `claim` say DONE (a duplicate) for this trigger now?"""
        return self.ledger.consumed(trigger)


def load(settings: Settings) -> Loaded:
    """Reads the source `settings` name; a backend's error is the caller's one line."""
    return _load_cluster(settings) if settings.from_kubernetes else _load_folder(settings)


def _load_cluster(settings: Settings) -> Loaded:
    from ..adapters.kubernetes.claims import claims_in
    from ..adapters.kubernetes.client import kubernetes_api_client
    from ..adapters.kubernetes.ledger import KubernetesLedger
    from ..adapters.kubernetes.source import KubernetesSource

    source = KubernetesSource(kubernetes_api_client(), settings.group, settings.version, settings.namespaces)
    loaded = Loaded(settings, KubernetesLedger(source))
    objects, _ = source.list_objects()
    _parse_into(loaded, ((f"{settings.api_version} {_where(o)}", o) for o in objects))
    loaded.claims = [c for o in objects for c in claims_in(o)]
    return loaded


def _load_folder(settings: Settings) -> Loaded:
    """Reads the YAML files itself, so a finding can name its file; status only if a store exists.

    The state store is opened only when it is already there: opening creates it, and a dry run
    must leave no trace (the ledger's `consumed` answers "nothing" without one).
    """
    from ..adapters.folder.ledger import SqliteLedger

    folder = Path(settings.runconfigurations)
    ledger = SqliteLedger(settings.state_db)
    loaded = Loaded(settings, ledger)
    documents, unreadable = read_folder(folder)
    loaded.unreadable.extend((u.where, u.reason) for u in unreadable)
    allowed = [d for d in documents if settings.allows(_namespace(d.obj))]
    _parse_into(loaded, ((d.where, d.obj) for d in allowed))
    by_where = {d.where: d for d in allowed}
    loaded.documents = {key: by_where[where] for key, where in loaded.origins.items() if where in by_where}
    if settings.state_db.exists():
        from ..adapters.folder.source import FolderSource

        source = FolderSource(folder, settings.state_db, settings.namespaces, settings.group)
        loaded.runconfigurations = source.with_status(loaded.runconfigurations)
        loaded.claims = ledger.claims()
        for row in ledger.triggers():
            if row["done"] and row["kfpRunId"]:  # a fan-in row joins its pairs with "+"
                pairs = zip(row["upstream"].split("+"), str(row["runId"]).split("+"), strict=True)
                for upstream, run_id in pairs:
                    key = (RcKey.parse(row["dependent"]), RcKey.parse(upstream), run_id)
                    loaded.kfp_run_ids[key] = row["kfpRunId"]
    return loaded


def report_skipped(loaded: Loaded) -> None:
    """One line on stderr per file or object a command could not read, so that a skip is never silent.

    stderr, so that the command's own output (a graph, JSON) stays what it was; `validate` reports
    the same as error findings instead.
    """
    for where, why in loaded.unreadable:
        click.echo(f"kfp-chain: skipped {where}: {why}", err=True)
    for key, where in loaded.duplicates:
        click.echo(
            f"kfp-chain: skipped {where}: {key} is defined again (first in {loaded.origins[key]})", err=True
        )


def _parse_into(loaded: Loaded, documents: Iterable[tuple[str, dict[str, Any]]]) -> None:
    for where, doc in documents:
        try:
            rc = read_runconfiguration(doc, loaded.settings.group)
        except ValueError as exc:
            loaded.unreadable.append((where, first_line(exc)))
            continue
        if rc.key in loaded.origins:
            loaded.duplicates.append((rc.key, where))
            continue
        loaded.origins[rc.key] = where
        loaded.runconfigurations.append(rc)


def _namespace(doc: dict[str, Any]) -> str:
    metadata = doc.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


def _where(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
