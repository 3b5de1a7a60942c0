"""``search_runs``: the filter language (see ``_filter``) compiled to one SQL query.

Each comparison on a metric, param or tag becomes ``runs.id IN (SELECT
run_id FROM <table> WHERE key = ... AND value <op> ...)``; on metrics it
reads ``latest_metrics`` through its ``(key, value)`` index. Sorting by a
metric or param is a LEFT JOIN on the same tables, with runs lacking the
key last. The runs found come with their params, metrics and tags from the
summaries on their ``runs`` rows (see ``_summary``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, or_, select, true

from loopml.errors import InvalidInput, NotFound
from loopml.store import schema
from loopml.tracking import _state, _store
from loopml.tracking._filter import (
    ATTRIBUTES,
    And,
    Comparison,
    Field,
    Node,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from loopml.tracking._records import Run

__all__ = ["compile_filter", "search_runs"]

_r = schema.runs
_e = schema.experiments
_TABLES = {"metric": schema.latest_metrics, "param": schema.params, "tag": schema.tags}


def search_runs(
    filter: str | None = "",
    experiment: str | Sequence[str] | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int | None = None,
    *,
    tracking_uri: str | None = None,
) -> list[Run]:
    """Runs matching ``filter``, in ``order_by`` order (default: newest first).

    ``filter`` uses the language described in :mod:`loopml.tracking._filter`,
    e.g. ``"metrics.f1 > 0.9 and params.model = 'rf'"``. ``experiment``
    limits the search to one or more experiments by name (all by default).
    ``order_by`` entries look like ``"metrics.f1 DESC"`` or ``"start_time"``.

    Example::

        best = loopml.search_runs("status = 'FINISHED'", experiment="iris",
                                  order_by=["metrics.f1 DESC"], max_results=5)
    """
    node = parse_filter(filter)
    orders = [parse_order_by(o) for o in _as_list(order_by, "order_by")]
    if max_results is not None and (
        isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
    ):
        raise InvalidInput(f"max_results must be a positive integer or None, got {max_results!r}.")
    experiments = _as_list(experiment, "experiment")
    _state.flush_all()
    store = _store.store_for(tracking_uri)
    with store.read() as conn:
        query = _store.run_query()
        if experiments:
            ids = _store.known_experiments(conn, experiments)
            missing = [name for name in experiments if name not in ids]
            if missing:
                known = _store.all_experiment_names(conn)
                raise NotFound(
                    f"no experiment named {missing[0]!r}; known experiments: "
                    f"{', '.join(known[:20]) or '(none yet)'}."
                )
            query = query.where(_r.c.experiment_id.in_(list(ids.values())))
        if node is not None:
            query = query.where(compile_filter(node, store.dialect))
        query = _order(query, orders, store.dialect)
        if max_results is not None:
            query = query.limit(max_results)
        return _store.fetch_runs(conn, query)


def _as_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(f"{what} entries must be strings, got {type(item).__name__}.")
    return items


def compile_filter(node: Node, dialect: str) -> ColumnElement[bool]:
    """The SQL condition on ``runs`` for a parsed filter."""
    if isinstance(node, And):
        return and_(*(compile_filter(n, dialect) for n in node.items))
    if isinstance(node, Or):
        return or_(*(compile_filter(n, dialect) for n in node.items))
    if isinstance(node, Not):
        return not_(compile_filter(node.item, dialect))
    return _comparison(node, dialect)


def _comparison(c: Comparison, dialect: str) -> ColumnElement[bool]:
    field = c.field
    if field.kind in _TABLES:
        t = _TABLES[field.kind]
        base = select(t.c.run_id).where(t.c.key == field.key)
        if c.op == "IS NULL":
            return _r.c.id.not_in(base)
        if c.op == "IS NOT NULL":
            return _r.c.id.in_(base)
        return _r.c.id.in_(base.where(_condition(t.c.value, c, dialect)))
    if field.key == "experiment":
        if c.op in ("IS NULL", "IS NOT NULL"):
            return false() if c.op == "IS NULL" else true()
        return _r.c.experiment_id.in_(select(_e.c.id).where(_condition(_e.c.name, c, dialect)))
    return _condition(_attribute(field), c, dialect)


def _attribute(field: Field) -> Any:
    if field.key == "duration":
        return _r.c.end_time - _r.c.start_time
    return _r.c[field.key]


def _condition(col: Any, c: Comparison, dialect: str) -> ColumnElement[bool]:
    op, value = c.op, c.value
    if op == "IS NULL":
        return col.is_(None)
    if op == "IS NOT NULL":
        return col.is_not(None)
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        return col.in_(list(value)) if op == "IN" else col.not_in(list(value))
    if op.endswith("LIKE"):
        assert isinstance(value, str)
        clause = _like(col, value, dialect, insensitive=op.endswith("ILIKE"))
        return not_(clause) if op.startswith("NOT") else clause
    if op in ("<", "<=", ">", ">=") and _is_text(c.field):
        col = _bytewise(col, dialect)
    return {
        "=": col.__eq__,
        "!=": col.__ne__,
        "<": col.__lt__,
        "<=": col.__le__,
        ">": col.__gt__,
        ">=": col.__ge__,
    }[op](value)


def _is_text(field: Field) -> bool:
    if field.kind == "attr":
        return ATTRIBUTES[field.key] == "str"
    return field.kind in ("param", "tag")


def _bytewise(col: Any, dialect: str) -> Any:
    """Text compared and sorted by code point, as SQLite does, whatever the database collation."""
    return col.collate("C") if dialect == "postgresql" else col


def _like(col: Any, pattern: str, dialect: str, *, insensitive: bool) -> ColumnElement[bool]:
    """LIKE that is case-sensitive on every backend (SQLite's LIKE is not: use GLOB there)."""
    if insensitive:
        return col.ilike(pattern, escape="\\")
    if dialect == "sqlite":
        return col.op("GLOB", is_comparison=True)(_like_to_glob(pattern))
    return col.like(pattern, escape="\\")


def _like_to_glob(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(_glob_literal(pattern[i + 1]))
            i += 2
            continue
        out.append("*" if c == "%" else "?" if c == "_" else _glob_literal(c))
        i += 1
    return "".join(out)


def _glob_literal(c: str) -> str:
    return f"[{c}]" if c in "*?[" else c


def _order(query: Any, orders: list[OrderKey], dialect: str) -> Any:
    clauses = []
    for n, key in enumerate(orders):
        field = key.field
        if field.kind in _TABLES:
            t = _TABLES[field.kind].alias(f"o{n}")
            query = query.outerjoin(t, and_(t.c.run_id == _r.c.id, t.c.key == field.key))
            col: Any = t.c.value
        elif field.key == "experiment":
            col = _e.c.name
        else:
            col = _attribute(field)
        if _is_text(field):
            col = _bytewise(col, dialect)
        clauses.append((col.desc() if key.descending else col.asc()).nulls_last())
    clauses += [_r.c.start_time.desc(), _r.c.id]
    return query.order_by(*clauses)
