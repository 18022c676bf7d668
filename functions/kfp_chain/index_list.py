"""The naive dependents index: list every RunConfiguration on every event.

Correct by construction and O(N) per event; it is the comparison `make bench` measures the
watch-backed index (`index_watch`) against, and the mode for sources that cannot be watched
(a folder of YAML files, re-read so that edits apply at once).
"""

from __future__ import annotations

from .dependents import DependentsIndex
from .ports import RunConfigurationSource

__all__ = ["ListIndex"]


class ListIndex:
    def __init__(self, source: RunConfigurationSource) -> None:
        self.source = source

    def current(self) -> DependentsIndex:
        return DependentsIndex(self.source.list())

    def ready(self) -> bool:
        return True
