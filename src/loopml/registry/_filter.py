"""The filter language of ``search_model_versions``: the runs' language over the fields
of a model version.

::

    name = 'churn' and status = 'READY'
    alias = 'champion' or tags.team IN ('risk', 'growth')
    version >= 3 and run_id LIKE '1a2b%' and created_at > '2026-01-01'

Fields: ``name``, ``version`` (a number), ``status`` (``READY``/``ARCHIVED``),
``run_id``, ``source``, ``description``, ``created_at`` (epoch seconds or an
ISO date, UTC unless it has an offset), ``alias`` (any alias or environment
that points at the version) and ``tags.<key>`` (backticks or double quotes
around a key with other characters: ``tags.`the team```).

Operators, values, ``and``/``or``/``not`` and parentheses are those of
``search_runs``: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE``,
``ILIKE``, ``IN (...)``, their ``NOT`` forms, ``IS [NOT] NULL``. A comparison
never matches a version that lacks the field, except the negative forms on
``alias`` (``alias != 'prod'`` matches the versions prod does not point at).
The parser here only builds the tree; :mod:`loopml.registry._repository`
turns it into SQL.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from loopml.errors import InvalidInput
from loopml.registry._records import ModelStatus

__all__ = ["FIELDS", "And", "Comparison", "Not", "Or", "parse_filter", "parse_order_by"]

#: field -> type: "str", "num" or "time"
FIELDS: dict[str, str] = {
    "name": "str",
    "version": "num",
    "status": "str",
    "run_id": "str",
    "source": "str",
    "description": "str",
    "created_at": "time",
    "alias": "str",
}
_ORDERABLE = ("name", "version", "status", "run_id", "created_at")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_.]))"
    r"|(?P<tagq>tags?\.(?:`[^`]*`|\"(?:[^\"\\]|\\.)*\"))"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.\-/]*)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>==|!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),]))"
)
_MAX_DEPTH = 50


@dataclass(frozen=True)
class Comparison:
    """``field op value``: ``field`` is a name of :data:`FIELDS` or ``tags.<key>``."""

    field: str
    op: str
    value: float | str | tuple[float | str, ...] | None

    @property
    def tag(self) -> str | None:
        """The tag's key when the field is ``tags.<key>``."""
        return self.field[5:] if self.field.startswith("tags.") else None


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | And | Or | Not


