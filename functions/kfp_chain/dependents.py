"""The dependents index: upstream `namespace/name` -> the RunConfigurations it triggers.

Second step of the flow. Pure and in memory: it is filled from a list (and, in a long-lived
instance, kept current by a watch, see `adapters.kubernetes.watch`), and answers "who depends on X" in O(1) so
that the common event, one nobody depends on, costs no API call. It also indexes parameter
references (`valueFrom.runConfigurationRef`) and decides which trigger edges close a cycle.

Cycle rule (documented in docs/reliability.md): cycles are computed over trigger edges only;
parameter references never start a run, so a RunConfiguration that reads its own previous output
(kfp-operator's self-reference pattern) is not a cycle. In every strongly connected component of
trigger edges, the *feedback* edges (the dependent needs no required artifact of that upstream)
are refused; if cycles remain among required edges, all of their edges are refused. Every cycle
therefore has at least one refused edge, and a chain can never loop forever.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

from .runconfiguration import RcKey, RunConfiguration

__all__ = ["DependentsIndex"]

Edge = tuple[RcKey, RcKey]  # (upstream, dependent)


class DependentsIndex:
    """Thread-safe: a watch thread updates it while request threads read it."""

    def __init__(self, runconfigurations: Iterable[RunConfiguration] = ()) -> None:
        self._lock = threading.RLock()
        self._by_key: dict[RcKey, RunConfiguration] = {}
        self._triggers: dict[RcKey, set[RcKey]] = defaultdict(set)
        self._references: dict[RcKey, set[RcKey]] = defaultdict(set)
        self._refused: dict[Edge, tuple[RcKey, ...]] | None = None
        self.version = 0
        for rc in runconfigurations:
            self.upsert(rc)

    # -- updates ---------------------------------------------------------------------
    def upsert(self, rc: RunConfiguration) -> None:
        with self._lock:
            old = self._by_key.get(rc.key)
            if old is not None:
                self._unlink(old)
            self._by_key[rc.key] = rc
            for upstream in rc.triggered_by:
                self._triggers[upstream].add(rc.key)
            for source in rc.parameter_sources:
                self._references[source].add(rc.key)
            if old is None or old.triggered_by != rc.triggered_by or old.parameters != rc.parameters:
                self._refused = None
            self.version += 1

    def remove(self, key: RcKey) -> None:
        with self._lock:
            old = self._by_key.pop(key, None)
            if old is not None:
                self._unlink(old)
                self._refused = None
                self.version += 1

    def replace_all(self, runconfigurations: Iterable[RunConfiguration]) -> None:
        """Swaps in a fresh list (a relist after 410 Gone) as one step for readers."""
        fresh = DependentsIndex(runconfigurations)
        with self._lock:
            self._by_key = fresh._by_key
            self._triggers = fresh._triggers
            self._references = fresh._references
            self._refused = None
            self.version += 1

    def _unlink(self, rc: RunConfiguration) -> None:
        for upstream in rc.triggered_by:
            self._discard(self._triggers, upstream, rc.key)
        for source in rc.parameter_sources:
            self._discard(self._references, source, rc.key)

    @staticmethod
    def _discard(table: dict[RcKey, set[RcKey]], key: RcKey, member: RcKey) -> None:
        members = table.get(key)
        if members is not None:
            members.discard(member)
            if not members:
                del table[key]

    # -- reads -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def get(self, key: RcKey) -> RunConfiguration | None:
        return self._by_key.get(key)

    def all(self) -> list[RunConfiguration]:
        with self._lock:
            return sorted(self._by_key.values(), key=lambda rc: rc.key)

    def dependents_of(self, upstream: RcKey) -> list[RunConfiguration]:
        """The RunConfigurations whose triggers name `upstream`, in a stable order."""
        with self._lock:
            keys = self._triggers.get(upstream)
            if not keys:
                return []
            return [self._by_key[k] for k in sorted(keys) if k in self._by_key]

    def referencing(self, source: RcKey) -> list[RcKey]:
        """RunConfigurations with a parameter that reads `source`'s artifacts."""
        with self._lock:
            return sorted(self._references.get(source, ()))

    def trigger_edges(self) -> list[Edge]:
        with self._lock:
            return sorted((u, d) for u, ds in self._triggers.items() for d in ds)

    def refused_edge(self, upstream: RcKey, dependent: RcKey) -> tuple[RcKey, ...] | None:
        """The cycle (as a node path) that refuses this edge, or None when it may trigger."""
        with self._lock:
            if self._refused is None:
                self._refused = _refused_edges(self.trigger_edges(), self._by_key)
            return self._refused.get((upstream, dependent))

    def cycles(self) -> dict[Edge, tuple[RcKey, ...]]:
        with self._lock:
            if self._refused is None:
                self._refused = _refused_edges(self.trigger_edges(), self._by_key)
            return dict(self._refused)


def _refused_edges(edges: list[Edge], by_key: dict[RcKey, RunConfiguration]) -> dict[Edge, tuple[RcKey, ...]]:
    refused: dict[Edge, tuple[RcKey, ...]] = {}
    remaining = list(edges)
    for pass_number in range(2):
        cyclic = [c for c in _components(remaining) if _is_cycle(c, remaining)]
        if not cyclic:
            break
        for component in cyclic:
            inside = [(u, d) for u, d in remaining if u in component and d in component]
            feedback = [e for e in inside if not _requires(by_key.get(e[1]), e[0])]
            chosen = feedback if feedback and pass_number == 0 else inside
            path = tuple(sorted(component))
            for edge in chosen:
                refused[edge] = path
        remaining = [e for e in remaining if e not in refused]
    return refused


def _requires(dependent: RunConfiguration | None, upstream: RcKey) -> bool:
    if dependent is None:
        return False
    return any(p.ref == upstream and not p.optional for p in dependent.parameters)


def _is_cycle(component: frozenset[RcKey], edges: list[Edge]) -> bool:
    if len(component) > 1:
        return True
    (node,) = component
    return (node, node) in edges


def _components(edges: list[Edge]) -> list[frozenset[RcKey]]:
    """Strongly connected components (iterative Tarjan, no recursion limit on long chains)."""
    graph: dict[RcKey, list[RcKey]] = defaultdict(list)
    for u, d in edges:
        graph[u].append(d)
        graph.setdefault(d, [])
    index: dict[RcKey, int] = {}
    low: dict[RcKey, int] = {}
    on_stack: set[RcKey] = set()
    stack: list[RcKey] = []
    result: list[frozenset[RcKey]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                result.append(frozenset(members))
    return result
