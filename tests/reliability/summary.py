"""Figures the reliability tests hand to `pytest_terminal_summary` (see conftest.py).

Printed by the terminal summary rather than with `print`, so they show with or without `-s` and
in `make soak`'s output, where docs/reliability.md takes them from.
"""

from __future__ import annotations

from collections import Counter

TABLES: list[tuple[str, list[tuple[str, object]]]] = []
CASES: Counter[str] = Counter()  # property test -> examples run


def table(title: str, rows: list[tuple[str, object]]) -> None:
    TABLES.append((title, rows))


def case(test: str) -> None:
    CASES[test] += 1
