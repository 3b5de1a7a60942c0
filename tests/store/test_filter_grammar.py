"""The shared filter grammar, driven by a field set of its own: the syntax is the
same whichever package searches, and the field set alone decides the names and values."""

from __future__ import annotations

import pytest

from loopml.errors import InvalidInput
from loopml.store.filter import And, Comparison, FilterError, Not, Or, Tok, parse, walk


class _Colors:
    def expected(self) -> str:
        return "a field: color or size"

    def resolve(self, tok: Tok) -> str:
        if tok.text not in ("color", "size"):
            raise FilterError(f"unknown field {tok.text!r}", tok.pos)
        return tok.text

    def number(self, field: str, op: str, tok: Tok) -> float | str:
        assert isinstance(tok.value, float)
        return tok.value

    def check(
        self, field: str, op: str, values: tuple[float | str, ...], op_tok: Tok, at: Tok
    ) -> tuple[float | str, ...]:
        if field == "size" and not all(isinstance(v, float) for v in values):
            raise FilterError("size is a number", at.pos)
        return tuple(v.upper() if isinstance(v, str) else v for v in values)


def test_precedence_lists_and_negation_build_the_tree() -> None:
    node = parse("color = 'red' or not size > 2 and color IN ('a', \"b\")", _Colors())
    assert node == Or(
        (
            Comparison("color", "=", "RED"),
            And((Not(Comparison("size", ">", 2.0)), Comparison("color", "IN", ("A", "B")))),
        )
    )
    assert [c.field for c in walk(node)] == ["color", "size", "color"]
    assert parse("  ", _Colors()) is None


@pytest.mark.parametrize(
    ("text", "message", "caret"),
    [
        ("shape = 'x'", "unknown field 'shape'", 0),
        ("size = 'big'", "size is a number", 7),
        ("color = 'red", "never closed", 8),
        ("color = 'x' and", "expected a field: color or size", 15),
        ("color LIKE 'x\\\\\\'", "never closed", 11),
        ("(" * 300 + "size = 1" + ")" * 300, "too deeply", None),
    ],
)
def test_mistakes_point_at_where_they_are(text: str, message: str, caret: int | None) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        parse(text, _Colors(), "color filter")
    assert "invalid color filter" in str(err.value)
    if caret is not None:
        assert str(err.value).splitlines()[-1] == "  " + " " * caret + "^"
