"""How the `kfp-chain` commands write: rich text for people, JSON for machines.

Text is soft-wrapped and unhighlighted, so long names stay on one line and the output is the
same in a terminal, in CI and in the golden files of `tests/cli`.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

__all__ = ["console", "emit_json"]


def console() -> Console:
    """Soft-wrapped and unhighlighted: long names stay on one line, and output is the same in CI."""
    return Console(soft_wrap=True, highlight=False)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))
