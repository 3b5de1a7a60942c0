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
``search_runs`` (:mod:`loopml.store.filter`): ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE``,
``ILIKE``, ``IN (...)``, their ``NOT`` forms, ``IS [NOT] NULL``. A comparison
never matches a version that lacks the field, except the negative forms on
``alias`` (``alias != 'prod'`` matches the versions prod does not point at).
The parser here only builds the tree; :mod:`loopml.registry._repository`
turns it into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from loopml.errors import InvalidInput
from loopml.registry._records import ModelStatus
from loopml.store.filter import (
    And,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    Tok,
    num_text,
    parse,
    time_value,
)

__all__ = [
    "FIELDS",
    "And",
    "Comparison",
    "Field",
    "Node",
    "Not",
    "Or",
    "parse_filter",
    "parse_order_by",
]

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
_SYNONYMS = {"aliases": "alias", "run": "run_id"}


@dataclass(frozen=True)
class Field:
    """A field of a model version: a name of :data:`FIELDS`, or ``tag`` with its key."""

    name: str
    tag: str | None = None

    def __str__(self) -> str:
        return self.name if self.tag is None else f"tags.{self.tag}"


class _VersionFields:
    """The fields of a model version (see the module's docstring)."""

    def expected(self) -> str:
        return f"a field: tags.<key> or one of {', '.join(FIELDS)}"

    def resolve(self, tok: Tok) -> Field:
        if isinstance(tok.value, tuple):
            prefix, key = tok.value
            dot = "."
        else:
            prefix, dot, key = tok.text.partition(".")
        if dot and prefix.lower() in ("tags", "tag") and key:
            return Field("tags", key)
        name = _SYNONYMS.get(tok.text.lower(), tok.text.lower())
        if name not in FIELDS:
            raise FilterError(
                f"unknown field {tok.text!r}: expected tags.<key> or one of {', '.join(FIELDS)}",
                tok.pos,
            )
        return Field(name)

    def number(self, field: Field, op: str, tok: Tok) -> float | str:
        assert isinstance(tok.value, float)
        return tok.value

    def check(
        self, field: Field, op: str, values: tuple[float | str, ...], op_tok: Tok, at: Tok
    ) -> tuple[float | str, ...]:
        kind = FIELDS.get(field.name, "str")
        if "LIKE" in op and kind != "str":
            raise FilterError(f"{op} compares text, but {field} is a number", op_tok.pos)
        if kind == "num":
            for v in values:
                if not isinstance(v, float):
                    raise FilterError(f"{field} is a number: expected a number, got {v!r}", at.pos)
        elif kind == "time":
            values = tuple(time_value(field, v, at.pos) for v in values)
        else:
            if field.name != "status" and any(isinstance(v, float) for v in values):
                if field.tag is not None and "LIKE" not in op:
                    values = tuple(num_text(v) if isinstance(v, float) else v for v in values)
                else:
                    raise FilterError(f"{field} is text: quote the value", at.pos)
            if field.name == "status":
                values = tuple(_status(v, op, at.pos) for v in values)
            elif field.name == "run_id":
                values = tuple(str(v).lower() for v in values)
        return values


_FIELDS = _VersionFields()


def _status(value: float | str, op: str, pos: int) -> str:
    text = str(value).upper()
    known = [s.value for s in ModelStatus]
    if "LIKE" not in op and text not in known:
        raise FilterError(f"status is one of {', '.join(known)}, got {value!r}", pos)
    return text


def parse_filter(text: str) -> Node | None:
    """The tree of ``text``; None for an empty filter. InvalidInput with a caret."""
    return parse(text, _FIELDS, "model version filter")


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
