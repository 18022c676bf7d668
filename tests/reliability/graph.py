"""A generated graph of RunConfigurations and the event stream the fault-injection suite replays.

Beside the `any` dependents, a few fan-in dependents (`kfp-chain.io/trigger-policy: all`, two
upstreams each): which sets they join depends on timing, so for them the graph gives the
candidates (every pair of the upstreams' runs, by display name) and the suite checks invariants.

The graph is built so that what *should* happen is known without asking the code under test:
which dependent each event starts (by the run's deterministic display name, `"<dependent> <-
<upstream> run <runId>"`), and which it skips because a required artifact is never produced.
Parameter references only ever read the triggering emitter (the event's own artifacts), so the
expectation does not depend on the order in which the shuffled stream is handled.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kfp_chain.adapters.ports import Trigger
from kfp_chain.runconfiguration import POLICY_ANNOTATION, RcKey

from tests.builders import event_data, rc, ref

NAMESPACES = ("team-a", "team-b", "team-c")
KINDS = ("plain", "needs-out", "needs-missing", "optional-missing", "two-triggers")


@dataclass(frozen=True)
class Node:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Dependent:
    node: Node
    kind: str
    upstreams: list[Node]
    obj: dict[str, Any] = field(default_factory=dict)

    def starts_for(self, upstream: Node) -> bool:
        """Whether an event of `upstream` (which always carries `out`, never `never`) starts a run."""
        return upstream in self.upstreams and self.kind != "needs-missing"


@dataclass
class FanIn:
    """A dependent with trigger policy `all`: one run per set of unconsumed successes of its upstreams.

    Its parameters are `lit` and `in_<i>` <- upstream i's `out`, so a run's parameters say which
    runs' artifacts it was given (every run's `out` location is unique).
    """

    node: Node
    upstreams: list[Node]
    obj: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> RcKey:
        return RcKey(self.node.namespace, self.node.name)

    def display_name(self, pairs: list[tuple[Node, str]]) -> str:
        """The run name of the join of `pairs`, as the function computes it."""
        keyed = [(RcKey(u.namespace, u.name), run) for u, run in pairs]
        return Trigger.fan_in(self.key, keyed).display_name

    def candidates(self, events: list[Event]) -> dict[str, list[tuple[Node, str]]]:
        """display name -> (upstream, run) pairs, for every set of one run per upstream."""
        found: dict[str, list[tuple[Node, str]]] = {}
        first, second = ([e.run_id for e in events if e.upstream == u] for u in self.upstreams)
        for a in first:
            for b in second:
                pairs = [(self.upstreams[0], a), (self.upstreams[1], b)]
                found[self.display_name(pairs)] = pairs
        return found

    def parameters(self, runs: dict[str, Event], pairs: list[tuple[Node, str]]) -> dict[str, str]:
        """The parameters the join of `pairs` must carry: each upstream's `out` of exactly that run."""
        params = {"lit": self.node.name}
        for upstream, run in pairs:
            params[f"in_{self.upstreams.index(upstream)}"] = _location(runs[run], "out")
        return params


def _location(event: Event, artifact: str) -> str:
    return next(str(a["location"]) for a in event.artifacts if a["name"] == artifact)


@dataclass
class Graph:
    emitters: list[Node]
    dependents: list[Dependent]
    objects: list[dict[str, Any]]
    fan_ins: list[FanIn] = field(default_factory=list)

    def fan_in_partners(self, a: Node, b: Node) -> bool:
        """Whether some fan-in dependent joins `a` and `b` (their events are then sometimes sent together)."""
        return any({a, b} == set(f.upstreams) for f in self.fan_ins)

    def dependents_of(self, upstream: Node) -> list[Dependent]:
        return [d for d in self.dependents if upstream in d.upstreams]

    def skipped_edges(self) -> int:
        return sum(len(d.upstreams) for d in self.dependents if d.kind == "needs-missing")


