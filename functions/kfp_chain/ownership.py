"""Which RunConfiguration a KFP run belongs to, on a KFP install without kfp-operator.

Where it sits: the poll (`service/poll.py`) and the Workflow nudge hear that a run ended; this pure
module says whose run it was, so that its completion can be handed to the chain as that
RunConfiguration's run-completion. The rule is in docs/plain-kfp.md; the display name is never
used, so renaming a run cannot move it to another RunConfiguration.

This first part is the marker kfp-chain writes into the `description` of every run and recurring run
it creates (KFP's API has no call that changes a run's description afterwards).
"""

from __future__ import annotations

import re

from .runconfiguration import RcKey

__all__ = ["MARKER_KEY", "marked", "marker_line"]

MARKER_KEY = "kfp-chain.io/runconfiguration"
_MARKER = re.compile(r"^kfp-chain\.io/runconfiguration: *(\S+) *$", re.MULTILINE)


def marker_line(key: RcKey) -> str:
    """The description line that names `key` as the owner of a run or recurring run."""
    return f"{MARKER_KEY}: {key}"


def marked(description: str | None) -> RcKey | None:
    """The RunConfiguration a description's marker line names, or None (no line, or not ns/name)."""
    if not description:
        return None
    found = _MARKER.search(description)
    if found is None:
        return None
    try:
        key = RcKey.parse(found.group(1))
    except ValueError:
        return None
    return key
