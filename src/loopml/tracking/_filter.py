"""The filter language of ``search_runs``, parsed into a small syntax tree.

A filter compares fields of a run with values, combined with ``and``,
``or``, ``not`` and parentheses (keywords in any case)::

    metrics.f1 > 0.9 and params.model = 'rf'
    (status = 'FAILED' or status = 'KILLED') and start_time >= '2024-06-01'
    metrics.`val-loss` < 1e-3 and not tags.stage IN ('dev', 'test')
    name LIKE 'sweep-%' and parent_id IS NULL

Fields
    ``metrics.<key>``  the latest value of a metric (a number)
    ``params.<key>``   a param (stored with its JSON type; nested params are
                       dotted keys: ``params.model.lr``)
    ``tags.<key>``     a tag (a string)
    attributes, bare or as ``attributes.<name>``:
    ``id`` (alias ``run_id``), ``name`` (alias ``run_name``), ``experiment``,
    ``status``, ``kind``, ``user``, ``parent_id``, ``git_commit``,
    ``git_branch``, ``host`` (strings); ``start_time``, ``end_time`` (epoch
    seconds, or an ISO date/time string, UTC unless it has an offset);
    ``duration`` (seconds, None while running).

    ``dataset``: the dataset versions the run read (``run.use_dataset``, a
    pipeline's dataset parameters and steps), each ``data:/name@N``:
    ``dataset = 'data:/iris@3'`` (or ``'iris@3'``) finds the runs that read
    it, ``dataset LIKE 'data:/iris@%'`` those that read any version of it,
    ``!=``, ``NOT IN`` and ``NOT LIKE`` those that read none of them, and
    ``dataset IS NULL`` those that read no dataset.

    Keys are letters, digits and ``_ - . /``; any other key goes in
    backticks or double quotes: ``metrics.`val loss```, ``params."a b"``.

Operators
    ``=`` (or ``==``), ``!=`` (or ``<>``), ``<``, ``<=``, ``>``, ``>=``;
    ``LIKE``, ``ILIKE`` (case-insensitive) and their ``NOT`` forms, with
    ``%`` for any text and ``_`` for one character (``\\`` escapes them);
    ``IN (v, ...)``, ``NOT IN (v, ...)``; ``IS NULL``, ``IS NOT NULL``.

Values
    Numbers (``3``, ``-0.5``, ``1e-3``) and strings in single or double
    quotes (backslash escapes the quote). Metrics, times and ``duration``
    take numbers; tags and other attributes take strings (an unquoted
    number after ``=``, ``!=`` or ``IN`` on a tag means its text).
    ``status`` is matched in upper case.

    Params take both. A number compares numerically with params whose
    value is a number (``params.max_depth >= 4``, ``params.lr = 0.1``
    matches ``0.10`` too; ``!=`` also keeps params that are not numbers);
    a quoted value compares as text with the param's text, which for a
    number or boolean is its JSON text (``params.max_depth != '1'``,
    ``params.model = 'rf'``, ``params.early_stop = 'true'``). Sorting by a
    param puts numbers first in numeric order, then text.

A comparison never matches a run that lacks the field: ``metrics.f1 < 0.5``
skips runs without ``f1``; ``metrics.f1 IS NULL`` finds them. A malformed
filter raises :class:`~loopml.errors.InvalidInput` showing the filter with
a ``^`` under the position where it went wrong and what was expected there.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from loopml import _validate
from loopml.errors import InvalidInput
from loopml.tracking._records import RunStatus
from loopml.uri import parse_data_uri

__all__ = [
    "ATTRIBUTES",
    "And",
    "Comparison",
    "Field",
    "MentionedKeys",
    "Node",
    "Not",
    "Or",
    "OrderKey",
    "mentioned_keys",
    "parse_filter",
    "parse_order_by",
]

#: attribute name -> type: "str", "time" (epoch seconds) or "num"
ATTRIBUTES: dict[str, str] = {
    "id": "str",
    "name": "str",
    "experiment": "str",
    "status": "str",
    "kind": "str",
    "user": "str",
    "parent_id": "str",
    "git_commit": "str",
    "git_branch": "str",
    "host": "str",
    "start_time": "time",
    "end_time": "time",
    "duration": "num",
}
_ALIASES = {"run_id": "id", "run_name": "name", "experiment_name": "experiment"}
_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attr",
    "attribute": "attr",
    "attr": "attr",
    "run": "attr",
}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})

Value = float | str | tuple[float | str, ...] | None


@dataclass(frozen=True)
class Field:
    """What a comparison looks at: ``kind`` is metric, param, tag or attr; ``key`` its name."""

    kind: str
    key: str
    pos: int = 0

    def __str__(self) -> str:
        return self.key if self.kind in ("attr", "dataset") else f"{self.kind}s.{self.key}"


@dataclass(frozen=True)
class Comparison:
    """``field op value``; op is one of = != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN
    NOT IN IS NULL IS NOT NULL (value None for the last two, a tuple for IN)."""

    field: Field
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


Node = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry: a field and a direction."""

    field: Field
    descending: bool = False


