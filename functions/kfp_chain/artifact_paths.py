"""A RunConfiguration's declared artifacts, picked out of a finished run's outputs (plain KFP).

Where it sits: the poll (`service/poll.py`) reads a run's outputs through an `ArtifactResolver`
(ML Metadata or KFP's native API) and this pure module turns them into the run-completion's named
`artifacts`, as kfp-operator's provider does from `spec.run.artifacts[].path`.

Path grammar: `component:output`, where `component` matches a task's DAG key (`task_name`) or, as
kfp-operator matches it, its display name.
"""

from __future__ import annotations

from collections.abc import Sequence

from .adapters.ports import OutputArtifact
from .runconfiguration import Artifact, ArtifactDeclaration

__all__ = ["ArtifactPath", "parse_path", "select"]


class ArtifactPath:
    """One parsed `spec.run.artifacts[].path`."""

    __slots__ = ("component", "output")

    def __init__(self, component: str, output: str) -> None:
        self.component, self.output = component, output

    def matches(self, artifact: OutputArtifact) -> bool:
        return artifact.output == self.output and self.component in (
            artifact.task_name,
            artifact.display_name,
        )


def parse_path(text: str) -> ArtifactPath:
    """`component:output`; ValueError names what is wrong."""
    component, sep, output = text.partition(":")
    if not sep or not component or not output:
        raise ValueError(f"artifact path {text!r} is not 'component:output'")
    return ArtifactPath(component, output)


def select(
    declarations: Sequence[ArtifactDeclaration], outputs: Sequence[OutputArtifact]
) -> tuple[tuple[Artifact, ...], tuple[str, ...]]:
    """(the declared artifacts found, with their URI; the names of those not found or unparseable)."""
    found: list[Artifact] = []
    missing: list[str] = []
    for declaration in declarations:
        try:
            path = parse_path(declaration.path)
        except ValueError:
            missing.append(declaration.name)
            continue
        candidates = sorted((a for a in outputs if path.matches(a) and a.uri), key=lambda a: a.order)
        if candidates and candidates[0].uri:
            found.append(Artifact(declaration.name, candidates[0].uri))
        else:
            missing.append(declaration.name)
    return tuple(found), tuple(missing)
