"""Deployments: create and update by deploy, the hold on the served version, history,
the changes a server polls, delete, and bad input that changes nothing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.deployments import DeploymentAction, DeploymentStatus, Strategy
from loopml.errors import Conflict, CorruptObject, InvalidInput, NotFound


def _state() -> tuple[Any, ...]:
    """Everything a deployment writes, to compare before and after a refused call."""
    return (
        loopml.list_deployments(),
        loopml.deployments.changes_since(0),
        loopml.deployments.current_generation(),
    )


def test_deploy_resolves_the_alias_and_records_the_version(versions: list[Any]) -> None:
    d = loopml.deploy("churn", "models:/churn@prod", reason="first")
    assert (d.name, d.model_name, d.version, d.model_uri) == (
        "churn",
        "churn",
        1,
        "models:/churn@prod",
    )
    assert d.strategy is Strategy.REPLACE and d.status is DeploymentStatus.SERVING
    assert d.uri == "deployments:/churn" and d.version_uri == "models:/churn/1"
    assert d.generation == 1 and d.changed
    loopml.promote_model("churn", 2, to="prod")
    # the alias moved, the deployment did not: it serves what it resolved to
    assert loopml.get_deployment("churn").version == 1
    again = loopml.deploy("churn", "models:/churn@prod", reason="v2 promoted")
    assert (again.version, again.generation, again.created_at) == (2, 2, d.created_at)
    assert [c.action for c in loopml.deployments.deployment_history("churn")] == [
        DeploymentAction.UPDATE,
        DeploymentAction.CREATE,
    ]
    latest = loopml.deployments.deployment_history("churn")[0]
    assert (latest.from_version, latest.to_version, latest.reason) == (1, 2, "v2 promoted")


def test_deploying_what_is_served_changes_nothing(versions: list[Any]) -> None:
    first = loopml.deploy("churn", "models:/churn/1")
    same = loopml.deploy("churn", "models:/churn/1")
    assert not same.changed and same.generation == first.generation
    assert loopml.deployments.current_generation() == 1
    changed = loopml.deploy("churn", "models:/churn/1", config={"max_batch_size": 32})
    assert changed.changed and changed.config == {"max_batch_size": 32}
    assert changed.generation == 2
    kept = loopml.deploy("churn", "models:/churn/2")  # no config given: the deployment's is kept
    assert kept.config == {"max_batch_size": 32}
    assert loopml.deploy("churn", "models:/churn/2", config={}).config == {}


def test_changes_since_lists_every_change_in_order(versions: list[Any]) -> None:
    loopml.deploy("a", "models:/churn/1")
    loopml.deploy("b", "models:/churn/2")
    loopml.deploy("a", "models:/churn/2")
    loopml.deployments.delete_deployment("b")
    changes = loopml.deployments.changes_since(0)
    assert [(c.generation, c.name, c.action) for c in changes] == [
        (1, "a", DeploymentAction.CREATE),
        (2, "b", DeploymentAction.CREATE),
        (3, "a", DeploymentAction.UPDATE),
        (4, "b", DeploymentAction.DELETE),
    ]
    assert [c.generation for c in loopml.deployments.changes_since(2)] == [3, 4]
    assert loopml.deployments.changes_since(4) == []
    assert [d.name for d in loopml.list_deployments()] == ["a"]


def test_a_served_version_is_neither_deleted_nor_archived(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn/2")
    with pytest.raises(
        Conflict, match=r"churn v2 is served by deployments:/churn: .* deployments delete churn\)"
    ):
        loopml.registry.delete_model_version("churn", 2)
    with pytest.raises(Conflict, match=r"churn v2 is served by deployments:/churn"):
        loopml.archive_model_version("churn", 2)
    assert loopml.get_model_version("churn", 2).status == "READY"
    gone = loopml.deployments.delete_deployment("churn")
    assert gone.status is DeploymentStatus.DELETED
    assert loopml.archive_model_version("churn", 2).status == "ARCHIVED"
    loopml.registry.delete_model_version("churn", 2)


def test_an_update_releases_the_old_version(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn/2")
    loopml.deploy("churn", "models:/churn/1")
    loopml.registry.delete_model_version("churn", 2)
    with pytest.raises(Conflict, match="served by deployments:/churn"):
        loopml.archive_model_version("churn", 1)


def test_gc_keeps_the_package_of_a_deployed_version(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn/2")
    held = {loopml.get_model_version("churn", 2).manifest_digest}
    client = loopml.Client()
    with client.metadata.read() as conn:
        owners = conn.column("SELECT owner FROM object_refs WHERE digest = ?", (next(iter(held)),))
    assert "deployments:/churn" in owners
    loopml.deployments.delete_deployment("churn")
    with client.metadata.read() as conn:
        owners = conn.column("SELECT DISTINCT owner FROM object_refs")
    assert "deployments:/churn" not in owners


def test_lineage_shows_the_deployment_below_its_version(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn@prod")
    graph = loopml.get_lineage("models:/churn/1")
    below = {(c.uri, c.relation) for c in graph.downstream.children}
    assert ("deployments:/churn", "deployed") in below
    assert "churn → churn v1" in graph.labels["deployments:/churn"]
    node = loopml.lineage.resolve("deployments:/churn")
    assert node.version == 1


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        ("models:/nope@prod", NotFound, "no registered model 'nope'"),
        ("models:/churn/9", NotFound, "has no version 9"),
        ("models:/churn@staging", NotFound, "has no alias 'staging'"),
        ("churn", InvalidInput, "model must be a models:/ URI"),
        ("models:/churn", InvalidInput, "malformed"),
        (3, InvalidInput, "model must be text"),
    ],
)
def test_an_unknown_model_changes_nothing(
    versions: list[Any], model: Any, error: type[Exception], match: str
) -> None:
    loopml.deploy("churn", "models:/churn/1")
    before = _state()
    with pytest.raises(error, match=match):
        loopml.deploy("churn", model)
    assert _state() == before


def test_an_archived_version_is_not_deployed(versions: list[Any]) -> None:
    loopml.archive_model_version("churn", 2)
    with pytest.raises(InvalidInput, match=r"models:/churn/2 is archived: only a READY"):
        loopml.deploy("churn", "models:/churn/2")
    assert _state() == ([], [], 0)


def test_a_corrupt_package_is_not_deployed(versions: list[Any], project: Path) -> None:
    loopml.deploy("churn", "models:/churn/1")
    before = _state()
    version = loopml.get_model_version("churn", 2)
    info = loopml.registry.get_model_package("churn", 2)
    digest = next(d for d in info.digests if d != version.manifest_digest)
    stored = loopml.Client(project).artifacts.path(digest)
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-10])
    with pytest.raises(
        CorruptObject, match=r"models:/churn/2 does not load, so deployment 'churn'"
    ):
        loopml.deploy("churn", "models:/churn/2")
    assert _state() == before


@pytest.mark.parametrize(
    "name",
    ["", " ", "../etc", "a/b", "churn\x00", "-x", "\x1b[31m", "a" * 256, "\ud800", None, 7],
)
def test_a_hostile_name_is_refused(versions: list[Any], name: Any) -> None:
    with pytest.raises(InvalidInput, match="deployment name"):
        loopml.deploy(name, "models:/churn/1")
    with pytest.raises(InvalidInput, match="deployment name"):
        loopml.get_deployment(name)
    with pytest.raises(InvalidInput, match="deployment name"):
        loopml.deployments.delete_deployment(name)
    assert _state() == ([], [], 0)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ([1], "config must be a dict"),
        ({"a": float("nan")}, "NaN and infinity are not allowed"),
        ({"a": object()}, "config must hold text"),
        ({1: 2}, "config key must be text"),
        ({"a": "x" * 70_000}, "the limit is 65536"),
        ({"max_batchsize": 8}, "unknown config key 'max_batchsize'.*max_batch_size"),
        ({"max_batch_size": 0}, "max_batch_size must be a whole number from 1"),
        ({"max_batch_size": True}, "max_batch_size must be"),
        ({"log_predictions": "yes"}, "log_predictions must be true or false"),
    ],
)
def test_a_bad_config_is_refused(versions: list[Any], config: Any, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        loopml.deploy("churn", "models:/churn/1", config=config)
    assert _state() == ([], [], 0)


def test_deleting_an_unknown_deployment_is_not_found(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn/1")
    before = _state()
    with pytest.raises(NotFound, match=r"no deployment 'other'; deployments: churn"):
        loopml.deployments.delete_deployment("other")
    with pytest.raises(NotFound, match="no deployment 'other'"):
        loopml.get_deployment("other")
    with pytest.raises(NotFound, match="no deployment 'other'"):
        loopml.deployments.deployment_history("other")
    assert _state() == before


def test_a_deleted_deployment_keeps_its_history(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn/1")
    loopml.deployments.delete_deployment("churn", reason="retired")
    with pytest.raises(NotFound):
        loopml.get_deployment("churn")
    changes = loopml.deployments.deployment_history("churn")
    assert [(c.action, c.from_version, c.to_version, c.reason) for c in changes] == [
        (DeploymentAction.DELETE, 1, None, "retired"),
        (DeploymentAction.CREATE, None, 1, None),
    ]


@pytest.mark.parametrize("generation", [-1, True, 1.5, "3", 2**40])
def test_changes_since_takes_a_generation(generation: Any) -> None:
    with pytest.raises(InvalidInput, match="generation must be a whole number"):
        loopml.deployments.changes_since(generation)


def test_two_deploys_at_once_one_wins_the_other_conflicts(
    backend: str, versions: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    loopml.deploy("churn", "models:/churn/1")
    import loopml.models as models

    real = models.load_model
    both_checked = threading.Barrier(2, timeout=30)

    def slow_load(uri: str, **kw: Any) -> Any:
        found = real(uri, **kw)
        both_checked.wait()  # both deploys have read the deployment before either writes
        return found

    monkeypatch.setattr(models, "load_model", slow_load)
    results: list[Any] = []

    def run(version: int) -> None:
        try:
            results.append(
                loopml.deploy(
                    "churn", f"models:/churn/{version}", config={"max_batch_size": version}
                )
            )
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in (2, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 1, results
    assert "was changed by another writer while this deploy ran" in str(lost[0])
    assert loopml.get_deployment("churn").generation == won[0].generation == 2
    assert len(loopml.deployments.changes_since(0)) == 2


def test_two_creates_at_once_one_wins(
    backend: str, versions: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml.models as models

    real = models.load_model
    both_checked = threading.Barrier(2, timeout=30)

    def slow_load(uri: str, **kw: Any) -> Any:
        found = real(uri, **kw)
        both_checked.wait()
        return found

    monkeypatch.setattr(models, "load_model", slow_load)
    results: list[Any] = []

    def run(version: int) -> None:
        try:
            results.append(loopml.deploy("churn", f"models:/churn/{version}"))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Deployment"]
    assert [c.action for c in loopml.deployments.changes_since(0)] == [DeploymentAction.CREATE]


def test_the_hold_works_on_both_databases(backend: str, versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn@prod")
    with pytest.raises(Conflict, match="served by deployments:/churn"):
        loopml.archive_model_version("churn", 1)
    loopml.deploy("other", "models:/churn/2")
    loopml.deployments.delete_deployment("churn")
    loopml.archive_model_version("churn", 1)
    assert [c.generation for c in loopml.deployments.changes_since(1)] == [2, 3]


def test_a_client_deploys_into_its_own_stores(versions: list[Any], tmp_path: Path) -> None:
    client = loopml.Client()
    d = client.deploy("churn", "models:/churn/1")
    assert client.get_deployment("churn") == d
    assert client.list_deployments() == [d]


def test_a_version_archived_while_deploy_checks_it_is_not_deployed(
    backend: str, versions: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml.models as models

    real = models.load_model

    def archived_meanwhile(uri: str, **kw: Any) -> Any:
        found = real(uri, **kw)
        loopml.archive_model_version("churn", 2)  # after deploy's checks, before its write
        return found

    monkeypatch.setattr(models, "load_model", archived_meanwhile)
    with pytest.raises(InvalidInput, match=r"churn v2 is archived: only a READY version"):
        loopml.deploy("churn", "models:/churn/2")
    assert _state() == ([], [], 0)
    with loopml.Client().metadata.read() as conn:
        owners = conn.column("SELECT DISTINCT owner FROM object_refs")
    assert not [o for o in owners if o.startswith("deployments:/")]
