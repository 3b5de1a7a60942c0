"""Two writers of one model at once, and names that only look valid."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import loopml
from loopml.errors import Conflict, NotFound
from loopml.registry import _repository


@pytest.mark.parametrize("mover", ["alias", "promote"])
def test_an_alias_set_while_its_version_is_deleted_never_points_at_a_deleted_version(
    backend: str, log_model: Callable[..., str], monkeypatch: pytest.MonkeyPatch, mover: str
) -> None:
    loopml.register_model(log_model(), "churn")
    loopml.register_model(log_model(), "churn")
    client = loopml.Client()
    touch = _repository._touch
    outcome: dict[str, Any] = {}

    def move() -> None:
        try:
            if mover == "alias":
                outcome["move"] = client.set_alias("churn", "champion", 2)
            else:
                outcome["move"] = client.promote_model("churn", 2, to="staging")
        except (NotFound, Conflict) as exc:
            outcome["move"] = exc

    def touch_after_a_rival_moved(conn: Any, name: str, now: float) -> None:
        # the delete has checked that no alias points at v2 and marked it deleted; a
        # rival writer now tries to point an alias at v2 before the delete commits
        if threading.current_thread() is threading.main_thread() and "rival" not in outcome:
            outcome["rival"] = rival = threading.Thread(target=move)
            rival.start()
            rival.join(timeout=1.0)
        touch(conn, name, now)

    monkeypatch.setattr(_repository, "_touch", touch_after_a_rival_moved)
    try:
        deleted: object = loopml.registry.delete_model_version("churn", 2)
    except Conflict as exc:
        deleted = exc
    outcome["rival"].join(timeout=30)
    monkeypatch.setattr(_repository, "_touch", touch)
    alias = "champion" if mover == "alias" else "staging"
    pointed = {m.name: m.aliases for m in loopml.registry.list_models()}
    live = [v.version for v in loopml.search_model_versions("name = 'churn'")]
    # one of them won; never both
    if isinstance(deleted, Conflict):
        assert not isinstance(outcome["move"], Exception), outcome
        assert 2 in live
        assert loopml.get_model_version("churn", alias=alias).version == 2
    else:
        assert isinstance(outcome["move"], NotFound), outcome
        assert live == [1]
        assert alias not in pointed["churn"]
        if mover == "promote":
            assert loopml.model_history("churn") == []


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_a_name_or_alias_ending_in_a_newline_is_refused(
    backend: str, log_model: Callable[..., str], end: str
) -> None:
    from loopml.errors import InvalidInput
    from loopml.uri import check_name

    source = log_model()
    with pytest.raises(InvalidInput, match="invalid model name"):
        loopml.register_model(source, "churn" + end)
    loopml.register_model(source, "churn")
    with pytest.raises(InvalidInput, match="invalid alias"):
        loopml.set_alias("churn", "champion" + end, 1)
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        check_name("iris" + end, "dataset name")
    assert [m.name for m in loopml.registry.list_models()] == ["churn"]
    assert loopml.registry.list_models()[0].aliases == {}