def _trigger_name(dependent: Node, upstream: Node, rng: random.Random) -> str:
    """Same namespace: sometimes the bare name (which means the dependent's own namespace)."""
    if dependent.namespace == upstream.namespace and rng.random() < 0.5:
        return upstream.name
    return str(upstream)


def build_graph(emitter_count: int, seed: int) -> Graph:
    """Emitters with 1-3 dependents each, across namespaces; two of the dependents emit too (a 2nd layer)."""
    rng = random.Random(seed)
    artifacts = [{"name": "out", "path": "C:out"}, {"name": "extra", "path": "C:extra"}]
    emitters = [Node(NAMESPACES[i % len(NAMESPACES)], f"emitter-{i}") for i in range(emitter_count)]
    dependents: list[Dependent] = []
    counter = 0

    def add(upstreams: list[Node], kind: str) -> Dependent:
        nonlocal counter
        node = Node(rng.choice(NAMESPACES), f"dep-{counter}-{kind}")
        counter += 1
        params: list[dict[str, Any]] = [{"name": "lit", "value": node.name}]
        first = upstreams[0]
        if kind == "needs-out":
            params.append(ref(str(first), "out", param="data"))
        elif kind == "needs-missing":
            params.append(ref(str(first), "never", param="data"))
        elif kind == "optional-missing":
            params.append(ref(str(first), "never", optional=True, param="warm"))
        obj = rc(
            node.namespace,
            node.name,
            triggers=[_trigger_name(node, u, rng) for u in upstreams],
            parameters=params,
            artifacts=artifacts,
        )
        dependent = Dependent(node, kind, upstreams, obj)
        dependents.append(dependent)
        return dependent

    for i, emitter in enumerate(emitters):
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(KINDS)
            if kind == "two-triggers":
                other = emitters[(i + 1) % len(emitters)]
                add([emitter, other] if other != emitter else [emitter], kind)
            else:
                add([emitter], kind)
    # A second layer: two started dependents emit as well, and have dependents of their own.
    middle = [d.node for d in dependents if d.kind in ("plain", "needs-out")][:2]
    for node in middle:
        add([node], "needs-out")
        add([node], "needs-missing")
    objects = [rc(e.namespace, e.name, artifacts=artifacts) for e in emitters]
    objects += [d.obj for d in dependents]
    fan_ins = build_fan_ins(emitters + middle, random.Random(seed + 1))
    objects += [f.obj for f in fan_ins]
    return Graph(emitters + middle, dependents, objects, fan_ins)


def build_fan_ins(emitters: list[Node], rng: random.Random) -> list[FanIn]:
    """Three fan-in dependents over `emitters` (in stream order) that are neighbours in the round-robin stream.

    Neighbours, so their runs alternate and the suite can send two partners' events at once (the
    "last two upstreams at once" race). The first joins two namespaces and lives in a third; the
    others live in their first upstream's namespace and name it by its bare name at random. Made with their own random
    stream, so the rest of the graph is what it was without them.
    """
    count = len(emitters)
    pairs = [(emitters[0], emitters[1 % count]), (emitters[1 % count], emitters[2 % count])]
    pairs.append((emitters[(count - 1) % count], emitters[0]))
    fan_ins = []
    for i, (a, b) in enumerate(pairs):
        others = [ns for ns in NAMESPACES if ns not in (a.namespace, b.namespace)]
        namespace = others[0] if i == 0 and others else a.namespace
        node = Node(namespace, f"fanin-{i}")
        params: list[dict[str, Any]] = [{"name": "lit", "value": node.name}]
        params += [ref(str(u), "out", param=f"in_{j}") for j, u in enumerate((a, b))]
        obj = rc(
            node.namespace,
            node.name,
            triggers=[_trigger_name(node, u, rng) for u in (a, b)],
            parameters=params,
            artifacts=[{"name": "out", "path": "C:out"}],
        )
        obj["metadata"]["annotations"] = {POLICY_ANNOTATION: "all"}
        fan_ins.append(FanIn(node, [a, b], obj))
    return fan_ins


