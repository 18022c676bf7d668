"""`kfp-chain graph`: the RunConfiguration dependency graph, as data and as a drawing.

Where it sits: beside the function, reading what `inventory` loaded. `graph_of` turns the
dependents index into nodes and edges (trigger and parameter edges, the ones inside a cycle and
the one the function refuses, referenced RunConfigurations that do not exist); `mermaid` and `dot`
draw them, and `render` has Graphviz turn dot into PNG or SVG when it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from ..runconfiguration import RcKey
from ..settings import Settings
from .inventory import Loaded, load, report_skipped
from .options import Misconfigured

__all__ = [
    "GRAPH_FORMATS",
    "Cycle",
    "Edge",
    "EdgeKind",
    "GraphFormat",
    "as_json",
    "dot",
    "graph_of",
    "mermaid",
    "render",
    "show_graph",
]

EdgeKind = Literal["trigger", "parameter"]
# "member": a trigger edge inside a cycle; "refused": the one the function refuses (so the loop cannot spin)
Cycle = Literal["", "member", "refused"]
GraphFormat = Literal["mermaid", "dot", "json", "png", "svg"]
GRAPH_FORMATS: tuple[GraphFormat, ...] = ("mermaid", "dot", "json", "png", "svg")


@dataclass(frozen=True)
class Edge:
    upstream: RcKey
    dependent: RcKey
    kind: EdgeKind
    label: str
    cycle: Cycle = ""


def graph_of(loaded: Loaded) -> tuple[list[RcKey], set[RcKey], list[Edge]]:
    """Nodes (existing and referenced-but-missing), the missing ones, and every edge in a stable order."""
    index = loaded.index()
    cycles = index.cycles()
    components = [set(members) for members in cycles.values()]
    edges: list[Edge] = []
    for rc in index.all():
        for upstream in rc.triggered_by:
            if (upstream, rc.key) in cycles:
                edges.append(Edge(upstream, rc.key, "trigger", "trigger, cycle: refused", "refused"))
            elif any(upstream in c and rc.key in c for c in components):
                edges.append(Edge(upstream, rc.key, "trigger", "trigger, in a cycle", "member"))
            else:
                edges.append(Edge(upstream, rc.key, "trigger", "trigger"))
        for p in rc.parameters:
            if p.ref is not None:
                edges.append(Edge(p.ref, rc.key, "parameter", f"{p.output_artifact} → {p.name}"))
    known = set(loaded.origins)
    nodes = sorted(known | {e.upstream for e in edges} | {e.dependent for e in edges})
    return nodes, {n for n in nodes if n not in known}, edges


def _by_namespace(nodes: list[RcKey]) -> dict[str, list[RcKey]]:
    groups: dict[str, list[RcKey]] = {}
    for node in nodes:
        groups.setdefault(node.namespace, []).append(node)
    return groups


def mermaid(
    nodes: list[RcKey], missing: set[RcKey], edges: list[Edge], fan_in: set[RcKey] | None = None
) -> str:
    """`fan_in` nodes (trigger policy `all`: one run once every upstream has a new success) say so."""
    ids = {node: f"n{i}" for i, node in enumerate(nodes)}
    lines = ["flowchart LR"]
    for i, (namespace, members) in enumerate(_by_namespace(nodes).items()):
        lines.append(f'  subgraph ns{i}["{namespace}"]')
        for node in members:
            suffix = " (missing)" if node in missing else " (all upstreams)" if node in (fan_in or ()) else ""
            lines.append(f'    {ids[node]}["{node.name}{suffix}"]')
        lines.append("  end")
    styles = []
    for i, e in enumerate(edges):
        arrow = "-->" if e.kind == "trigger" else "-.->"
        lines.append(f'  {ids[e.upstream]} {arrow}|"{e.label}"| {ids[e.dependent]}')
        if e.cycle == "refused":
            styles.append(f"  linkStyle {i} stroke:#d62728,stroke-width:3px,color:#d62728")
        elif e.cycle == "member":
            styles.append(f"  linkStyle {i} stroke:#ff7f0e,stroke-width:2px")
    lines.extend(styles)
    if missing:
        lines.append("  classDef missing stroke:#d62728,stroke-dasharray:5 5")
        lines.append(f"  class {','.join(ids[n] for n in sorted(missing))} missing")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(nodes: list[RcKey], missing: set[RcKey], edges: list[Edge], fan_in: set[RcKey] | None = None) -> str:
    lines = [
        "digraph kfp_chain {",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for i, (namespace, members) in enumerate(_by_namespace(nodes).items()):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_q(namespace)};")
        for node in members:
            if node in missing:
                lines.append(
                    f'    {_q(str(node))} [label={_q(node.name + " (missing)")}, style="rounded,dashed", color=red];'
                )
            elif node in (fan_in or ()):
                lines.append(
                    f"    {_q(str(node))} [label={_q(node.name + ' (all upstreams)')}, peripheries=2];"
                )
            else:
                lines.append(f"    {_q(str(node))} [label={_q(node.name)}];")
        lines.append("  }")
    for e in edges:
        attributes = [f"label={_q(e.label)}"]
        if e.kind == "parameter":
            attributes.append("style=dashed")
        if e.cycle == "refused":
            attributes.extend(["color=red", "fontcolor=red", "penwidth=2.5"])
        elif e.cycle == "member":
            attributes.extend(["color=darkorange", "penwidth=2"])
        lines.append(f"  {_q(str(e.upstream))} -> {_q(str(e.dependent))} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str) -> bytes:
    binary = shutil.which("dot")
    if binary is None:
        raise click.ClickException(
            f"--format {fmt} needs Graphviz's `dot` (`make graphviz`, or apt-get install graphviz); "
            "--format dot or mermaid need nothing"
        )
    done = subprocess.run(
        [binary, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def as_json(nodes: list[RcKey], missing: set[RcKey], edges: list[Edge], fan_in: set[RcKey]) -> str:
    graph = {
        "nodes": [
            {
                "id": str(n),
                "namespace": n.namespace,
                "name": n.name,
                "missing": n in missing,
                "policy": "all" if n in fan_in else "any",
            }
            for n in nodes
        ],
        "edges": [
            {
                "from": str(e.upstream),
                "to": str(e.dependent),
                "kind": e.kind,
                "label": e.label,
                "cycle": e.cycle,
            }
            for e in edges
        ],
    }
    return json.dumps(graph, indent=2) + "\n"


def show_graph(settings: Settings, fmt: GraphFormat, out_path: Path | None) -> None:
    """`kfp-chain graph`: the graph in `fmt`, to `out_path` or stdout."""
    if fmt == "png" and out_path is None and sys.stdout.isatty():
        raise Misconfigured("--format png is binary: pass --out FILE.png, or redirect stdout to a file")
    loaded = load(settings)
    report_skipped(loaded)
    nodes, missing, edges = graph_of(loaded)
    fan_in = {rc.key for rc in loaded.runconfigurations if rc.fan_in}
    data: bytes
    if fmt == "json":
        data = as_json(nodes, missing, edges, fan_in).encode()
    elif fmt == "mermaid":
        data = mermaid(nodes, missing, edges, fan_in).encode()
    else:
        text = dot(nodes, missing, edges, fan_in)
        data = text.encode() if fmt == "dot" else render(text, fmt)
    if out_path is not None:
        out_path.write_bytes(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
