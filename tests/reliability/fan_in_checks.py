"""The fan-in invariants of the fault-injection suite: what must hold whichever sets were joined.

Which (upstream, run) sets a fan-in dependent joins depends on timing (the event path joins the
event's run with the other upstreams' latest successes, reconcile joins every upstream's latest),
so the suite cannot list the runs that must exist. It checks, per fan-in dependent:
(a) no two runs share a display name (the suite's global duplicate check, on these runs too);
(b) no (upstream, run) pair is consumed by two of its runs;
(c) every run's name is the name of one candidate set, and its parameters are the `out` artifacts
    of exactly the runs of that set;
(d) after the last reconcile pass nothing is still due (not every upstream's latest run is
    unconsumed), and if every upstream published a run, at least one join exists;
(e) `status.triggers` names exactly the pairs of one of its runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.reliability.broker import Broker
from tests.reliability.graph import Event, FanIn, Graph, Node

__all__ = ["JoinedRun", "fan_in_figures", "fan_in_problems", "fan_in_trails", "is_fan_in_run", "joined_runs"]


@dataclass
class JoinedRun:
    fan_in: FanIn
    display_name: str
    pairs: list[tuple[Node, str]] | None  # None: the name is not the name of any candidate set
    parameters: dict[str, str]
    creators: list[str]


def is_fan_in_run(graph: Graph, display_name: str) -> bool:
    return any(display_name.startswith(f"{f.node} <- ") for f in graph.fan_ins)


def joined_runs(graph: Graph, events: list[Event], kfp_runs: list[dict[str, Any]], creators: dict[str, list[str]]) -> dict[Node, list[JoinedRun]]:  # fmt: skip
    """Every KFP run of every fan-in dependent, in creation order, with the set its name stands for."""
    found: dict[Node, list[JoinedRun]] = {f.node: [] for f in graph.fan_ins}
    for fan_in in graph.fan_ins:
        candidates = fan_in.candidates(events)
        for run in kfp_runs:
            name = run["display_name"]
            if name.startswith(f"{fan_in.node} <- "):
                parameters = dict(run["runtime_config"]["parameters"])
                found[fan_in.node].append(
                    JoinedRun(fan_in, name, candidates.get(name), parameters, creators.get(name, []))
                )
    return found


def fan_in_problems(graph: Graph, events: list[Event], kube: Any, joined: dict[Node, list[JoinedRun]]) -> list[str]:  # fmt: skip
    by_run = {e.run_id: e for e in events}
    last = {e.upstream: e.run_id for e in events}  # events are in run order
    problems: list[str] = []
    for fan_in in graph.fan_ins:
        runs = joined[fan_in.node]
        names = Counter(r.display_name for r in runs)
        problems += [f"(a) {name!r} exists {n} times" for name, n in names.items() if n > 1]
        known = [r for r in runs if r.pairs is not None]
        problems += [f"(c) {r.display_name!r} is the name of no set of runs" for r in runs if r.pairs is None]
        # (b) no pair consumed twice
        consumed = Counter((u, run) for r in known for u, run in r.pairs or [])
        for (upstream, run), n in consumed.items():
            if n > 1:
                twice = [r.display_name for r in known if (upstream, run) in (r.pairs or [])]
                problems.append(f"(b) {fan_in.node}: {upstream} run {run} consumed by {n} runs: {twice}")
        # (c) parameters are the artifacts of exactly the runs of the set
        for r in known:
            want = fan_in.parameters(by_run, r.pairs or [])
            if r.parameters != want:
                problems.append(f"(c) {r.display_name!r}: parameters {r.parameters}, want {want}")
        # (d) liveness after quiescence
        status = _consumed(kube, fan_in)
        if all(u in last for u in fan_in.upstreams):
            if all(status.get(u) != last[u] for u in fan_in.upstreams):
                latest = {str(u): last[u] for u in fan_in.upstreams}
                problems.append(f"(d) {fan_in.node} is still due: latest {latest}, consumed {_named(status)}")
            if not runs:
                problems.append(f"(d) {fan_in.node}: every upstream published, and no join exists")
        # (e) status.triggers names the pairs of one of its runs
        if runs or status:
            sets = [dict(r.pairs or []) for r in known]
            if status not in sets:
                problems.append(
                    f"(e) {fan_in.node}: status.triggers {_named(status)} is the set of none of its runs"
                )
    return problems


def _consumed(kube: Any, fan_in: FanIn) -> dict[Node, str]:
    """The dependent's `status.triggers.runConfigurations`, by upstream (a bare name is its own namespace)."""
    obj = kube.get(fan_in.node.namespace, fan_in.node.name)
    entries = ((obj.get("status") or {}).get("triggers") or {}).get("runConfigurations") or {}
    consumed: dict[Node, str] = {}
    for name, entry in entries.items():
        namespace, _, bare = name.rpartition("/")
        consumed[Node(namespace or fan_in.node.namespace, bare)] = str((entry or {}).get("providerId"))
    return consumed


