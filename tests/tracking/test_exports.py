"""The exports of loopml.tracking are listed once, in its type stub."""

from __future__ import annotations

import ast
from pathlib import Path

import loopml.tracking


def _stub_names() -> list[str]:
    """The names ``loopml/tracking/__init__.pyi`` imports (``from ._x import a as a``)."""
    stub = Path(loopml.tracking.__file__).with_name("__init__.pyi")
    names = []
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.AnnAssign):  # ``__all__: list[str]``, for type checkers
            continue
        assert isinstance(node, ast.ImportFrom), ast.dump(node)
        names += [alias.asname or alias.name for alias in node.names]
    return names


def test_all_is_sorted_and_lists_exactly_what_the_stub_imports() -> None:
    names = _stub_names()
    assert len(names) == len(set(names))
    assert loopml.tracking.__all__ == sorted(loopml.tracking.__all__)
    assert loopml.tracking.__all__ == sorted(names)


def test_every_export_resolves() -> None:
    for name in loopml.tracking.__all__:
        assert getattr(loopml.tracking, name) is not None, name
    assert set(dir(loopml.tracking)) >= set(loopml.tracking.__all__)


def test_flush_is_the_state_flush() -> None:
    from loopml.tracking._state import flush

    assert loopml.tracking.flush is flush
