from __future__ import annotations

import loopml.tracking


def test_all_lists_every_export_and_each_resolves() -> None:
    assert loopml.tracking.__all__ == sorted(loopml.tracking._EXPORTS)
    for name in loopml.tracking.__all__:
        assert getattr(loopml.tracking, name) is not None, name


def test_flush_is_the_state_flush() -> None:
    from loopml.tracking._state import flush_all

    assert loopml.tracking.flush is flush_all
