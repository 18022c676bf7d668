"""One spelling of a filter tree, for the parser's round-trip property (test support, not product).

`unparse(tree)` writes go-bexpr text that `parse_filter` reads back to the same tree: values in
backticks (a raw string is never read as a selector), or in double quotes with \\x escapes where
backticks cannot hold them; selectors dotted, as JSON pointers, or with ["key"] indexes.
"""

from __future__ import annotations

import re

from kfp_chain.artifact_filter import And, Expression, Match, Not, Or

IDENT = re.compile(r"[a-zA-Z][a-zA-Z0-9_/]*")
DIGITS = re.compile(r"[0-9]+")
SEGMENT = re.compile(r"[\w\-.~:|]+")  # close to go-bexpr's [\pL\pN-_.~:|]; the generator keeps to ASCII


def unparse(expression: Expression) -> str:
    if isinstance(expression, Match):
        return _match(expression)
    if isinstance(expression, Not):
        inner = expression.operand
        return "not " + (unparse(inner) if isinstance(inner, Match) else f"({unparse(inner)})")
    word = " and " if isinstance(expression, And) else " or "
    assert isinstance(expression, (And, Or))
    return word.join(
        f"({unparse(item)})" if isinstance(item, (And, Or)) else unparse(item) for item in expression.items
    )


def _match(match: Match) -> str:
    selector = unparse_selector(match.selector)
    if match.value is None:
        return f"{selector} {match.op}"
    value = unparse_string(match.value)
    if match.op in ("in", "not in"):
        return f"{value} {match.op} {selector}"
    return f"{selector} {match.op} {value}"


def unparse_selector(path: tuple[str, ...]) -> str:
    if IDENT.fullmatch(path[0]):
        if all(IDENT.fullmatch(p) or DIGITS.fullmatch(p) for p in path[1:]):
            return ".".join(path)
        return path[0] + "".join(f"[{unparse_string(p)}]" for p in path[1:])
    if path == ("",):
        return '""'
    encoded = [p.replace("~", "~0").replace("/", "~1") for p in path]
    assert all(SEGMENT.fullmatch(p) for p in encoded), f"no spelling for selector {path!r}"
    return '"' + "".join("/" + p for p in encoded) + '"'


def unparse_string(text: str) -> str:
    if "`" not in text and "\r" not in text:
        return f"`{text}`"
    escaped = "".join(
        f"\\x{ord(c):02x}" if c in '"\\\n\r' or (i == 0 and c == "/") else c for i, c in enumerate(text)
    )
    return f'"{escaped}"'
