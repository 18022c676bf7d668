"""The naive dependents index: list every RunConfiguration on every event.

Correct by construction and O(N) per event; it is the comparison `make bench` measures the
watch-backed index (`adapters.kubernetes.watch`) against, and the mode for sources that cannot be watched
(a folder of YAML files, re-read so that edits apply at once).

The source skips invalid RunConfigurations and keeps the set it skipped (`source.invalid`), as of
its last read; `ready()` re-reads a folder (cheap, and what the next event reads anyway) so that
`/readyz` and the gauge count the invalid objects before the first event too.
"""

from __future__ import annotations

from ..dependents import DependentsIndex
from ..errors import TemporaryError
from .ports import RunConfigurationSource

__all__ = ["ListIndex"]


class ListIndex:
    def __init__(self, source: RunConfigurationSource) -> None:
        self.source = source
        self.last_error: str | None = None  # why the last readiness read failed, for /readyz

    def current(self) -> DependentsIndex:
        return DependentsIndex(self.source.list())

    def ready(self) -> bool:
        check = getattr(self.source, "check", None)
        if callable(check):
            try:
                check()
            except TemporaryError as exc:
                self.last_error = str(exc)
                return False
        self.last_error = None
        return True

    def invalid_count(self) -> int:
        invalid = getattr(self.source, "invalid", None)
        return invalid.count() if invalid is not None else 0
