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

from dataclasses import dataclass

from loopml import _validate
from loopml.errors import InvalidInput
from loopml.store.filter import (
    And,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    Parser,
    Tok,
    Value,
    invalid,
    num_text,
    parse,
    time_value,
    walk,
)
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
    "Value",
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


@dataclass(frozen=True)
class Field:
    """What a comparison looks at: ``kind`` is metric, param, tag or attr; ``key`` its name."""

    kind: str
    key: str
    pos: int = 0

    def __str__(self) -> str:
        return self.key if self.kind in ("attr", "dataset") else f"{self.kind}s.{self.key}"


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry: a field and a direction."""

    field: Field
    descending: bool = False


class _RunFields:
    """The fields of a run (see the module's docstring)."""

    def expected(self) -> str:
        return (
            "a field such as metrics.<key>, params.<key>, tags.<key> or an attribute "
            f"({', '.join(ATTRIBUTES)})"
        )

    def resolve(self, tok: Tok) -> Field:
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
                raise FilterError(
                    f"unknown field prefix {prefix!r}: expected metrics., params., tags. "
                    "or attributes.",
                    tok.pos,
                )
        else:
            kind = "attr"
        if not key:
            raise FilterError(f"expected a key after {prefix}.", tok.pos + len(tok.text))
        if kind == "attr":
            name = _ALIASES.get(key.lower(), key.lower())
            if name not in ATTRIBUTES:
                raise FilterError(
                    f"unknown attribute {key!r}: expected metrics.<key>, params.<key>, "
                    f"tags.<key>, dataset or one of {', '.join(ATTRIBUTES)}",
                    tok.pos,
                )
            key = name
        return Field(kind, key, tok.pos)

    def number(self, field: Field, op: str, tok: Tok) -> float | str:
        """A number literal; on a tag with =, != or IN it stands for its own text."""
        if field.kind == "tag" and op in ("=", "!=", "IN", "NOT IN"):
            return tok.text
        assert isinstance(tok.value, float)
        return tok.value

    def check(
        self, field: Field, op: str, values: tuple[float | str, ...], op_tok: Tok, at: Tok
    ) -> tuple[float | str, ...]:
        kind = _field_type(field)
        if kind in ("num", "time") and "LIKE" in op:
            raise FilterError(f"{op} compares text, but {field} is a number", op_tok.pos)
        if field.kind == "param":
            # a number compares numerically, a quoted value as text (see the docstring)
            if "LIKE" in op and isinstance(values[0], float):
                raise FilterError(
                    f"{op} compares text: quote the value ('{num_text(values[0])}')", at.pos
                )
        elif kind == "num":
            for v in values:
                if not isinstance(v, float):
                    raise FilterError(f"{field} is a number: expected a number, got '{v}'", at.pos)
        elif kind == "time":
            values = tuple(time_value(field, v, at.pos) for v in values)
        else:
            for v in values:
                if isinstance(v, float):
                    raise FilterError(
                        f"{field} is text: quote the value ('{num_text(v)}') to compare text",
                        at.pos,
                    )
            if field.kind == "dataset":
                values = tuple(_dataset_value(op, str(v), op_tok, at) for v in values)
            elif field.kind == "attr" and field.key == "status":
                values = tuple(_status_value(str(v), at.pos) for v in values)
            elif field.kind == "attr" and field.key in ("id", "parent_id"):
                values = tuple(str(v).lower() for v in values)
        return values


_FIELDS = _RunFields()


def _dataset_value(op: str, value: str, op_tok: Tok, at: Tok) -> str:
    """A version a run may have read, as ``data:/name@N`` (``iris@3`` is accepted)."""
    if op in ("<", "<=", ">", ">="):
        raise FilterError(
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
        raise FilterError(
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


_STATUSES = tuple(s.value for s in RunStatus if s is not RunStatus.SKIPPED)


def _status_value(value: str, pos: int) -> str:
    upper = value.upper()
    if upper not in _STATUSES and "%" not in value and "_" not in value:
        raise FilterError(f"status is one of {', '.join(_STATUSES)}, got {value!r}", pos)
    return upper


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string; None for an empty one. Raises InvalidInput with a caret."""
    return parse(text, _FIELDS)


def parse_order_by(text: str) -> OrderKey:
    """Parse one ``order_by`` entry: ``metrics.f1 DESC``, ``start_time``, ``params.lr ASC``."""
    if not isinstance(text, str):
        raise InvalidInput(f"an order_by entry must be a string, got {type(text).__name__}.")
    try:
        parser = Parser(text, _FIELDS)
        field = parser.field()
        if field.kind == "dataset":
            raise FilterError("runs cannot be sorted by the datasets they read", field.pos)
        descending = False
        if parser.is_kw("ASC", "DESC"):
            descending = parser.next().text.upper() == "DESC"
        if parser.tok.kind != "end":
            raise parser.fail("ASC, DESC or the end of the entry")
    except FilterError as err:
        raise invalid(text, err, "order_by entry") from None
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
    found: list[Field] = [c.field for c in walk(parse_filter(filter))]
    fields += found
    keys: dict[str, list[str]] = {"metric": [], "param": [], "tag": []}
    for f in fields:
        if f.kind in keys and f.key not in keys[f.kind]:
            keys[f.kind].append(f.key)
    return MentionedKeys(tuple(keys["metric"]), tuple(keys["param"]), tuple(keys["tag"]))
