"""A blue-green rollout promoted by its smoke test can be flipped back by rollback while
the deployment serves its candidate: meanwhile the deployment holds both versions'
packages, and the flip-back returns the environment's alias to where it was, in the
same transaction."""

from __future__ import annotations

from typing import Any

import pytest

import loopml
from loopml.deployments import DeploymentAction, RolloutStatus
from loopml.errors import Conflict, InvalidInput


def _promoted_blue_green() -> Any:
    """``churn`` flipped from v1 to v2 by a blue-green rollout that passed its smoke test
    (prod moved to v2 with it)."""
    loopml.deploy("churn", strategy="blue_green", candidate="models:/churn/2")
    r = loopml.get_rollout("churn")
    done = loopml.deployments.record_smoke_test("churn", r.id, passed=True)
    assert done.status is RolloutStatus.PROMOTED
    assert loopml.get_deployment("churn").version == 2
    assert _prod() == 2
    return done


def _prod() -> int:
    return int(loopml.registry.get_model_version("churn", alias="prod").version)


def _third_version() -> int:
    """Register ``churn`` v3 (another fit, so another package)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, 80), "charges": rng.uniform(20, 120, 80)})
    target = (frame["charges"] / 2 > frame["tenure"]).astype("int64")
    with loopml.start_run():
        info = loopml.log_model(LogisticRegression(C=0.01).fit(frame, target))
    return int(loopml.register_model(info.uri, "churn").version)


def test_a_flippable_blue_green_holds_its_primary_until_the_deployment_changes(
    backend: str, served: list[Any]
) -> None:
    _promoted_blue_green()
    for refused in (loopml.registry.delete_model_version, loopml.registry.archive_model_version):
        with pytest.raises(Conflict, match="churn v1 is served by deployments:/churn"):
            refused("churn", 1)
    loopml.deploy("churn", "models:/churn@prod", reason="v2 for good")  # a replace: one again
    loopml.registry.delete_model_version("churn", 1)
    with pytest.raises(Conflict, match="churn v2 is served by deployments:/churn"):
        loopml.registry.archive_model_version("churn", 2)
    with pytest.raises(InvalidInput, match="no active rollout to roll back"):
        loopml.rollback("churn")


def test_a_new_rollout_after_a_flipped_blue_green_lets_its_primary_go(served: list[Any]) -> None:
    _promoted_blue_green()
    third = _third_version()
    loopml.promote(f"churn/{third}", to="prod", candidate=True)
    loopml.deploy("churn", strategy="canary", candidate=f"models:/churn/{third}")
    loopml.registry.delete_model_version("churn", 1)  # held by neither the deployment nor prod
    for held in (2, third):
        with pytest.raises(Conflict, match=f"churn v{held} is served by deployments:/churn"):
            loopml.registry.archive_model_version("churn", held)


def test_flipping_back_returns_the_alias_to_where_it_was(backend: str, served: list[Any]) -> None:
    r = _promoted_blue_green()
    back = loopml.rollback("churn", reason="p99 doubled")
    assert (back.id, back.status, back.finish_reason) == (
        r.id,
        RolloutStatus.ROLLED_BACK,
        "p99 doubled",
    )
    d = loopml.get_deployment("churn")
    assert (d.version, d.model_uri) == (1, "models:/churn/1")
    assert _prod() == 1
    move = loopml.registry.model_history("churn", "prod")[0]
    assert (move.from_version, move.to_version, move.reason) == (
        2,
        1,
        f"rollout:/{r.id} rolled back: p99 doubled",
    )
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.from_version, change.to_version, change.weight) == (
        DeploymentAction.ROLLBACK,
        2,
        1,
        0,
    )
    loopml.registry.archive_model_version("churn", 2)  # held by nothing now


def test_a_flip_back_leaves_an_alias_moved_off_the_candidate(served: list[Any]) -> None:
    _promoted_blue_green()
    third = _third_version()
    loopml.promote_model("churn", third, to="prod", reason="by hand")
    back = loopml.rollback("churn", reason="flip back")
    assert back.status is RolloutStatus.ROLLED_BACK
    assert back.finish_reason == (
        f"flip back (prod not moved back: it points at v{third} now, not at models:/churn/2)"
    )
    assert loopml.get_deployment("churn").version == 1
    assert _prod() == third
    assert loopml.registry.model_history("churn", "prod")[0].reason == "by hand"


def test_a_flip_back_that_fails_moves_neither_the_deployment_nor_the_alias(
    served: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.deployments import _repository

    _promoted_blue_green()
    moves = loopml.registry.model_history("churn", "prod")
    history = loopml.deployments.deployment_history("churn")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(_repository, "_change_row", broken)
    with pytest.raises(RuntimeError, match="the disk filled up"):
        loopml.rollback("churn")
    assert _prod() == 2 and loopml.registry.model_history("churn", "prod") == moves
    assert loopml.get_deployment("churn").version == 2
    assert loopml.deployments.deployment_history("churn") == history
    assert loopml.get_rollout("churn").status is RolloutStatus.PROMOTED
