"""The `[filter]` of an artifact path: hashicorp/go-bexpr's expression language, parsed.

Where it sits: `artifact_paths.py` splits `component:output[:index][filter]`; this pure module turns
the filter into an expression tree, and `artifact_filter_eval.py` evaluates it on an artifact's
metadata. kfp-operator hands the filter to go-bexpr v0.1.16 (the version in its go.mod); the grammar
below is that version's PEG (`grammar/grammar.peg`), read and rewritten here, ordered choice and all:

    input    = _? or _? EOF                      (_ is one or more of space, tab, CR, LF)
    or       = and (_ "or" _ and)*
    and      = not (_ "and" _ not)*
    not      = "not" _ not | group               ("not == 1" compares a key named not)
    group    = "(" _? or _? ")" | match
    match    = selector (_? "==" _? | _? "!=" _? | _ "contains" _ | _ "not" _ "contains" _
                         | _ "matches" _ | _ "not" _ "matches" _) value
             | selector (_ "is" _ "empty" | _ "is" _ "not" _ "empty" | _ "is" _ "nil" | _ "is" _ "not" _ "nil")
             | value (_ "in" _ | _ "not" _ "in" _) selector
    selector = ident ("." ident | "." [0-9]+ | "[" _? string _? "]")*  |  '"' ("/" segment)* '"'  (JSON pointer)
    ident    = [a-zA-Z] [a-zA-Z0-9_/]*
    value    = selector | number | string        (a selector as a value stands for its text: env == prod)
    number   = "-"? ("0" | [1-9][0-9]*) ("." [0-9]+)?   then _, ")" or EOF
    string   = "`" raw "`" | '"' Go escapes '"'  (no '"' inside, not even escaped)

Not supported: go-bexpr's `any`/`all` collection expressions (a clear ValueError). `X contains Y`
is go-bexpr's `Y in X` and is kept as such. A `matches` pattern is compiled here, so a bad one is a
malformed filter rather than, as in go-bexpr, an error only when evaluated. Nesting is bounded
(`MAX_NESTING` parentheses) so that no text can exhaust the stack.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeAlias

__all__ = [
    "MAX_NESTING",
    "And",
    "Expression",
    "Filter",
    "Match",
    "Not",
    "Or",
    "parse_filter",
]

MAX_NESTING = 48
_WS = " \t\r\n"
_IDENT = re.compile(r"[a-zA-Z][a-zA-Z0-9_/]*")
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_COLLECTION = re.compile(r"(?:any|all)[ \t\r\n]+\S+[ \t\r\n]+as[ \t\r\n]")
_SEGMENT_EXTRA = frozenset("-_.~:|")

# (the words of an operator, `_` mandatory and `_?` optional whitespace; its name in the tree)
_Ops = tuple[tuple[tuple[str, ...], str], ...]
_COMPARISONS: _Ops = (
    (("_?", "==", "_?"), "=="),
    (("_?", "!=", "_?"), "!="),
    (("_", "contains", "_"), "in"),
    (("_", "not", "_", "contains", "_"), "not in"),
    (("_", "matches", "_"), "matches"),
    (("_", "not", "_", "matches", "_"), "not matches"),
)
_CHECKS: _Ops = (
    (("_", "is", "_", "empty"), "is empty"),
    (("_", "is", "_", "not", "_", "empty"), "is not empty"),
    (("_", "is", "_", "nil"), "is nil"),
    (("_", "is", "_", "not", "_", "nil"), "is not nil"),
)
_MEMBERSHIP: _Ops = ((("_", "in", "_"), "in"), (("_", "not", "_", "in", "_"), "not in"))


@dataclass(frozen=True)
class Match:
    """One comparison: `selector` is the path into the metadata, `value` go-bexpr's raw text."""

    selector: tuple[str, ...]
    op: str
    value: str | None = None


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class And:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expression, ...]


Expression: TypeAlias = Match | Not | And | Or
_Rule: TypeAlias = Callable[[int], "tuple[Expression, int] | None"]


@dataclass(frozen=True)
class Filter:
    """A parsed filter; equal when the trees are, whatever the spelling."""

    expression: Expression
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.text


def parse_filter(text: str) -> Filter:
    """The filter `text` as go-bexpr would parse it; ValueError says where and why it does not."""
    return Filter(_Parser(text).parse(), text)


