"""A RunConfiguration's declared artifacts, picked out of a finished run's outputs (plain KFP).

Where it sits: the poll (`service/poll.py`) reads a run's outputs through an `ArtifactResolver`
(ML Metadata or KFP's native API) and this pure module turns them into the run-completion's named
`artifacts`, as kfp-operator's provider does from `spec.run.artifacts[].path`.

Path grammar, kfp-operator's own (its CRD pattern `^([^\\[\\]:]+):([^\\[\\]:]+)(?::(\\d*))?(?:\\[([^\\[\\]:]+)\\])?$`):
`component:output[:index][filter]`. `component` matches a task's DAG key (`task_name`) or, as
kfp-operator matches it, its display name; `output` the output's name; `index` defaults to 0 (an
empty `component:output:` is 0 too); the filter is a go-bexpr expression over the artifact's
metadata (`artifact_filter.py`, evaluated by `artifact_filter_eval.py`). No part may hold `:`, `[`
or `]`, so neither may a filter.

Which artifact a path names (one rule for both artifact routes): the run's artifacts of that
component and output that have a URI, in creation order (`OutputArtifact.order`); the filter keeps
those it accepts; `index` picks from what is left. kfp-operator indexes each execution's list and
then filters, but on ML Metadata every execution holds one artifact per output, so its index is 0
in practice and the first artifact that passes the filter wins, as here; an index above 0, which
never matches there, picks the index-th artifact that passes (loops, several outputs of one key).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .adapters.ports import OutputArtifact
from .artifact_filter import Filter, parse_filter
from .artifact_filter_eval import accepts
from .runconfiguration import Artifact, ArtifactDeclaration

__all__ = ["ArtifactPath", "parse_path", "select"]

# [0-9], not \d: Go's \d is ASCII only; fullmatch: Go's $ is the end of the text, newline or not
_PATH = re.compile(r"([^\[\]:]+):([^\[\]:]+)(?::([0-9]*))?(?:\[([^\[\]:]+)\])?")
_MAX_INDEX = 2**63 - 1  # Go's strconv.Atoi on a 64-bit int


@dataclass(frozen=True)
class ArtifactPath:
    """One parsed `spec.run.artifacts[].path`."""

    component: str
    output: str
    index: int = 0
    filter: Filter | None = None

    def __str__(self) -> str:
        """kfp-operator's spelling: the index always written, e.g. `Pusher:pushed_model:0[pushed == 1]`."""
        text = f"{self.component}:{self.output}:{self.index}"
        return f"{text}[{self.filter}]" if self.filter is not None else text

    def matches(self, artifact: OutputArtifact) -> bool:
        """Whether `artifact` is an output of this path's component and output (index and filter aside)."""
        return artifact.output == self.output and self.component in (
            artifact.task_name,
            artifact.display_name,
        )

    def pick(self, outputs: Sequence[OutputArtifact]) -> OutputArtifact | None:
        """The artifact this path names among a run's outputs (see the module's docstring), or None."""
        candidates = [a for a in sorted(outputs, key=lambda a: a.order) if a.uri and self.matches(a)]
        if self.filter is not None:
            candidates = [a for a in candidates if accepts(self.filter, a.metadata)]
        return candidates[self.index] if self.index < len(candidates) else None


def parse_path(text: str) -> ArtifactPath:
    """`component:output[:index][filter]`; ValueError names what is wrong."""
    found = _PATH.fullmatch(text)
    if found is None:
        raise ValueError(
            f"artifact path {text!r} is not component:output[:index][filter] "
            "(no part may hold ':', '[' or ']')"
        )
    component, output, index, filter_text = found.groups()
    number = int(index) if index else 0
    if number > _MAX_INDEX:
        raise ValueError(f"artifact path {text!r}: index {index} is out of range")
    try:
        parsed = parse_filter(filter_text) if filter_text is not None else None
    except ValueError as exc:
        raise ValueError(f"artifact path {text!r}: {exc}") from None
    return ArtifactPath(component, output, number, parsed)


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
        picked = path.pick(outputs)
        if picked is not None and picked.uri:
            found.append(Artifact(declaration.name, picked.uri))
        else:
            missing.append(declaration.name)
    return tuple(found), tuple(missing)