class _Error(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            raise _Error(f"unexpected character {text[at]!r}", at)
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def next(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def kw(self, *words: str) -> bool:
        kind, text, _ = self.tok
        return kind == "word" and text.upper() in words

    def punct(self, char: str) -> bool:
        return self.tok[0] == "punct" and self.tok[1] == char

    def fail(self, expected: str) -> _Error:
        kind, text, pos = self.tok
        got = "the end of the filter" if kind == "end" else repr(text)
        return _Error(f"expected {expected}, got {got}", pos)

    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.kw("OR"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.kw("AND"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Error("the filter nests parentheses or 'not' too deeply", self.tok[2])
        try:
            if self.kw("NOT"):
                self.next()
                return Not(self.not_expr())
            if self.punct("("):
                self.next()
                node = self.expr()
                if not self.punct(")"):
                    raise self.fail("')' or 'and'/'or'")
                self.next()
                return node
            return self.comparison()
        finally:
            self.depth -= 1

    def field(self) -> tuple[str, int]:
        kind, text, pos = self.tok
        if kind == "tagq":
            self.next()
            return "tags." + _unquote(text.split(".", 1)[1]), pos
        if kind != "word" or text.upper() in _KEYWORDS:
            raise self.fail(f"a field: tags.<key> or one of {', '.join(FIELDS)}")
        self.next()
        prefix, dot, key = text.partition(".")
        if dot and prefix.lower() in ("tags", "tag") and key:
            return "tags." + key, pos
        name = {"aliases": "alias", "run": "run_id"}.get(text.lower(), text.lower())
        if name not in FIELDS:
            raise _Error(
                f"unknown field {text!r}: expected tags.<key> or one of {', '.join(FIELDS)}",
                pos,
            )
        return name, pos

    def comparison(self) -> Comparison:
        field, _ = self.field()
        kind, text, pos = self.tok
        if kind == "op":
            self.next()
            op = {"==": "=", "<>": "!="}.get(text, text)
            return self.check(field, op, self.value(), pos)
        if self.kw("IS"):
            self.next()
            negate = self.kw("NOT")
            if negate:
                self.next()
            if not self.kw("NULL"):
                raise self.fail("NULL after IS" + (" NOT" if negate else ""))
            self.next()
            return Comparison(field, "IS NOT NULL" if negate else "IS NULL", None)
        negate = self.kw("NOT")
        if negate:
            self.next()
        prefix = "NOT " if negate else ""
        if self.kw("LIKE", "ILIKE"):
            op = prefix + self.next()[1].upper()
            return self.check(field, op, self.value(), pos)
        if self.kw("IN"):
            self.next()
            if not self.punct("("):
                raise self.fail("'(' to start the list")
            self.next()
            values = [self.value()]
            while self.punct(","):
                self.next()
                values.append(self.value())
            if not self.punct(")"):
                raise self.fail("',' or ')' in the list")
            self.next()
            return self.check(field, prefix + "IN", tuple(values), pos)
        raise self.fail(
            f"an operator after {field} (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)"
        )

    def value(self) -> float | str:
        kind, text, _ = self.tok
        if kind == "number":
            self.next()
            return float(text)
        if kind == "string":
            self.next()
            return _unquote(text)
        raise self.fail("a number or a quoted string")

    def check(
        self, field: str, op: str, value: float | str | tuple[float | str, ...], pos: int
    ) -> Comparison:
        values = value if isinstance(value, tuple) else (value,)
        kind = FIELDS.get(field, "str")
        if "LIKE" in op and kind != "str":
            raise _Error(f"{op} compares text, but {field} is a number", pos)
        if kind == "num":
            for v in values:
                if not isinstance(v, float):
                    raise _Error(f"{field} is a number: expected a number, got {v!r}", pos)
        elif kind == "time":
            values = tuple(_time(field, v, pos) for v in values)
        else:
            if field != "status" and any(isinstance(v, float) for v in values):
                if field.startswith("tags.") and "LIKE" not in op:
                    values = tuple(_num_text(v) if isinstance(v, float) else v for v in values)
                else:
                    raise _Error(f"{field} is text: quote the value", pos)
            if field == "status":
                values = tuple(_status(v, op, pos) for v in values)
            elif field == "run_id":
                values = tuple(str(v).lower() for v in values)
        return Comparison(field, op, values if isinstance(value, tuple) else values[0])


def _num_text(v: float) -> str:
    return str(int(v)) if v.is_integer() else repr(v)


def _time(field: str, value: float | str, pos: int) -> float:
    if isinstance(value, float):
        return value
    try:
        moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Error(
            f"{field} takes epoch seconds or an ISO date such as '2026-06-01', got {value!r}",
            pos,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


def _status(value: float | str, op: str, pos: int) -> str:
    text = str(value).upper()
    known = [s.value for s in ModelStatus]
    if "LIKE" not in op and text not in known:
        raise _Error(f"status is one of {', '.join(known)}, got {value!r}", pos)
    return text


def _invalid(text: str, err: _Error, what: str) -> InvalidInput:
    shown = text.replace("\n", " ").replace("\t", " ")
    return InvalidInput(f"invalid {what}: {err.message}\n  {shown}\n  {' ' * err.pos}^")


def parse_filter(text: str) -> Node | None:
    """The tree of ``text``; None for an empty filter. InvalidInput with a caret."""
    if not text.strip():
        return None
    try:
        parser = _Parser(text)
        node = parser.expr()
        if parser.tok[0] != "end":
            raise parser.fail("'and', 'or' or the end of the filter")
    except _Error as err:
        raise _invalid(text, err, "model version filter") from None
    return node


def parse_order_by(text: str) -> tuple[str, bool]:
    """``(field, descending)`` of one ``order_by`` entry such as ``version DESC``."""
    parts = text.split()
    field = parts[0].lower() if parts else ""
    direction = parts[1].upper() if len(parts) == 2 else "ASC"
    if field not in _ORDERABLE or len(parts) > 2 or direction not in ("ASC", "DESC"):
        raise InvalidInput(
            f"invalid order_by entry {text!r}: expected one of {', '.join(_ORDERABLE)}, "
            "optionally followed by ASC or DESC (e.g. 'version DESC')."
        )
    return field, direction == "DESC"