def _negate(expression: Expression) -> Expression:
    # go-bexpr drops double negations while parsing; so does this tree
    return expression.operand if isinstance(expression, Not) else Not(expression)


def _joined(kind: type[And] | type[Or], items: list[Expression]) -> Expression:
    if len(items) == 1:
        return items[0]
    flat: list[Expression] = []
    for item in items:  # (a and b) and c == a and b and c: same order, same short-circuit
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


class _Parser:
    """Ordered choice over the text, as go-bexpr's PEG: each rule answers (result, end) or None."""

    def __init__(self, text: str) -> None:
        self.text, self.end, self.depth = text, len(text), 0

    def fail(self, at: int, why: str) -> NoReturn:
        near = self.text[at : at + 20]
        where = f"near {near!r}" if near else "at the end"
        raise ValueError(f"filter {self.text!r}: {why} at offset {at} ({where})")

    def parse(self) -> Expression:
        start = self._ws(0)
        got = self._or(start)
        if got is None:
            self.fail(start, "not a go-bexpr expression")
        expression, end = got
        if self._ws(end) != self.end:
            self.fail(self._ws(end), "unexpected text")
        return expression

    # -- terminals ----------------------------------------------------------------------
    def _ws(self, i: int) -> int:
        while i < self.end and self.text[i] in _WS:
            i += 1
        return i

    def _seq(self, i: int | None, parts: tuple[str, ...]) -> int | None:
        for part in parts:
            if i is None:
                return None
            if part == "_?":
                i = self._ws(i)
            elif part == "_":
                j = self._ws(i)
                i = j if j > i else None
            else:
                i = i + len(part) if self.text.startswith(part, i) else None
        return i

    def _op(self, i: int, table: _Ops) -> tuple[str, int] | None:
        for parts, name in table:
            end = self._seq(i, parts)
            if end is not None:
                return name, end
        return None

    # -- rules ----------------------------------------------------------------------------
    def _or(self, i: int) -> tuple[Expression, int] | None:
        return self._chain(i, "or", self._or_item, Or)

    def _or_item(self, i: int) -> tuple[Expression, int] | None:
        got = self._and(i)
        if got is None and _COLLECTION.match(self.text, i):
            self.fail(i, "go-bexpr's any/all collection expressions are not supported")
        return got

    def _and(self, i: int) -> tuple[Expression, int] | None:
        return self._chain(i, "and", self._not, And)

    def _chain(
        self, i: int, word: str, item: _Rule, kind: type[And] | type[Or]
    ) -> tuple[Expression, int] | None:
        got = item(i)
        if got is None:
            return None
        items, end = [got[0]], got[1]
        while True:  # a loop, not go-bexpr's right recursion: a long chain cannot exhaust the stack
            after = self._seq(end, ("_", word, "_"))
            following = item(after) if after is not None else None
            if following is None:
                return _joined(kind, items), end
            items.append(following[0])
            end = following[1]

    def _not(self, i: int) -> tuple[Expression, int] | None:
        starts = [i]
        while (after := self._seq(starts[-1], ("not", "_"))) is not None:
            starts.append(after)
        for negations in range(len(starts) - 1, -1, -1):  # PEG backtracking: the last "not" may be a key
            got = self._group(starts[negations])
            if got is not None:
                expression = got[0]
                for _ in range(negations):
                    expression = _negate(expression)
                return expression, got[1]
        return None

    def _group(self, i: int) -> tuple[Expression, int] | None:
        if not self.text.startswith("(", i):
            return self._match(i)
        if self.depth >= MAX_NESTING:
            self.fail(i, f"more than {MAX_NESTING} nested parentheses")
        self.depth += 1
        try:
            inner = self._or(self._ws(i + 1))
        finally:
            self.depth -= 1
        if inner is None:
            return None
        close = self._ws(inner[1])
        if not self.text.startswith(")", close):
            self.fail(close, "unmatched parenthesis")
        return inner[0], close + 1

    def _match(self, i: int) -> tuple[Expression, int] | None:
        selector = self._selector(i)
        if selector is not None:
            path, end, _ = selector
            op = self._op(end, _COMPARISONS)
            if op is not None:
                value = self._value(op[1])
                if value is not None:
                    return self._comparison(path, op[0], value[0], i), value[1]
            check = self._op(end, _CHECKS)
            if check is not None:
                return Match(path, check[0]), check[1]
        value = self._value(i)
        if value is not None:
            op = self._op(value[1], _MEMBERSHIP)
            if op is not None:
                haystack = self._selector(op[1])
                if haystack is None:
                    self.fail(op[1], "invalid selector")
                return Match(haystack[0], op[0], value[0]), haystack[1]
        return None

    def _comparison(self, path: tuple[str, ...], op: str, value: str, at: int) -> Match:
        if op in ("matches", "not matches"):
            try:
                re.compile(value)
            except re.error as exc:
                self.fail(at, f"invalid regular expression {value!r}: {exc}")
        return Match(path, op, value)

    def _selector(self, i: int) -> tuple[tuple[str, ...], int, bool] | None:
        """(path, end, dotted): `a.b.0["c"]`, or a JSON pointer in double quotes `"/a/b"`."""
        first = _IDENT.match(self.text, i)
        if first is not None:
            parts, end = [first.group()], first.end()
            while True:
                if self.text.startswith(".", end):
                    part = _IDENT.match(self.text, end + 1) or _DIGITS.match(self.text, end + 1)
                    if part is None:
                        break
                    parts.append(part.group())
                    end = part.end()
                elif self.text.startswith("[", end):
                    key = self._string(self._ws(end + 1))
                    if key is None:
                        self.fail(end, "invalid index")
                    close = self._ws(key[1])
                    if not self.text.startswith("]", close):
                        self.fail(close, "unclosed index expression")
                    parts.append(key[0])
                    end = close + 1
                else:
                    break
            return tuple(parts), end, True
        if not self.text.startswith('"', i):
            return None
        segments, end = [], i + 1
        while self.text.startswith("/", end):
            stop = end + 1
            while stop < self.end and _segment_char(self.text[stop]):
                stop += 1
            if stop == end + 1:
                break
            segments.append(self.text[end + 1 : stop])
            end = stop
        if not self.text.startswith('"', end):
            return None
        # pointerstructure's decoding: "/" alone is the key "", ~1 is "/", ~0 is "~"
        path = tuple(s.replace("~1", "/").replace("~0", "~") for s in (segments or [""]))
        return path, end + 1, False

    def _value(self, i: int) -> tuple[str, int] | None:
        selector = self._selector(i)
        if selector is not None:
            path, end, dotted = selector
            return (".".join(path) if dotted else "/".join(path)), end
        number = _NUMBER.match(self.text, i)
        if number is not None:
            end = number.end()
            if end == self.end or self.text[end] in _WS or self.text[end] == ")":
                return number.group(), end
            self.fail(i, "invalid number literal")
        return self._string(i)

    def _string(self, i: int) -> tuple[str, int] | None:
        quote = self.text[i : i + 1]
        if quote not in ("`", '"'):
            return None
        close = self.text.find(quote, i + 1)
        if close < 0:
            self.fail(i, "unterminated string literal")
        body = self.text[i + 1 : close]
        if quote == "`":
            return body.replace("\r", ""), close + 1  # Go drops CR from raw strings
        try:
            return _unquote(body), close + 1
        except ValueError as exc:
            self.fail(i, f"invalid string literal: {exc}")


def _segment_char(char: str) -> bool:
    return char in _SEGMENT_EXTRA or unicodedata.category(char)[0] in "LN"


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX = frozenset("0123456789abcdefABCDEF")


def _unquote(body: str) -> str:
    """The text of a double-quoted Go string literal (strconv.Unquote), without its quotes.

    A byte escape (\\xff, \\377) above 0x7f stands for a raw byte in Go, which is no text: it becomes
    a lone surrogate here, so that it equals no metadata string, as in Go.
    """
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\n":
            raise ValueError("a newline inside double quotes")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        kind = body[i + 1 : i + 2]
        if kind in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[kind])
            i += 2
        elif kind in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not set(digits) <= _HEX:
                raise ValueError(f"bad \\{kind} escape")
            code = int(digits, 16)
            if kind != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
                raise ValueError(f"\\{kind}{digits} is not a character")
            out.append(_byte(code) if kind == "x" else chr(code))
            i += 2 + width
        elif kind and kind in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                raise ValueError("bad octal escape")
            out.append(_byte(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{kind}")
    return "".join(out)


def _byte(code: int) -> str:
    return chr(code) if code < 0x80 else chr(0xDC00 + code)
