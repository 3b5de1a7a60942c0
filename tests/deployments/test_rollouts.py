"""Rollouts: the records, the schema, starting one by deploy, promote / rollback / abort,
a blue-green smoke test, and bad input that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

import loopml
from loopml.deployments import (
    DeploymentAction,
    RolloutPolicy,
    RolloutStatus,
    Strategy,
    parse_interval,
    parse_steps,
)
from loopml.errors import Conflict, InvalidInput, NotFound


def _state() -> tuple[Any, ...]:
    """Everything a rollout writes, to compare before and after a refused call."""
    return (
        loopml.list_deployments(),
        loopml.deployments.changes_since(0),
        loopml.list_rollouts(),
        loopml.registry.get_model_version("churn", alias="prod").version,
    )


def test_a_candidate_promotion_moves_nothing(versions: list[Any]) -> None:
    from loopml.evaluation import PromotionStatus, candidate_promotion

    p = loopml.promote("churn/2", to="prod", candidate=True)
    assert p.status is PromotionStatus.CANDIDATE and not p.moved
    assert loopml.registry.get_model_version("churn", alias="prod").version == 1
    assert candidate_promotion("churn", 2, "prod") == p
    assert candidate_promotion("churn", 2, "staging") is None
    with pytest.raises(InvalidInput, match="cannot be forced"):
        loopml.promote("churn/2", to="prod", candidate=True, force=True, reason="x")


def test_a_canary_round_trips_through_the_store(backend: str, versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn@prod")
    loopml.promote("churn/2", to="prod", candidate=True)
    d = loopml.deploy(
        "churn",
        strategy="canary",
        candidate="models:/churn/2",
        steps="10,50,100",
        interval="30s",
        policy={"min_requests": 20, "max_error_rate": 0.1},
        reason="v2 looks better",
    )
    assert d.version == 1 and d.rollout_id is not None and d.strategy is Strategy.CANARY
    r = loopml.get_rollout("churn")
    assert loopml.get_rollout(d.rollout_id) == r == loopml.get_rollout(r.uri)
    assert r.uri == f"rollout:/{d.rollout_id}"
    assert (r.deployment, r.strategy, r.status, r.environment) == (
        "churn",
        Strategy.CANARY,
        RolloutStatus.PROGRESSING,
        "prod",
    )
    assert (r.primary, r.candidate, r.candidate_uri) == (
        "models:/churn/1",
        "models:/churn/2",
        "models:/churn/2",
    )
    assert (r.steps, r.step, r.interval, r.sticky, r.reason) == (
        (10, 50, 100),
        0,
        30.0,
        None,
        "v2 looks better",
    )
    assert r.policy == RolloutPolicy(min_requests=20, max_error_rate=0.1)
    assert (r.weight, r.weights, r.mirror) == (10, {"primary": 90, "candidate": 10}, False)
    assert r.step_started_at is not None and r.finished_at is None
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.rollout_id, change.weight) == (
        DeploymentAction.ROLLOUT,
        r.id,
        10,
    )
    assert (change.from_version, change.to_version) == (1, 2)
    assert loopml.deployments.changes_since(d.generation - 1)[0].action is DeploymentAction.ROLLOUT
    assert [x.id for x in loopml.list_rollouts("churn")] == [r.id]
    assert loopml.list_rollouts("other") == []
    assert loopml.lineage.resolve(r.uri) == r
    graph = loopml.get_lineage(r.uri)
    assert "models:/churn/2" in graph.labels and "deployments:/churn" in graph.labels


def test_promoting_a_rollout_moves_the_deployment_and_the_alias(
    backend: str, versions: list[Any]
) -> None:
    from loopml.evaluation import PromotionStatus, list_promotions

    loopml.deploy("churn", "models:/churn@prod")
    loopml.promote("churn/2", to="prod", candidate=True)
    loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    r = loopml.promote_rollout("churn", reason="looks fine")
    assert (r.status, r.weight, r.finish_reason) == (RolloutStatus.PROMOTED, 100, "looks fine")
    d = loopml.get_deployment("churn")
    assert (d.version, d.model_uri, d.rollout_id) == (2, "models:/churn/2", r.id)
    assert loopml.registry.get_model_version("churn", alias="prod").version == 2
    assert list_promotions("churn", 2, "prod")[0].status is PromotionStatus.PROMOTED
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.weight, change.to_version) == (DeploymentAction.PROMOTE, 100, 2)
    # the deployment holds v2 alone now: v1 may be archived, v2 may not
    loopml.registry.archive_model_version("churn", 1)
    with pytest.raises(Conflict, match="served by deployments:/churn"):
        loopml.registry.archive_model_version("churn", 2)
    with pytest.raises(InvalidInput, match="no active rollout to promote"):
        loopml.promote_rollout("churn")


@pytest.mark.parametrize(
    ("verb", "status", "action"),
    [
        ("rollback", RolloutStatus.ROLLED_BACK, DeploymentAction.ROLLBACK),
        ("abort", RolloutStatus.ABORTED, DeploymentAction.ABORT),
    ],
)
def test_rollback_and_abort_return_traffic_and_leave_the_alias(
    served: list[Any], verb: str, status: RolloutStatus, action: DeploymentAction
) -> None:
    loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    # the candidate is held while it takes traffic
    with pytest.raises(Conflict, match="served by deployments:/churn"):
        loopml.registry.archive_model_version("churn", 2)
    r = getattr(loopml.deployments, verb)("churn", reason="p99 doubled")
    assert (r.status, r.weight, r.finish_reason) == (status, 0, "p99 doubled")
    assert r.finished_at is not None and r.status.finished
    assert loopml.get_deployment("churn").version == 1
    assert loopml.registry.get_model_version("churn", alias="prod").version == 1
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.weight, change.reason) == (action, 0, "p99 doubled")
    loopml.registry.archive_model_version("churn", 2)  # released
    with pytest.raises(
        InvalidInput, match=f"no active rollout to {verb.replace('rollback', 'roll back')}"
    ):
        getattr(loopml.deployments, verb)("churn")


def test_nothing_to_decide_without_a_rollout(versions: list[Any]) -> None:
    with pytest.raises(NotFound, match="no deployment 'churn'"):
        loopml.rollback("churn")
    loopml.deploy("churn", "models:/churn@prod")
    for verb in (loopml.promote_rollout, loopml.rollback, loopml.deployments.abort):
        with pytest.raises(InvalidInput, match="has no active rollout"):
            verb("churn")
    with pytest.raises(NotFound, match="has had no rollout"):
        loopml.get_rollout("churn")
    with pytest.raises(NotFound, match="no rollout 7"):
        loopml.get_rollout(7)


def test_the_candidate_must_have_passed_the_gates_as_a_candidate(versions: list[Any]) -> None:
    loopml.deploy("churn", "models:/churn@prod")
    before = _state()
    with pytest.raises(InvalidInput, match=r"loopml models promote churn/2 --to prod --candidate"):
        loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    with pytest.raises(InvalidInput, match="has not passed the gates of prod"):  # nor created
        loopml.deploy("fresh", "models:/churn@prod", strategy="ab", candidate="models:/churn/2")
    loopml.promote("churn/2", to="staging", candidate=True)  # another environment's gates
    with pytest.raises(InvalidInput, match="has not passed the gates of prod"):
        loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    assert _state() == before


def test_a_second_rollout_or_deploy_while_one_is_active_is_refused(served: list[Any]) -> None:
    first = loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    before = _state()
    with pytest.raises(
        Conflict, match=rf"rollout:/{first.rollout_id} .*promote, roll back or abort"
    ):
        loopml.deploy("churn", strategy="ab", candidate="models:/churn/2")
    with pytest.raises(Conflict, match="promote, roll back or abort it first"):
        loopml.deploy("churn", "models:/churn/2")
    assert _state() == before
    loopml.deployments.abort("churn")
    again = loopml.deploy("churn", strategy="shadow", candidate="models:/churn/2")
    assert again.rollout_id != first.rollout_id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": "0,50,100"}, "percent from 1 to 100, not 0"),
        ({"steps": "50,25,100"}, "must increase strictly"),
        ({"steps": "5,25"}, "must end at 100"),
        ({"steps": "100"}, "needs a step below 100"),
        ({"steps": "5,x,100"}, "whole percents"),
        ({"interval": "1s"}, "'1s' is 1 seconds"),
        ({"interval": "soon"}, "interval must be seconds"),
        ({"interval": -3}, "from 2 seconds"),
        ({"strategy": "ab", "split": 0}, "split must be .* from 1 to 99, got 0"),
        ({"strategy": "ab", "split": 100}, "got 100"),
        ({"strategy": "ab", "sticky": "cookie:x"}, "sticky must be 'header:NAME'.*'cookie:x'"),
        ({"sticky": "header:X-User"}, "sticky belongs to the ab strategy"),
        ({"split": 30}, "split belongs to the ab strategy"),
        ({"strategy": "shadow", "steps": "5,100"}, "steps belongs to the canary strategy"),
        ({"policy": {"min_request": 5}}, "unknown rollout policy key 'min_request'"),
        ({"policy": {"max_error_rate": 2}}, "max_error_rate must be a number from 0 to 1"),
        ({"policy": {"failure_limit": 0}}, "failure_limit must be a whole number"),
        ({"strategy": "slow"}, "unknown strategy 'slow'"),
        ({"candidate": None}, "needs the candidate"),
        ({"candidate": "churn/2"}, "must be a models:/ URI"),
        ({"candidate": "models:/churn/1"}, "serves models:/churn/1 already"),
        ({"candidate": "models:/churn/9"}, "9"),
    ],
)
def test_bad_rollout_input_is_refused_and_changes_nothing(
    served: list[Any], kwargs: dict[str, Any], message: str
) -> None:
    before = _state()
    args = {"strategy": "canary", "candidate": "models:/churn/2", **kwargs}
    with pytest.raises((InvalidInput, NotFound), match=message):
        loopml.deploy("churn", **args)
    assert _state() == before


def test_replace_refuses_rollout_settings(served: list[Any]) -> None:
    with pytest.raises(InvalidInput, match="candidate belongs to a rollout"):
        loopml.deploy("churn", "models:/churn/1", candidate="models:/churn/2")


def test_a_rollout_starts_a_missing_deployment_with_its_primary(versions: list[Any]) -> None:
    loopml.promote("churn/2", to="prod", candidate=True)
    d = loopml.deploy(
        "churn",
        "models:/churn@prod",
        strategy="ab",
        candidate="models:/churn/2",
        split=20,
        sticky="header:X-User",
    )
    r = loopml.get_rollout("churn")
    assert d.version == 1 and (r.weight, r.split, r.sticky, r.mirror) == (
        20,
        20,
        "header:X-User",
        False,
    )
    actions = [c.action for c in loopml.deployments.deployment_history("churn")]
    assert actions == [DeploymentAction.ROLLOUT, DeploymentAction.CREATE]


def test_a_rollout_names_the_deployment_primary(served: list[Any]) -> None:
    with pytest.raises(InvalidInput, match="the primary of a rollout is the version"):
        loopml.deploy("churn", "models:/churn/2", strategy="canary", candidate="models:/churn/2")
    with pytest.raises(NotFound, match="no deployment 'nope' to roll out on"):
        loopml.deploy("nope", strategy="canary", candidate="models:/churn/2")


def test_the_environment_comes_from_the_alias_or_the_one_env_holding_the_version(
    versions: list[Any],
) -> None:
    loopml.deploy("churn", "models:/churn/1")  # prod points at v1: the rollout is prod's
    loopml.promote("churn/2", to="prod", candidate=True)
    loopml.deploy("churn", strategy="shadow", candidate="models:/churn/2")
    r = loopml.get_rollout("churn")
    assert (r.environment, r.mirror, r.weight) == ("prod", True, 0)
    loopml.deployments.abort("churn")
    loopml.deploy("lone", "models:/churn/2")  # no environment points at v2
    with pytest.raises(InvalidInput, match="no environment of churn points at v2"):
        loopml.deploy("lone", strategy="canary", candidate="models:/churn/1")


def test_blue_green_flips_on_a_passing_smoke_test_and_rollback_flips_back(
    served: list[Any],
) -> None:
    loopml.deploy("churn", strategy="blue_green", candidate="models:/churn/2")
    r = loopml.get_rollout("churn")
    assert (r.status, r.weight) == (RolloutStatus.PENDING, 0)
    with pytest.raises(InvalidInput, match="a smoke test is reported for a blue_green rollout"):
        loopml.deployments.record_smoke_test("other", r.id, passed=True)
    done = loopml.deployments.record_smoke_test("churn", r.id, passed=True, detail="20 requests")
    assert (done.status, done.weight) == (RolloutStatus.PROMOTED, 100)
    assert done.finish_reason == "smoke test passed: 20 requests"
    assert loopml.get_deployment("churn").version == 2
    assert loopml.registry.get_model_version("churn", alias="prod").version == 2
    generation = loopml.deployments.current_generation()
    again = loopml.deployments.record_smoke_test("churn", r.id, passed=False)  # idempotent
    assert again == done and loopml.deployments.current_generation() == generation
    back = loopml.rollback("churn", reason="flip back")
    assert (back.status, back.weight) == (RolloutStatus.ROLLED_BACK, 0)
    d = loopml.get_deployment("churn")
    assert (d.version, d.model_uri) == (1, "models:/churn/1")
    assert loopml.registry.get_model_version("churn", alias="prod").version == 1  # moved back
    with pytest.raises(InvalidInput, match="no active rollout to roll back"):
        loopml.rollback("churn")


def test_blue_green_rolls_back_on_a_failing_smoke_test(served: list[Any]) -> None:
    loopml.deploy("churn", strategy="blue_green", candidate="models:/churn/2")
    r = loopml.get_rollout("churn")
    done = loopml.deployments.record_smoke_test(
        "churn", r.id, passed=False, detail="3 of 20 requests failed"
    )
    assert (done.status, done.finish_reason) == (
        RolloutStatus.ROLLED_BACK,
        "smoke test failed: 3 of 20 requests failed",
    )
    assert loopml.get_deployment("churn").version == 1
    assert loopml.registry.get_model_version("churn", alias="prod").version == 1


def test_deleting_the_deployment_aborts_its_rollout(served: list[Any]) -> None:
    loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    loopml.deployments.delete_deployment("churn")
    r = loopml.list_rollouts("churn")[0]
    assert (r.status, r.finish_reason) == (RolloutStatus.ABORTED, "the deployment was deleted")
    loopml.registry.archive_model_version("churn", 2)


def test_steps_and_intervals_parse() -> None:
    assert parse_steps(None) == (5, 25, 50, 100)
    assert parse_steps(" 10, 50 ,100") == (10, 50, 100)
    assert parse_steps([1, 100]) == (1, 100)
    assert parse_interval(None) == 60.0
    assert parse_interval(45) == 45.0
    assert parse_interval("45") == 45.0
    assert parse_interval("30s") == 30.0
    assert parse_interval("2m") == 120.0
    assert parse_interval("1.5h") == 5400.0
    for bad in ("1s", 1.9, "2d", True, float("nan"), "1e9"):
        with pytest.raises(InvalidInput):
            parse_interval(bad)
    for bad in ([True, 100], "", [50, 50, 100], (5.0, 100)):
        with pytest.raises(InvalidInput):
            parse_steps(bad)  # type: ignore[arg-type]


def test_a_rollouts_weight_follows_its_strategy_and_status() -> None:
    from loopml.deployments import Rollout

    base = Rollout(
        1,
        "churn",
        Strategy.CANARY,
        RolloutStatus.PROGRESSING,
        "churn",
        1,
        "churn",
        2,
        "models:/churn/2",
        (5, 25, 100),
        1,
        60.0,
        0,
        None,
        RolloutPolicy(),
        None,
        None,
        0.0,
        0.0,
    )
    from dataclasses import replace

    assert base.weight == 25
    assert replace(base, status=RolloutStatus.PROMOTED).weight == 100
    assert replace(base, status=RolloutStatus.ROLLED_BACK).weight == 0
    assert replace(base, status=RolloutStatus.ABORTED).weights == {"primary": 100, "candidate": 0}
    assert replace(base, strategy=Strategy.AB, split=30).weight == 30
    shadow = replace(base, strategy=Strategy.SHADOW)
    assert (shadow.weight, shadow.mirror) == (0, True)
    assert not replace(shadow, status=RolloutStatus.ABORTED).mirror
    green = replace(base, strategy=Strategy.BLUE_GREEN, status=RolloutStatus.PENDING)
    assert green.weight == 0
    assert replace(green, status=RolloutStatus.PROGRESSING).weight == 100
    assert [s.finished for s in RolloutStatus] == [False, False, True, True, True]


def test_a_superseded_candidate_is_promoted_without_moving_the_alias(served: list[Any]) -> None:
    from loopml.context import current
    from loopml.evaluation import _repository as promotions

    loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    promotions.record(  # v2 asked for prod again and refused: no longer a candidate
        current().metadata,
        name="churn",
        version=2,
        environment="prod",
        status=loopml.evaluation.PromotionStatus.REFUSED,
        champion_version=1,
        dataset=None,
        evaluation_id=None,
        champion_evaluation_id=None,
        checks=[],
        reason=None,
        user=None,
        transition_id=None,
    )
    r = loopml.promote_rollout("churn", reason="by hand")
    assert r.status is RolloutStatus.PROMOTED and loopml.get_deployment("churn").version == 2
    assert r.finish_reason == (
        "by hand (prod not moved: models:/churn/2 is no longer a candidate for prod)"
    )
    assert loopml.registry.get_model_version("churn", alias="prod").version == 1
