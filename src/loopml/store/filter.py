"""The grammar of loopml's filter language, shared by every ``search_*`` call.

A filter compares fields with values, combined with ``and``, ``or``, ``not``
and parentheses (keywords in any case)::

    metrics.f1 > 0.9 and not tags.stage IN ('dev', 'test')
    (status = 'FAILED' or name LIKE 'sweep-%') and parent_id IS NULL

This module knows the syntax only: tokens, operators, values, lists,
nesting and the error that points at the position where a filter went
wrong. What a field is, which values it takes and how a comparison becomes
SQL belong to the package that searches (its :class:`Fields`): runs in
:mod:`loopml.tracking`, model versions in :mod:`loopml.registry`.

Operators are ``=`` (or ``==``), ``!=`` (or ``<>``), ``<``, ``<=``, ``>``,
``>=``; ``LIKE``, ``ILIKE`` and their ``NOT`` forms; ``IN (v, ...)``,
``NOT IN (v, ...)``; ``IS NULL``, ``IS NOT NULL``. Values are numbers
(``3``, ``-0.5``, ``1e-3``) and strings in single or double quotes
(backslash escapes the quote). A field is a word of letters, digits and
``_ - . /``; a key with other characters goes in backticks or double quotes
after its prefix (``metrics.`val loss```, ``tags."the team"``).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from loopml.errors import InvalidInput

__all__ = [
    "And",
    "Comparison",
    "Fields",
    "FilterError",
    "Node",
    "Not",
    "Or",
    "Parser",
    "Tok",
    "Value",
    "invalid",
    "num_text",
    "parse",
    "time_value",
    "walk",
]

F = TypeVar("F")
Value = float | str | tuple[float | str, ...] | None

#: words that are never a field
KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})
#: the longest LIKE pattern a filter may hold
MAX_PATTERN = 1000
#: how deep parentheses and ``not`` may nest
MAX_DEPTH = 200


@dataclass(frozen=True)
class Comparison(Generic[F]):
    """``field op value``; op is one of = != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN
    NOT IN IS NULL IS NOT NULL (value None for the last two, a tuple for the IN forms).
    ``field`` is whatever the searching package's :class:`Fields` made of the name."""

    field: F
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison[Any] | And | Or | Not


@dataclass(frozen=True)
class Tok:
    """A token: ``kind`` is word, key, number, string, op, punct or end. A word's
    ``value`` is ``(prefix, key)`` when it is ``prefix.`quoted key```, else None; a
    number's is its float, a string's its unescaped text."""

    kind: str
    text: str
    pos: int
    value: object = None


