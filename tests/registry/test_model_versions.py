"""Registering versions, aliases, search, archive and delete, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import loopml
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.registry import ModelStatus


def test_versions_number_one_two_three_per_name(
    backend: str, log_model: Callable[..., str]
) -> None:
    first = loopml.register_model(log_model(), "churn", description="baseline")
    second = loopml.register_model(log_model(), "churn", tags={"team": "risk"})
    other = loopml.register_model(log_model(), "fraud")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.uri == "models:/churn/1"
    assert first.status is ModelStatus.READY and first.is_new
    assert first.description == "baseline"
    got = loopml.get_model_version("churn", 2)
    assert got.tags == {"team": "risk"} and got.run_id == second.run_id
    assert loopml.get_model_version("churn").version == 2  # newest


def test_registering_the_same_package_again_returns_its_version(
    backend: str, log_model: Callable[..., str]
) -> None:
    source = log_model()
    first = loopml.register_model(source, "churn")
    again = loopml.register_model(source, "churn")
    assert again.version == first.version and not again.is_new
    assert again.note is not None and "churn v1" in again.note
    # another run whose package has the same bytes is the same package
    twin = loopml.register_model(log_model(seed=7), "churn")
    twin_again = loopml.register_model(log_model(seed=7), "churn")
    assert twin.version == 2 and twin_again.version == 2 and not twin_again.is_new
    assert len(loopml.search_model_versions("name = 'churn'")) == 2


def test_a_run_without_a_model_is_refused_and_nothing_is_recorded(
    backend: str, log_model: Callable[..., str]
) -> None:
    source = log_model()
    run_id = source.split("/")[1]
    with pytest.raises(NotFound, match=f"run {run_id} has no model at 'elsewhere'"):
        loopml.register_model(f"runs:/{run_id}/elsewhere", "churn")
    with pytest.raises(InvalidInput, match="names a run, not its model"):
        loopml.register_model(f"runs:/{run_id}", "churn")
    with pytest.raises(NotFound):
        loopml.register_model("runs:/" + "ab" * 16 + "/model", "churn")
    assert loopml.search_model_versions() == []
    assert loopml.registry.list_models() == []


@pytest.mark.parametrize(
    "name", ["", "a/b", "a@b", "x" * 256, "bad\x00name", "-lead", "sp ace", 3, None]
)
def test_hostile_model_names_are_refused(
    backend: str, log_model: Callable[..., str], name: object
) -> None:
    source = log_model()
    with pytest.raises(InvalidInput, match="model name"):
        loopml.register_model(source, name)  # type: ignore[arg-type]
    assert loopml.search_model_versions() == []


def test_aliases_point_move_and_go(backend: str, log_model: Callable[..., str]) -> None:
    loopml.register_model(log_model(), "churn")
    loopml.register_model(log_model(), "churn")
    loopml.set_alias("churn", "champion", 1)
    assert loopml.get_model_version("churn", alias="champion").version == 1
    assert loopml.get_model_version("models:/churn@champion").aliases == ("champion",)
    loopml.set_alias("churn", "champion", 2)
    assert loopml.get_model_version("churn", 1).aliases == ()
    assert loopml.get_model_version("churn", 2).aliases == ("champion",)
    loopml.delete_alias("churn", "champion")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        loopml.get_model_version("churn", alias="champion")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        loopml.delete_alias("churn", "champion")


def test_unknown_model_version_and_alias_name_what_there_is(
    backend: str, log_model: Callable[..., str]
) -> None:
    loopml.register_model(log_model(), "churn")
    with pytest.raises(NotFound, match="no registered model 'nope'; recent models: churn"):
        loopml.get_model_version("nope", 1)
    with pytest.raises(NotFound, match="has no version 9; its newest versions: 1"):
        loopml.get_model_version("churn", 9)
    with pytest.raises(NotFound, match="no version 9"):
        loopml.set_alias("churn", "champion", 9)
    with pytest.raises(InvalidInput, match="invalid alias '1x'"):
        loopml.set_alias("churn", "1x", 1)
    with pytest.raises(InvalidInput, match="is an environment"):
        loopml.set_alias("churn", "prod", 1)
    assert loopml.get_model_version("churn", 1).aliases == ()


def test_search_filters_on_fields_tags_and_aliases(
    backend: str, log_model: Callable[..., str]
) -> None:
    for team in ("risk", "growth", "risk"):
        loopml.register_model(log_model(), "churn", tags={"team": team})
    loopml.register_model(log_model(), "fraud")
    loopml.set_alias("churn", "champion", 2)
    loopml.archive_model_version("churn", 3)

    def found(text: str, **kw: object) -> list[tuple[str, int]]:
        return [(v.name, v.version) for v in loopml.search_model_versions(text, **kw)]

    assert found("alias = 'champion'") == [("churn", 2)]
    assert found("name = 'churn' and alias != 'champion'") == [("churn", 3), ("churn", 1)]
    assert found("tags.team = 'risk'") == [("churn", 3), ("churn", 1)]
    assert found("tags.team IS NULL") == [("fraud", 1)]
    assert found("status = 'archived'") == [("churn", 3)]
    assert found("version >= 2 and name LIKE 'ch%'") == [("churn", 3), ("churn", 2)]
    assert found("name LIKE 'CH%'") == []  # LIKE is case-sensitive on every backend
    assert found("name ILIKE 'CH%'", order_by=["version ASC"]) == [
        ("churn", 1),
        ("churn", 2),
        ("churn", 3),
    ]
    assert found("", max_results=1) == [("churn", 3)]
    run_id = loopml.get_model_version("fraud", 1).run_id
    assert found(f"run_id = '{run_id[:32].upper()}'") == [("fraud", 1)]
    with pytest.raises(InvalidInput, match=r"unknown field 'metrics.auc'(.|\n)*\^"):
        loopml.search_model_versions("metrics.auc > 1")
    with pytest.raises(InvalidInput, match="version is a number"):
        loopml.search_model_versions("version = 'two'")
    with pytest.raises(InvalidInput, match="invalid order_by"):
        loopml.search_model_versions(order_by=["tags.team"])


def test_archived_versions_take_no_new_alias_but_keep_theirs(
    backend: str, log_model: Callable[..., str]
) -> None:
    loopml.register_model(log_model(), "churn")
    loopml.set_alias("churn", "champion", 1)
    archived = loopml.archive_model_version("churn", 1)
    assert archived.status is ModelStatus.ARCHIVED and archived.aliases == ("champion",)
    with pytest.raises(InvalidInput, match="churn v1 is archived"):
        loopml.set_alias("churn", "backup", 1)
    with pytest.raises(InvalidInput, match="is archived"):
        loopml.promote_model("churn", 1, to="staging")


def test_a_version_an_alias_points_at_cannot_be_deleted(
    backend: str, log_model: Callable[..., str]
) -> None:
    source = log_model()
    loopml.register_model(source, "churn")
    loopml.set_alias("churn", "champion", 1)
    with pytest.raises(Conflict, match="pointed at by champion: it cannot be deleted"):
        loopml.registry.delete_model_version("churn", 1)
    assert loopml.get_model_version("churn", 1).version == 1
    loopml.delete_alias("churn", "champion")
    loopml.registry.delete_model_version("churn", 1)
    with pytest.raises(NotFound):
        loopml.get_model_version("churn", 1)
    # the package of a deleted version registers anew; a purged number is never reused
    again = loopml.register_model(source, "churn")
    assert (again.version, again.is_new) == (2, True)
    loopml.registry.delete_model_version("churn", 2)
    loopml.gc(dry_run=False)
    assert loopml.register_model(log_model(), "churn").version == 3


def test_gc_keeps_the_bytes_of_a_registered_version_after_its_run_is_purged(
    backend: str, log_model: Callable[..., str], project: Path
) -> None:
    kept = loopml.register_model(log_model(), "churn")
    dropped = loopml.register_model(log_model(), "churn")
    digests = {
        v.version: {e.digest for e in loopml.tracking.list_artifacts(v.run_id)}
        for v in (kept, dropped)
    }
    for v in (kept, dropped):
        loopml.tracking.delete_run(v.run_id)
    loopml.registry.delete_model_version("churn", dropped.version)
    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert "models:/churn/2" in report.purged
    store = loopml.Client().artifacts
    assert all(store.exists(d) for d in digests[1])
    assert not any(store.exists(d) for d in digests[2] - digests[1])


def test_the_models_scheme_resolves_and_describes_versions(
    backend: str, log_model: Callable[..., str]
) -> None:
    mv = loopml.register_model(log_model(), "churn")
    loopml.promote_model("churn", 1, to="staging")
    found = loopml.lineage.resolve("models:/churn@staging")
    assert isinstance(found, loopml.ModelVersion) and found.version == 1
    graph = loopml.get_lineage("models:/churn@staging")
    assert graph.uri == "models:/churn/1"
    assert f"runs:/{mv.run_id}" in graph.nodes()
    assert graph.labels["models:/churn/1"] == f"churn v1 (staging) ← run {mv.run_id[:8]}"
    with pytest.raises(NotFound):
        loopml.lineage.resolve("models:/churn/5")


def test_a_deleted_run_is_not_registered(backend: str, log_model: Callable[..., str]) -> None:
    source = log_model()
    run_id = source.split("/")[1]
    loopml.tracking.delete_run(run_id)
    with pytest.raises(InvalidInput, match=f"run {run_id} is deleted.*loopml runs restore"):
        loopml.register_model(source, "churn")
    assert loopml.search_model_versions() == []
