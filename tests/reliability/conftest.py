"""Prints what the reliability tests measured: soak figures and how many property cases ran."""

from __future__ import annotations

from typing import Any

from tests.reliability import summary


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if summary.CASES:
        terminalreporter.section("intake property cases")
        for test, count in sorted(summary.CASES.items()):
            terminalreporter.write_line(f"  {count:6d}  {test}")
        terminalreporter.write_line(f"  {sum(summary.CASES.values()):6d}  in all")
    for title, rows in summary.TABLES:
        terminalreporter.section(title)
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            terminalreporter.write_line(f"  {name:<{width}}  {value}")
