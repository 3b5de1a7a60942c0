"""Environments: promote moves them by compare-and-set and records every move."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import loopml
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.registry import _api, _repository


def test_promote_moves_the_environment_and_records_who_when_why(
    backend: str, log_model: Callable[..., str]
) -> None:
    for _ in range(3):
        loopml.register_model(log_model(), "churn")
    first = loopml.promote_model("churn", 1, to="staging", reason="first cut")
    assert (first.from_version, first.to_version, first.reason) == (None, 1, "first cut")
    loopml.promote_model("churn", "3", to="staging")
    loopml.promote_model("churn", 2, to="prod", reason="audited")
    assert loopml.get_model_version("churn", alias="staging").version == 3
    assert loopml.get_model_version("churn", 2).aliases == ("prod",)
    history = loopml.model_history("churn")
    assert [(t.environment, t.from_version, t.to_version) for t in history] == [
        ("prod", None, 2),
        ("staging", 1, 3),
        ("staging", None, 1),
    ]
    assert history[0].user and history[0].created_at >= history[1].created_at
    staging = loopml.model_history("churn", environment="staging")
    assert [t.to_version for t in staging] == [3, 1]


def test_promoting_to_where_it_is_changes_nothing(
    backend: str, log_model: Callable[..., str]
) -> None:
    loopml.register_model(log_model(), "churn")
    loopml.promote_model("churn", 1, to="dev")
    again = loopml.promote_model("churn", 1, to="dev", reason="again")
    assert again.to_version == 1 and again.reason is None
    assert len(loopml.model_history("churn")) == 1


def test_bad_promotions_name_the_value_and_change_nothing(
    backend: str, log_model: Callable[..., str]
) -> None:
    loopml.register_model(log_model(), "churn")
    with pytest.raises(InvalidInput, match="unknown environment 'qa': expected one of dev, "):
        loopml.promote_model("churn", 1, to="qa")
    with pytest.raises(NotFound, match="no version 7"):
        loopml.promote_model("churn", 7, to="prod")
    with pytest.raises(NotFound, match="no registered model 'nope'"):
        loopml.promote_model("nope", 1, to="prod")
    with pytest.raises(InvalidInput, match="model version"):
        loopml.promote_model("churn", 0, to="prod")
    with pytest.raises(InvalidInput, match="is an environment"):
        loopml.delete_alias("churn", "prod")
    assert loopml.model_history("churn") == []
    assert loopml.get_model_version("churn", 1).aliases == ()


def test_environments_come_from_loopml_toml(project: Path, log_model: Callable[..., str]) -> None:
    (project / "loopml.toml").write_text('[models]\nenvironments = ["dev", "qa", "prod"]\n')
    loopml.context.reset()
    loopml.register_model(log_model(), "churn")
    assert loopml.promote_model("churn", 1, to="qa").environment == "qa"
    with pytest.raises(InvalidInput, match="expected one of dev, qa, prod"):
        loopml.promote_model("churn", 1, to="staging")


def test_a_bad_environments_setting_is_refused(project: Path) -> None:
    (project / "loopml.toml").write_text('[models]\nenvironments = ["dev", "dev"]\n')
    loopml.context.reset()
    with pytest.raises(InvalidInput, match=r"\[models\] environments must be a non-empty list"):
        loopml.registry.environments()


def test_two_promotes_at_once_leave_one_winner_and_one_conflict(
    backend: str, log_model: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        loopml.register_model(log_model(), "churn")
    loopml.promote_model("churn", 1, to="prod")
    # both writers read where prod is before either writes: they race for one move
    both_read = threading.Barrier(2, timeout=10)
    read = _repository.current_alias

    def read_then_wait(*args: object) -> int | None:
        found = read(*args)  # type: ignore[arg-type]
        both_read.wait()
        return found

    monkeypatch.setattr(_repository, "current_alias", read_then_wait)
    client = loopml.Client()
    outcomes: dict[int, object] = {}

    def promote(version: int) -> None:
        try:
            outcomes[version] = client.promote_model("churn", version, to="prod")
        except Conflict as exc:
            outcomes[version] = exc

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.setattr(_repository, "current_alias", read)
    conflicts = [o for o in outcomes.values() if isinstance(o, Conflict)]
    assert len(conflicts) == 1, outcomes
    winner = next(v for v, o in outcomes.items() if not isinstance(o, Conflict))
    assert "moved by another writer" in str(conflicts[0])
    assert f"now points at v{winner}" in str(conflicts[0])
    assert client.get_model_version("churn", alias="prod").version == winner
    moves = client.model_history("churn", environment="prod")
    assert [(t.from_version, t.to_version) for t in moves] == [(1, winner), (None, 1)]


def test_two_first_promotes_at_once_also_conflict(
    backend: str, log_model: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):
        loopml.register_model(log_model(), "churn")
    both_read = threading.Barrier(2, timeout=10)
    read = _repository.current_alias

    def read_then_wait(*args: object) -> int | None:
        found = read(*args)  # type: ignore[arg-type]
        both_read.wait()
        return found

    monkeypatch.setattr(_repository, "current_alias", read_then_wait)
    client = loopml.Client()
    errors: list[Exception] = []

    def promote(version: int) -> None:
        try:
            client.promote_model("churn", version, to="staging")
        except Conflict as exc:
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.setattr(_repository, "current_alias", read)
    assert len(errors) == 1 and "from nothing" in str(errors[0])
    assert len(client.model_history("churn")) == 1


def test_environment_names_are_not_settable_as_plain_aliases(
    project: Path, log_model: Callable[..., str]
) -> None:
    loopml.register_model(log_model(), "churn")
    assert _api.environments() == ("dev", "staging", "prod")
    with pytest.raises(InvalidInput, match="promote_model"):
        loopml.set_alias("churn", "staging", 1)


def test_registrations_at_once_get_distinct_numbers(
    backend: str, log_model: Callable[..., str]
) -> None:
    sources = [log_model() for _ in range(8)]
    client = loopml.Client()
    start = threading.Barrier(4, timeout=10)
    got: list[int] = []

    def register(mine: list[str]) -> None:
        start.wait()
        got.extend(client.register_model(s, "churn").version for s in mine)

    threads = [threading.Thread(target=register, args=(sources[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 9))
    assert sorted(v.version for v in client.search_model_versions()) == list(range(1, 9))


def test_the_same_package_registered_at_once_makes_one_version(
    backend: str, log_model: Callable[..., str]
) -> None:
    source = log_model()
    client = loopml.Client()
    start = threading.Barrier(4, timeout=10)
    got: list[tuple[int, bool]] = []

    def register() -> None:
        start.wait()
        mv = client.register_model(source, "churn")
        got.append((mv.version, mv.is_new))

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [(1, False), (1, False), (1, False), (1, True)]
    assert [v.version for v in client.search_model_versions()] == [1]