# -- tokens ---------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_.])")
_OPERATOR = re.compile(r"==|!=|<>|<=|>=|=|<|>")


@dataclass(frozen=True)
class _Tok:
    kind: str  # word, key, number, string, op, punct, end
    text: str
    pos: int
    value: object = None


class _Error(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            toks.append(_Tok("punct", c, i))
            i += 1
            continue
        m = _OPERATOR.match(text, i)
        if m:
            op = {"==": "=", "<>": "!="}.get(m.group(), m.group())
            toks.append(_Tok("op", op, i))
            i = m.end()
            continue
        if c in "'\"":
            value, end = _read_quoted(text, i)
            toks.append(_Tok("string", text[i:end], i, value))
            i = end
            continue
        if c == "`":
            value, end = _read_quoted(text, i)
            toks.append(_Tok("key", text[i:end], i, value))
            i = end
            continue
        m = _NUMBER.match(text, i)
        if m:
            toks.append(_Tok("number", m.group(), i, float(m.group())))
            i = m.end()
            continue
        m = _WORD.match(text, i)
        if m:
            word = m.group()
            end = m.end()
            if word.endswith(".") and end < n and text[end] in '`"':
                key, end = _read_quoted(text, end)
                toks.append(_Tok("word", text[i:end], i, (word[:-1], key)))
            else:
                toks.append(_Tok("word", word, i, None))
            i = end
            continue
        raise _Error(f"unexpected character {c!r}", i)
    toks.append(_Tok("end", "", n))
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
    raise _Error(f"this {what} is never closed: expected a closing {quote}", start)


# -- parser ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        tok = self.tok
        return tok.kind == "word" and tok.value is None and tok.text.upper() in words

    def fail(self, expected: str, tok: _Tok | None = None) -> _Error:
        tok = tok or self.tok
        got = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        return _Error(f"expected {expected}, got {got}", tok.pos)

    # expr := and_expr (OR and_expr)*
    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.is_kw("AND"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.is_kw("NOT"):
            self.next()
            return Not(self.not_expr())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.next()
            node = self.expr()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.fail("')' or 'and'/'or'")
            self.next()
            return node
        return self.comparison()

    def field(self) -> Field:
        tok = self.tok
        if tok.kind != "word" or (tok.value is None and tok.text.upper() in _KEYWORDS):
            raise self.fail(
                "a field such as metrics.<key>, params.<key>, tags.<key> or an attribute "
                f"({', '.join(ATTRIBUTES)})"
            )
        self.next()
        if isinstance(tok.value, tuple):
            prefix, key = tok.value
        elif "." in tok.text:
            prefix, key = tok.text.split(".", 1)
        else:
            prefix, key = "", tok.text
        if not prefix and not isinstance(tok.value, tuple) and key.lower() == "dataset":
            return Field("dataset", "dataset", tok.pos)
        if prefix:
            kind = _PREFIXES.get(prefix.lower())
            if kind is None:
                raise _Error(
                    f"unknown field prefix {prefix!r}: expected metrics., params., tags. "
                    "or attributes.",
                    tok.pos,
                )
        else:
            kind = "attr"
        if not key:
            raise _Error(f"expected a key after {prefix}.", tok.pos + len(tok.text))
        if kind == "attr":
            name = _ALIASES.get(key.lower(), key.lower())
            if name not in ATTRIBUTES:
                raise _Error(
                    f"unknown attribute {key!r}: expected metrics.<key>, params.<key>, "
                    f"tags.<key>, dataset or one of {', '.join(ATTRIBUTES)}",
                    tok.pos,
                )
            key = name
        return Field(kind, key, tok.pos)

    def comparison(self) -> Comparison:
        field = self.field()
        tok = self.tok
        if tok.kind == "op":
            self.next()
            at = self.tok
            return self.check(field, tok.text, self.value(field, tok.text), tok, at)
        if self.is_kw("IS"):
            self.next()
            negate = self.is_kw("NOT")
            if negate:
                self.next()
            if not self.is_kw("NULL"):
                raise self.fail("NULL after IS" + (" NOT" if negate else ""))
            self.next()
            return Comparison(field, "IS NOT NULL" if negate else "IS NULL", None)
        negate = False
        if self.is_kw("NOT"):
            self.next()
            negate = True
        if self.is_kw("LIKE", "ILIKE"):
            op = ("NOT " if negate else "") + self.next().text.upper()
            at = self.tok
            return self.check(field, op, self.value(field, op), tok, at)
        if self.is_kw("IN"):
            self.next()
            op = "NOT IN" if negate else "IN"
            at = self.tok
            return self.check(field, op, self.value_list(field, op), tok, at)
        raise self.fail(
            f"an operator after {field} (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)"
        )

    def value(self, field: Field, op: str) -> float | str:
        tok = self.tok
        if tok.kind == "number":
            self.next()
            return _number_value(field, op, tok)
        if tok.kind == "string":
            self.next()
            return str(tok.value)
        raise self.fail(f"a number or a quoted string after {op}")

    def value_list(self, field: Field, op: str) -> tuple[float | str, ...]:
        if not (self.tok.kind == "punct" and self.tok.text == "("):
            raise self.fail(f"'(' to start the list after {op}")
        self.next()
        values = [self.value(field, op)]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.next()
            values.append(self.value(field, op))
        if not (self.tok.kind == "punct" and self.tok.text == ")"):
            raise self.fail("',' or ')' in the list")
        self.next()
        return tuple(values)

    def check(self, field: Field, op: str, value: Value, op_tok: _Tok, at: _Tok) -> Comparison:
        """Type-check ``field op value`` and normalise the value."""
        assert value is not None
        values: tuple[float | str, ...] = value if isinstance(value, tuple) else (value,)
        kind = _field_type(field)
        if kind in ("num", "time") and "LIKE" in op:
            raise _Error(f"{op} compares text, but {field} is a number", op_tok.pos)
        if "LIKE" in op:
            pattern = str(values[0])
            if len(pattern) > _MAX_PATTERN:
                raise _Error(f"a {op} pattern holds at most {_MAX_PATTERN} characters", at.pos)
            if _ends_in_escape(pattern):
                raise _Error(
                    f"the {op} pattern ends in an escaping '\\': escape it too ('\\\\') "
                    "or remove it",
                    at.pos,
                )
        if field.kind == "param":
            # a number compares numerically, a quoted value as text (see the docstring)
            if "LIKE" in op and isinstance(values[0], float):
                raise _Error(
                    f"{op} compares text: quote the value ('{_num_text(values[0])}')", at.pos
                )
        elif kind == "num":
            for v in values:
                if not isinstance(v, float):
                    raise _Error(f"{field} is a number: expected a number, got '{v}'", at.pos)
        elif kind == "time":
            values = tuple(_time_value(field, v, at.pos) for v in values)
        else:
            for v in values:
                if isinstance(v, float):
                    raise _Error(
                        f"{field} is text: quote the value ('{_num_text(v)}') to compare text",
                        at.pos,
                    )
            if field.kind == "dataset":
                values = tuple(_dataset_value(op, str(v), op_tok, at) for v in values)
            elif field.kind == "attr" and field.key == "status":
                values = tuple(_status_value(str(v), at.pos) for v in values)
            elif field.kind == "attr" and field.key in ("id", "parent_id"):
                values = tuple(str(v).lower() for v in values)
        result: Value = values if isinstance(value, tuple) else values[0]
        return Comparison(field, op, result)


_MAX_PATTERN = 1000


def _ends_in_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def _dataset_value(op: str, value: str, op_tok: _Tok, at: _Tok) -> str:
    """A version a run may have read, as ``data:/name@N`` (``iris@3`` is accepted)."""
    if op in ("<", "<=", ">", ">="):
        raise _Error(
            "dataset is the set of versions a run read: compare it with =, !=, IN, NOT IN, "
            f"LIKE or IS NULL, not {op}",
            op_tok.pos,
        )
    if "LIKE" in op:
        return value
    try:
        ref = parse_data_uri(value)
    except InvalidInput:
        ref = None
    if ref is None or ref.version is None:
        name = ref.name if ref is not None else "name"
        raise _Error(
            f"dataset {op} takes versions such as 'data:/{name}@3', got {value!r}; match "
            f"every version with dataset LIKE 'data:/{name}@%'",
            at.pos,
        )
    return str(ref)


def _field_type(field: Field) -> str:
    if field.kind == "metric":
        return "num"
    if field.kind == "attr":
        return ATTRIBUTES[field.key]
    return "str"


def _number_value(field: Field, op: str, tok: _Tok) -> float | str:
    """A number literal; on a tag with =, != or IN it stands for its own text."""
    if field.kind == "tag" and op in ("=", "!=", "IN", "NOT IN"):
        return tok.text
    assert isinstance(tok.value, float)
    return tok.value


def _num_text(v: float) -> str:
    return str(int(v)) if v.is_integer() else repr(v)


def _time_value(field: Field, value: float | str, pos: int) -> float:
    if isinstance(value, float):
        return value
    try:
        moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Error(
            f"{field} takes epoch seconds or an ISO date such as '2024-06-01' or "
            f"'2024-06-01T12:00:00+02:00', got {value!r}",
            pos,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


_STATUSES = tuple(s.value for s in RunStatus if s is not RunStatus.SKIPPED)


def _status_value(value: str, pos: int) -> str:
    upper = value.upper()
    if upper not in _STATUSES and "%" not in value and "_" not in value:
        raise _Error(f"status is one of {', '.join(_STATUSES)}, got {value!r}", pos)
    return upper


def _invalid(text: str, err: _Error, what: str = "filter") -> InvalidInput:
    shown = text.replace("\n", " ").replace("\t", " ")
    return InvalidInput(f"invalid {what}: {err.message}\n  {shown}\n  {' ' * err.pos}^")


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string; None for an empty one. Raises InvalidInput with a caret."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"a filter must be a string, got {type(text).__name__} {text!r}.")
    if not text.strip():
        return None
    try:
        parser = _Parser(text)
        node = parser.expr()
        if parser.tok.kind != "end":
            raise parser.fail("'and', 'or' or the end of the filter")
    except _Error as err:
        raise _invalid(text, err) from None
    except RecursionError:
        raise InvalidInput(
            "invalid filter: it nests parentheses or 'not' too deeply; simplify it."
        ) from None
    return node


def parse_order_by(text: str) -> OrderKey:
    """Parse one ``order_by`` entry: ``metrics.f1 DESC``, ``start_time``, ``params.lr ASC``."""
    if not isinstance(text, str):
        raise InvalidInput(f"an order_by entry must be a string, got {type(text).__name__}.")
    try:
        parser = _Parser(text)
        field = parser.field()
        if field.kind == "dataset":
            raise _Error("runs cannot be sorted by the datasets they read", field.pos)
        descending = False
        if parser.is_kw("ASC", "DESC"):
            descending = parser.next().text.upper() == "DESC"
        if parser.tok.kind != "end":
            raise parser.fail("ASC, DESC or the end of the entry")
    except _Error as err:
        raise _invalid(text, err, "order_by entry") from None
    return OrderKey(field, descending)


@dataclass(frozen=True)
class MentionedKeys:
    """The metric, param and tag keys a filter and an ``order_by`` name, in order of
    appearance (order keys first): the columns a listing of the runs found should show."""

    metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def mentioned_keys(filter: str | None = "", order_by: list[str] | None = None) -> MentionedKeys:
    """The keys ``filter`` and ``order_by`` mention, by kind (see :class:`MentionedKeys`).

    Example::

        mentioned_keys("metrics.f1 > 0.9 and params.model = 'rf'", ["metrics.loss"])
        # MentionedKeys(metrics=('loss', 'f1'), params=('model',), tags=())
    """
    fields = [parse_order_by(o).field for o in _validate.texts(order_by, "order_by")]
    stack: list[Node] = []
    node = parse_filter(filter)
    if node is not None:
        stack.append(node)
    found: list[Field] = []
    while stack:
        item = stack.pop(0)
        if isinstance(item, Comparison):
            found.append(item.field)
        elif isinstance(item, (And, Or)):
            stack[:0] = list(item.items)
        else:
            stack.insert(0, item.item)
    fields += found
    keys: dict[str, list[str]] = {"metric": [], "param": [], "tag": []}
    for f in fields:
        if f.kind in keys and f.key not in keys[f.kind]:
            keys[f.kind].append(f.key)
    return MentionedKeys(tuple(keys["metric"]), tuple(keys["param"]), tuple(keys["tag"]))
