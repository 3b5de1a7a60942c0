"""The filter language, parsed without a store."""

from __future__ import annotations

import datetime as dt

import pytest

from loopml.errors import InvalidInput
from loopml.tracking._filter import (
    And,
    Comparison,
    Field,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def cmp(kind: str, key: str, op: str, value: object) -> Comparison:
    return Comparison(Field(kind, key), op, value)  # type: ignore[arg-type]


def strip_pos(node: object) -> object:
    """The tree with field positions zeroed, for comparing shapes."""
    if isinstance(node, Comparison):
        return Comparison(Field(node.field.kind, node.field.key), node.op, node.value)
    if isinstance(node, And):
        return And(tuple(strip_pos(n) for n in node.items))  # type: ignore[misc]
    if isinstance(node, Or):
        return Or(tuple(strip_pos(n) for n in node.items))  # type: ignore[misc]
    if isinstance(node, Not):
        return Not(strip_pos(node.item))  # type: ignore[arg-type]
    return node


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.f1 > 0.9", cmp("metric", "f1", ">", 0.9)),
        ("metric.f1>=1e-3", cmp("metric", "f1", ">=", 0.001)),
        ("metrics.loss < -2.5E2", cmp("metric", "loss", "<", -250.0)),
        ("metrics.loss == .5", cmp("metric", "loss", "=", 0.5)),
        ("metrics.loss <> 1", cmp("metric", "loss", "!=", 1.0)),
        ("params.model = 'rf'", cmp("param", "model", "=", "rf")),
        ('params.model != "it\\"s"', cmp("param", "model", "!=", 'it"s')),
        ("params.depth = 3", cmp("param", "depth", "=", 3.0)),
        ("params.lr IN (0.1, '0.01')", cmp("param", "lr", "IN", (0.1, "0.01"))),
        ("tags.n = 3", cmp("tag", "n", "=", "3")),
        ("tags.stage not in ('dev','test')", cmp("tag", "stage", "NOT IN", ("dev", "test"))),
        ("tags.`team name` LIKE 'se%'", cmp("tag", "team name", "LIKE", "se%")),
        ('metrics."val loss" < 1', cmp("metric", "val loss", "<", 1.0)),
        ("metrics.`val-loss` <= 0.2", cmp("metric", "val-loss", "<=", 0.2)),
        ("metrics.val-loss <= 0.2", cmp("metric", "val-loss", "<=", 0.2)),
        ("metrics.val/loss.x > 0", cmp("metric", "val/loss.x", ">", 0.0)),
        ("name ilike '%Sweep%'", cmp("attr", "name", "ILIKE", "%Sweep%")),
        ("run_name NOT LIKE 'x_'", cmp("attr", "name", "NOT LIKE", "x_")),
        ("attributes.status = 'finished'", cmp("attr", "status", "=", "FINISHED")),
        ("status IN ('failed', 'KILLED')", cmp("attr", "status", "IN", ("FAILED", "KILLED"))),
        ("parent_id IS NULL", cmp("attr", "parent_id", "IS NULL", None)),
        ("metrics.f1 is not null", cmp("metric", "f1", "IS NOT NULL", None)),
        ("run_id = 'ABCDEF'", cmp("attr", "id", "=", "abcdef")),
        ("start_time > 1700000000", cmp("attr", "start_time", ">", 1.7e9)),
        (
            "end_time < '2024-01-02'",
            cmp(
                "attr", "end_time", "<", dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc).timestamp()
            ),
        ),
        (
            "start_time >= '2024-01-02T03:00:00+02:00'",
            cmp(
                "attr",
                "start_time",
                ">=",
                dt.datetime(2024, 1, 2, 1, tzinfo=dt.timezone.utc).timestamp(),
            ),
        ),
        ("duration > 60", cmp("attr", "duration", ">", 60.0)),
        ("experiment = 'iris'", cmp("attr", "experiment", "=", "iris")),
    ],
)
def test_comparisons_parse(text: str, expected: Comparison) -> None:
    assert strip_pos(parse_filter(text)) == expected


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    a = cmp("metric", "a", ">", 1.0)
    b = cmp("metric", "b", ">", 2.0)
    c = cmp("metric", "c", ">", 3.0)
    assert strip_pos(parse_filter("metrics.a > 1 or metrics.b > 2 AND metrics.c > 3")) == Or(
        (a, And((b, c)))
    )
    assert strip_pos(parse_filter("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3")) == And(
        (Or((a, b)), c)
    )
    assert strip_pos(parse_filter("not metrics.a > 1 and NOT (metrics.b > 2)")) == And(
        (Not(a), Not(b))
    )


def test_empty_filter_is_none() -> None:
    assert parse_filter("") is None
    assert parse_filter("   ") is None
    assert parse_filter(None) is None


def _error(text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("metrics.f1 >", 12, "expected a number or a quoted string after >, got the end"),
        ("metrics.f1 ~ 3", 11, "unexpected character '~'"),
        ("metrics.f1 0.5", 11, "expected an operator after metrics.f1"),
        ("foo = 1", 0, "unknown attribute 'foo'"),
        ("metric.f1 > 1 and", 17, "expected a field"),
        ("metrics.f1 > 1 metrics.f2 > 2", 15, "expected 'and', 'or' or the end"),
        ("(metrics.f1 > 1", 15, "expected ')'"),
        ("params.model = 'rf", 15, "never closed"),
        ("metrics.f1 = 'high'", 13, "metrics.f1 is a number: expected a number"),
        ("metrics.f1 LIKE 'a%'", 11, "LIKE compares text"),
        ("params.lr LIKE 0.1", 15, "quote the value ('0.1')"),
        ("tags.n < 0.1", 9, "quote the value ('0.1')"),
        ("name = 3", 7, "name is text"),
        ("status = 'DONE'", 9, "status is one of RUNNING, FINISHED, FAILED, KILLED, PRUNED"),
        ("start_time > 'yesterday'", 13, "ISO date"),
        ("params.x IN 'a'", 12, "expected '(' to start the list"),
        ("params.x IN ('a' 'b')", 17, "expected ',' or ')'"),
        ("params.x IS 3", 12, "expected NULL after IS"),
        ("things.x = 1", 0, "unknown field prefix 'things'"),
        ("metrics.`x = 1", 8, "never closed"),
    ],
)
def test_bad_filter_shows_caret_at_the_position_and_what_was_expected(
    text: str, column: int, expected: str
) -> None:
    message = _error(text)
    assert expected in message
    lines = message.splitlines()
    assert lines[-2] == f"  {text}"
    assert lines[-1] == "  " + " " * column + "^", message


def test_order_by_entries_parse() -> None:
    assert parse_order_by("metrics.f1 DESC") == OrderKey(Field("metric", "f1", 0), True)
    assert parse_order_by("start_time") == OrderKey(Field("attr", "start_time", 0), False)
    assert parse_order_by("params.`a b` asc").field.key == "a b"
    with pytest.raises(InvalidInput, match=r"expected ASC, DESC or the end") as info:
        parse_order_by("metrics.f1 DOWN")
    assert str(info.value).splitlines()[-1] == "  " + " " * 11 + "^"
