"""RunConfiguration documents from a folder of YAML files, each with the file and line it came from.

Where it sits: under `FolderSource` (the function's folder source) and the CLI's folder loading,
so both read the same documents the same way and a finding can say `file:line`.

The YAML is read the way `kubectl apply` reads it: one object per `---` document, timestamps left
as strings (kubectl's YAML-to-JSON conversion does not turn `2024-01-01T00:00:00Z` into a date), and
a `kind: List` (what `kubectl get -o yaml` writes) stands for its `items`. Only RunConfigurations
are kept; other kinds (Pipelines, Kustomizations...) and non-object documents are someone else's.
What cannot be read becomes an `Unreadable` with the line and column of the YAML error, and a
top-level YAML list of RunConfigurations (which kubectl refuses too) says so instead of being
silently ignored. Documents before a YAML error are still read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...runconfiguration import KIND

__all__ = ["Document", "Unreadable", "read_file", "read_folder", "yaml_files"]

LIST_KINDS = ("List", f"{KIND}List")
MAX_FILE_BYTES = 16 << 20


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: timestamps stay strings, as kubectl sends them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    """One RunConfiguration object as written, with its YAML node for line lookups."""

    file: str
    line: int
    obj: dict[str, Any]
    node: yaml.Node

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of the deepest part of `path` the document has (1-based)."""
        node = self.node
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
            if child is None:
                break
            node = child
        return int(node.start_mark.line) + 1


@dataclass(frozen=True)
class Unreadable:
    """A file, or a document in it, that cannot be read as RunConfigurations."""

    file: str
    reason: str
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        return ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)


def yaml_files(folder: Path) -> list[Path]:
    return sorted({*folder.rglob("*.yaml"), *folder.rglob("*.yml")})


def read_folder(folder: Path) -> tuple[list[Document], list[Unreadable]]:
    documents: list[Document] = []
    unreadable: list[Unreadable] = []
    for path in yaml_files(folder):
        found, problems = read_file(path, str(path.relative_to(folder)))
        documents.extend(found)
        unreadable.extend(problems)
    return documents, unreadable


def read_file(path: Path, name: str) -> tuple[list[Document], list[Unreadable]]:
    """Every RunConfiguration document of one file, and what could not be read; never raises."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [Unreadable(name, f"larger than {MAX_FILE_BYTES >> 20} MiB")]
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:  # Python's codec text names neither the file nor the fix
        return [], [
            Unreadable(
                name, f"not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}): save it as UTF-8"
            )
        ]
    except OSError as exc:
        return [], [Unreadable(name, _first_line(exc))]
    documents: list[Document] = []
    unreadable: list[Unreadable] = []
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters already here
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _collect(name, node, loader.construct_document(node), documents, unreadable)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        unreadable.append(Unreadable(name, f"invalid YAML: {reason}", line, column))
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        unreadable.append(Unreadable(name, f"invalid YAML: {_first_line(exc)}"))
    finally:
        if loader is not None:
            loader.dispose()
    return documents, unreadable


def _collect(
    name: str, node: yaml.Node, value: Any, documents: list[Document], unreadable: list[Unreadable]
) -> None:
    line = int(node.start_mark.line) + 1
    if isinstance(value, dict) and value.get("kind") == KIND:
        documents.append(Document(name, line, value, node))
    elif isinstance(value, dict) and value.get("kind") in LIST_KINDS and isinstance(node, yaml.MappingNode):
        items = next((v for k, v in node.value if getattr(k, "value", None) == "items"), None)
        values = value.get("items")
        if isinstance(items, yaml.SequenceNode) and isinstance(values, list):
            for item_node, item in zip(items.value, values, strict=True):
                if isinstance(item, dict) and item.get("kind") == KIND:
                    documents.append(Document(name, int(item_node.start_mark.line) + 1, item, item_node))
    elif isinstance(value, list) and any(isinstance(v, dict) and v.get("kind") == KIND for v in value):
        unreadable.append(
            Unreadable(
                name,
                "a YAML list of RunConfigurations at the top level: write one object per document, "
                "separated by ---, or a `kind: List` with `items`",
                line,
            )
        )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