def _named(pairs: dict[Node, str]) -> dict[str, str]:
    return {str(u): run for u, run in sorted(pairs.items(), key=lambda p: str(p[0]))}


def fan_in_trails(joined: dict[Node, list[JoinedRun]], broker: Broker, events: list[Event], problems: list[str], passes: Iterable[Any] = ()) -> dict[str, Any]:  # fmt: skip
    """For each fan-in dependent a problem names: its runs (with their creators), the dropped upstream
    runs, every answer that named it, in time order (an attempt without an answer has no body), and
    what each reconcile pass (`PingSource.passes`) did with it, stamped when the pass began and ended."""
    dropped = {e.run_id for e in events if e.dropped}
    found: dict[str, Any] = {}
    for node, runs in joined.items():
        if not any(str(node) in problem for problem in problems):
            continue
        answers = [
            (m.event.upstream.name, m.event.run_id, m.copy, a.pod, a.status, round(a.at, 1),
             d.get("outcome"), d.get("reason"), d.get("display_name"))
            for m in broker.messages
            for a in m.attempts
            for d in a.body.get("dependents", [])
            if d.get("dependent") == str(node)
        ]  # fmt: skip
        reconciled = [
            (p.pod, round(p.started - broker.started, 1), round(p.ended - broker.started, 1) if p.ended else None,
             t.get("outcome"), t.get("reason"), t.get("displayName") or t.get("display_name"))
            for p in passes
            for t in (p.body.get("triggers") or [])
            if t.get("dependent") == str(node)
        ]  # fmt: skip
        found[str(node)] = {
            "runs": [(r.display_name, r.creators) for r in runs],
            "reconcile (pod, began, ended, outcome, reason, name)": reconciled,
            "dropped runs": sorted(dropped),
            "answers (upstream, run, copy, pod, status, at, outcome, reason, name)": sorted(answers, key=lambda a: a[5]),
        }  # fmt: skip
    return found


def fan_in_figures(joined: dict[Node, list[JoinedRun]], events: list[Event], reconcile_prefix: str) -> list[tuple[str, object]]:  # fmt: skip
    """Joined runs, and those reconcile made: of which every input's event was published (a liveness delay:
    the event path should have joined them, e.g. on fresh reads when two partners' events came at once)."""
    runs = [r for rs in joined.values() for r in rs]
    by_reconcile = [r for r in runs if r.creators and r.creators[0].startswith(reconcile_prefix)]
    dropped = {e.run_id for e in events if e.dropped}
    delayed = [r for r in by_reconcile if r.pairs and not any(run in dropped for _, run in r.pairs)]
    return [
        ("fan-in: joined runs (per dependent)", f"{len(runs)} ({', '.join(f'{n.name} {len(rs)}' for n, rs in joined.items())})"),
        ("fan-in: joined runs made by reconcile / of which every input's event was published", f"{len(by_reconcile)} / {len(delayed)}"),
    ]  # fmt: skip