@dataclass(frozen=True)
class Event:
    upstream: Node
    run_id: str
    data: dict[str, Any]
    dropped: bool = (
        False  # lost before the broker (a NATS or Argo outage): only status.latestRuns says it ran
    )

    @property
    def event_id(self) -> str:
        return f"ce-{self.run_id}"

    @property
    def artifacts(self) -> list[dict[str, str]]:
        return list(self.data["artifacts"])


def build_events(
    graph: Graph, count: int, seed: int, drop: float = 0.0, mint: Callable[[Node, int], str] | None = None
) -> list[Event]:
    """`count` distinct upstream runs in run order, spread over every emitter, each carrying `out`.

    A fraction `drop` never reaches the broker. At least one emitter's last run is dropped (only
    reconcile can start its dependents) and, with enough events, one earlier run too. `mint` gives
    the upstream run its runId (e.g. a KFP run made for it); by default a readable name.
    """
    rng = random.Random(seed)
    events = []
    for i in range(count):
        upstream = graph.emitters[i % len(graph.emitters)]
        run_id = mint(upstream, i) if mint else f"{upstream.name}-run-{i}"
        artifacts = [{"name": "out", "location": f"gs://bucket/{upstream.name}/{i}/out"}]
        if rng.random() < 0.5:
            artifacts.append({"name": "extra", "location": f"s3://bucket/{upstream.name}/{i}/extra"})
        dropped = drop > 0 and rng.random() < drop
        events.append(
            Event(upstream, run_id, event_data(str(upstream), run_id=run_id, artifacts=artifacts), dropped)
        )
    if drop > 0 and events:
        last = len(events) - 1
        events[last] = Event(events[last].upstream, events[last].run_id, events[last].data, True)
        if count > 2 * len(graph.emitters):
            early = 0
            events[early] = Event(events[early].upstream, events[early].run_id, events[early].data, True)
    return events


def runs_of(graph: Graph, event: Event) -> dict[str, dict[str, str]]:
    """display name -> the parameters it must carry, for every run `event` starts."""
    runs: dict[str, dict[str, str]] = {}
    for dependent in graph.dependents_of(event.upstream):
        if not dependent.starts_for(event.upstream):
            continue
        name = f"{dependent.node} <- {event.upstream} run {event.run_id}"
        params = {"lit": dependent.node.name}
        if dependent.kind == "needs-out" and dependent.upstreams[0] == event.upstream:
            out = next(a for a in event.data["artifacts"] if a["name"] == "out")
            params["data"] = out["location"]
        runs[name] = params
    return runs


@dataclass
class Expected:
    """What must exist at the end, and what may.

    `once`: the runs of every event the broker got, and of each upstream's last run (reconcile
    finds it in `status.latestRuns` whether or not its event came): each exactly once.
    `at_most_once`: the runs of a dropped run that was superseded; a reconcile pass that read it as
    the latest at that moment may have started it, once, never twice. Nothing else may exist.
    """

    once: dict[str, dict[str, str]]
    at_most_once: dict[str, dict[str, str]]
    by_run_id: dict[str, list[str]]  # upstream runId -> its runs' display names

    @property
    def allowed(self) -> dict[str, dict[str, str]]:
        return {**self.at_most_once, **self.once}


def expected_runs(graph: Graph, events: list[Event]) -> Expected:
    last = {e.upstream: e for e in events}  # events are in run order
    once: dict[str, dict[str, str]] = {}
    maybe: dict[str, dict[str, str]] = {}
    by_run_id: dict[str, list[str]] = {}
    for event in events:
        runs = runs_of(graph, event)
        by_run_id[event.run_id] = list(runs)
        if not event.dropped or last[event.upstream] is event:
            once.update(runs)
        else:
            maybe.update(runs)
    return Expected(once, maybe, by_run_id)