class FilterError(Exception):
    """A mistake at ``pos`` of the filter; :func:`invalid` turns it into InvalidInput."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Fields(Protocol[F]):
    """What a package searches: its field names and the values each takes."""

    def resolve(self, tok: Tok) -> F:
        """The field a word token names; FilterError when it names none."""
        ...

    def expected(self) -> str:
        """The fields, for "expected ..." in an error (e.g. "tags.<key> or name, version")."""
        ...

    def number(self, field: F, op: str, tok: Tok) -> float | str:
        """The value of a number literal compared with ``field`` (its float, or its text)."""
        ...

    def check(
        self, field: F, op: str, values: tuple[float | str, ...], op_tok: Tok, at: Tok
    ) -> tuple[float | str, ...]:
        """Type-check ``field op values`` and normalise the values; FilterError if wrong."""
        ...


# -- tokens ---------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_.])")
_OPERATOR = re.compile(r"==|!=|<>|<=|>=|=|<|>")


def tokenize(text: str) -> list[Tok]:
    """The tokens of ``text``, ending with an ``end`` token."""
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            toks.append(Tok("punct", c, i))
            i += 1
            continue
        m = _OPERATOR.match(text, i)
        if m:
            toks.append(Tok("op", {"==": "=", "<>": "!="}.get(m.group(), m.group()), i))
            i = m.end()
            continue
        if c in "'\"`":
            value, end = _read_quoted(text, i)
            toks.append(Tok("key" if c == "`" else "string", text[i:end], i, value))
            i = end
            continue
        m = _NUMBER.match(text, i)
        if m:
            toks.append(Tok("number", m.group(), i, float(m.group())))
            i = m.end()
            continue
        m = _WORD.match(text, i)
        if m:
            word, end = m.group(), m.end()
            if word.endswith(".") and end < n and text[end] in '`"':
                key, end = _read_quoted(text, end)
                toks.append(Tok("word", text[i:end], i, (word[:-1], key)))
            else:
                toks.append(Tok("word", word, i))
            i = end
            continue
        raise FilterError(f"unexpected character {c!r}", i)
    toks.append(Tok("end", "", n))
    return toks


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1] if text[i + 1] in (quote, "\\") else c + text[i + 1])
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    what = "key" if quote == "`" else "string"
    raise FilterError(f"this {what} is never closed: expected a closing {quote}", start)


# -- parser ---------------------------------------------------------------------------


class Parser(Generic[F]):
    """A recursive-descent parser of one filter (or one ``order_by`` entry)."""

    def __init__(self, text: str, fields: Fields[F]) -> None:
        self.fields = fields
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        tok = self.tok
        return tok.kind == "word" and tok.value is None and tok.text.upper() in words

    def is_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == char

    def fail(self, expected: str) -> FilterError:
        tok = self.tok
        got = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        return FilterError(f"expected {expected}, got {got}", tok.pos)

    # expr := and_expr (OR and_expr)*
    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    # and_expr := not_expr (AND not_expr)*
    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.is_kw("AND"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    # not_expr := NOT not_expr | '(' expr ')' | comparison
    def not_expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError("the filter nests parentheses or 'not' too deeply", self.tok.pos)
        try:
            if self.is_kw("NOT"):
                self.next()
                return Not(self.not_expr())
            if self.is_punct("("):
                self.next()
                node = self.expr()
                if not self.is_punct(")"):
                    raise self.fail("')' or 'and'/'or'")
                self.next()
                return node
            return self.comparison()
        finally:
            self.depth -= 1

    def field(self) -> F:
        tok = self.tok
        if tok.kind != "word" or (tok.value is None and tok.text.upper() in KEYWORDS):
            raise self.fail(self.fields.expected())
        self.next()
        return self.fields.resolve(tok)

    def comparison(self) -> Comparison[F]:
        field = self.field()
        op_tok = self.tok
        if op_tok.kind == "op":
            self.next()
            return self._checked(field, op_tok.text, op_tok, lists=False)
        if self.is_kw("IS"):
            self.next()
            negate = self.is_kw("NOT")
            if negate:
                self.next()
            if not self.is_kw("NULL"):
                raise self.fail("NULL after IS" + (" NOT" if negate else ""))
            self.next()
            return Comparison(field, "IS NOT NULL" if negate else "IS NULL", None)
        prefix = ""
        if self.is_kw("NOT"):
            self.next()
            prefix = "NOT "
        if self.is_kw("LIKE", "ILIKE"):
            op = prefix + self.next().text.upper()
            return self._checked(field, op, op_tok, lists=False)
        if self.is_kw("IN"):
            self.next()
            return self._checked(field, prefix + "IN", op_tok, lists=True)
        raise self.fail(
            f"an operator after {field} (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)"
        )

    def _checked(self, field: F, op: str, op_tok: Tok, *, lists: bool) -> Comparison[F]:
        at = self.tok
        values = self.value_list(field, op) if lists else (self.value(field, op),)
        if "LIKE" in op:
            pattern = str(values[0])
            if len(pattern) > MAX_PATTERN:
                raise FilterError(f"a {op} pattern holds at most {MAX_PATTERN} characters", at.pos)
            trailing = len(pattern) - len(pattern.rstrip("\\"))
            if trailing % 2 == 1:
                raise FilterError(
                    f"the {op} pattern ends in an escaping '\\': escape it too ('\\\\') "
                    "or remove it",
                    at.pos,
                )
        values = self.fields.check(field, op, values, op_tok, at)
        return Comparison(field, op, values if lists else values[0])

    def value(self, field: F, op: str) -> float | str:
        tok = self.tok
        if tok.kind == "number":
            self.next()
            return self.fields.number(field, op, tok)
        if tok.kind == "string":
            self.next()
            return str(tok.value)
        raise self.fail(f"a number or a quoted string after {op}")

    def value_list(self, field: F, op: str) -> tuple[float | str, ...]:
        if not self.is_punct("("):
            raise self.fail(f"'(' to start the list after {op}")
        self.next()
        values = [self.value(field, op)]
        while self.is_punct(","):
            self.next()
            values.append(self.value(field, op))
        if not self.is_punct(")"):
            raise self.fail("',' or ')' in the list")
        self.next()
        return tuple(values)


def invalid(text: str, err: FilterError, what: str = "filter") -> InvalidInput:
    """InvalidInput showing ``text`` with a ``^`` under where it went wrong."""
    shown = text.replace("\n", " ").replace("\t", " ")
    return InvalidInput(f"invalid {what}: {err.message}\n  {shown}\n  {' ' * err.pos}^")


def parse(text: str | None, fields: Fields[Any], what: str = "filter") -> Node | None:
    """The tree of a filter; None for an empty one. InvalidInput with a caret."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"a {what} must be a string, got {type(text).__name__} {text!r}.")
    if not text.strip():
        return None
    try:
        parser = Parser(text, fields)
        node = parser.expr()
        if parser.tok.kind != "end":
            raise parser.fail("'and', 'or' or the end of the filter")
    except FilterError as err:
        raise invalid(text, err, what) from None
    except RecursionError:
        raise InvalidInput(
            f"invalid {what}: it nests parentheses or 'not' too deeply; simplify it."
        ) from None
    return node


def walk(node: Node | None) -> list[Comparison[Any]]:
    """The comparisons of a tree, left to right."""
    out: list[Comparison[Any]] = []
    stack: list[Node] = [] if node is None else [node]
    while stack:
        item = stack.pop(0)
        if isinstance(item, Comparison):
            out.append(item)
        elif isinstance(item, (And, Or)):
            stack[:0] = list(item.items)
        else:
            stack.insert(0, item.item)
    return out


def num_text(v: float) -> str:
    """A number as a user typed it: ``3`` for 3.0, ``0.5`` for 0.5."""
    return str(int(v)) if v.is_integer() else repr(v)


def time_value(field: object, value: float | str, pos: int) -> float:
    """Epoch seconds of a number or an ISO date/time (UTC unless it has an offset)."""
    if isinstance(value, float):
        return value
    try:
        moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{field} takes epoch seconds or an ISO date such as '2024-06-01' or "
            f"'2024-06-01T12:00:00+02:00', got {value!r}",
            pos,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()
