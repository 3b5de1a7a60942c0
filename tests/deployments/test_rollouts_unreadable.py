"""A rollout row that cannot be read (tampered, or written by something else): every
reader raises CorruptRecord naming the rollout, the column and the value; a deploy is
refused saying to abort first; the abort ends it and the deployment recovers."""

from __future__ import annotations

import re
from typing import Any

import pytest

import loopml
from loopml.context import current
from loopml.deployments import DeploymentAction, RolloutStatus, control
from loopml.errors import CorruptRecord, StoreError


def _set(table: str, column: str, value: Any, row_id: int) -> None:
    """Write ``value`` into ``column`` of row ``row_id`` of ``table``, behind loopml's back."""
    current().metadata.write(
        lambda conn: conn.execute(
            f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, row_id)
        ).close()
    )


def _canary() -> Any:
    loopml.deploy(
        "churn",
        strategy="canary",
        candidate="models:/churn/2",
        steps="10,50,100",
        interval="10m",
        policy={"min_requests": 20},
    )
    return loopml.get_rollout("churn")


_TAMPERED = [
    ("steps", "[10, 50,", "steps", "not JSON"),
    ("steps", '[10, "x", 100]', "steps", "not a list of whole percents"),
    ("policy", "{min_requests: 20", "policy", "not JSON"),
    ("policy", '{"min_requests": 20, "bogus": 1}', "policy", "unknown rollout policy key"),
    ("policy", '{"min_requests": -3}', "policy", "min_requests must be a whole number"),
    ("policy", "[1, 2]", "policy", "not a table of thresholds"),
    ("status", "RUNNING", "status", "not one of PENDING"),
    ("strategy", "rocket", "strategy", "not one of blue_green"),
    ("strategy", "replace", "strategy", "not one of blue_green"),
    ("step", 3, "step", "a canary of 3 steps has no step 4"),
    ("interval_seconds", float("inf"), "interval_seconds", "not a finite number"),
]


@pytest.mark.parametrize(("column", "value", "named", "why"), _TAMPERED)
def test_an_unreadable_column_is_named_with_its_value_and_what_to_do(
    served: list[Any], column: str, value: Any, named: str, why: str
) -> None:
    r = _canary()
    _set("rollouts", column, value, r.id)
    for read in (
        lambda: loopml.get_rollout(r.id),
        lambda: loopml.list_rollouts("churn"),
        lambda: loopml.deployments.list_rollouts(),
    ):
        with pytest.raises(CorruptRecord) as raised:
            read()
        text = str(raised.value)
        assert text.startswith(f"rollout:/{r.id} of deployment 'churn' cannot be read: ")
        assert f"its {named} is {value!r}"[:40] in text, text
        assert why in text, text
        assert "loopml deployments abort churn" in text
    assert isinstance(raised.value, StoreError)


def test_a_long_bad_value_is_shortened(served: list[Any]) -> None:
    r = _canary()
    _set("rollouts", "policy", "{" + "x" * 5000, r.id)
    with pytest.raises(CorruptRecord) as raised:
        loopml.get_rollout(r.id)
    assert len(str(raised.value)) < 600
    assert "'{xxxx" in str(raised.value) and "..." in str(raised.value)


def test_a_version_column_holding_text_is_unreadable(served: list[Any]) -> None:
    r = _canary()  # SQLite keeps text in an integer column
    _set("rollouts", "candidate_version", "two", r.id)
    with pytest.raises(CorruptRecord, match=r"its candidate_version is 'two' \(not a whole"):
        loopml.get_rollout("churn")


def test_an_unreadable_rollout_refuses_decisions_and_deploys_until_it_is_aborted(
    backend: str, served: list[Any]
) -> None:
    r = _canary()
    _set("rollouts", "policy", "{not json", r.id)
    before = loopml.get_deployment("churn")
    history = loopml.deployments.deployment_history("churn")
    with pytest.raises(CorruptRecord) as raised:
        loopml.deploy("churn", "models:/churn/2")
    assert "This deploy changed nothing; deploy again after the abort." in str(raised.value)
    assert "loopml deployments abort churn" in str(raised.value)
    for decide in (loopml.promote_rollout, loopml.rollback):
        with pytest.raises(CorruptRecord, match="loopml deployments abort churn"):
            decide("churn")
    with pytest.raises(CorruptRecord):
        loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    with pytest.raises(CorruptRecord):
        control("churn", owner="a")
    assert loopml.get_deployment("churn") == before
    assert loopml.deployments.deployment_history("churn") == history

    done = loopml.deployments.abort("churn", reason="its record is broken")
    assert (done.id, done.status, done.candidate) == (r.id, RolloutStatus.ABORTED, r.candidate)
    assert done.finish_reason == "its record is broken (its record could not be read (policy))"
    d = loopml.get_deployment("churn")
    assert (d.version, d.model_uri) == (1, "models:/churn@prod")
    assert d.generation > before.generation
    assert d.rollout_id is None  # still unreadable: the deployment lets go of it
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.rollout_id, change.weight, change.generation) == (
        DeploymentAction.ABORT,
        r.id,
        0,
        d.generation,
    )
    assert (change.from_version, change.to_version) == (2, 1)
    assert change.reason == done.finish_reason
    assert [c.name for c in loopml.deployments.changes_since(before.generation)] == ["churn"]
    with current().metadata.read() as conn:
        status = conn.scalar("SELECT status FROM rollouts WHERE id = ?", (r.id,))
    assert status == "ABORTED"
    # the deployment holds v1 alone: the candidate may be archived
    loopml.registry.archive_model_version("churn", 2)
    with pytest.raises(loopml.errors.InvalidInput, match="no active rollout to abort"):
        loopml.deployments.abort("churn")
    # and it changes again as usual
    assert loopml.deploy("churn", "models:/churn/1").version == 1


def test_a_new_rollout_starts_after_the_abort_of_an_unreadable_one(served: list[Any]) -> None:
    r = _canary()
    _set("rollouts", "step", 9, r.id)
    loopml.deployments.abort("churn")
    again = _canary()
    assert again.id != r.id and again.status is RolloutStatus.PROGRESSING
    assert loopml.get_deployment("churn").rollout_id == again.id


def test_an_unknown_status_is_aborted_and_the_row_reads_again(served: list[Any]) -> None:
    r = _canary()
    _set("rollouts", "status", "RUNNING", r.id)
    with pytest.raises(CorruptRecord, match=r"its status is 'RUNNING'"):
        loopml.get_rollout(r.id)
    done = loopml.deployments.abort("churn")
    assert done.status is RolloutStatus.ABORTED
    assert done.finish_reason == "its record could not be read (status)"
    assert loopml.get_rollout(r.id) == done  # readable now
    assert loopml.get_deployment("churn").rollout_id == r.id  # so it stays the latest


def test_deleting_a_deployment_ends_its_unreadable_rollout(served: list[Any]) -> None:
    r = _canary()
    _set("rollouts", "steps", "oops", r.id)
    loopml.deployments.delete_deployment("churn")
    with current().metadata.read() as conn:
        row = conn.first("SELECT status, finish_reason FROM rollouts WHERE id = ?", (r.id,))
    assert tuple(row) == ("ABORTED", "the deployment was deleted")


def _analysis_row(rollout_id: int, checks: str, verdict: str = "PASS") -> int:
    def insert(conn: Any) -> int:
        return int(
            conn.scalar(
                "INSERT INTO rollout_analyses (rollout_id, step, verdict, checks, primary_count, "
                "candidate_count, created_at) VALUES (?, 0, ?, ?, 30, 30, 1.0) RETURNING id",
                (rollout_id, verdict, checks),
            )
        )

    return current().metadata.write(insert)


@pytest.mark.parametrize(
    ("checks", "verdict", "named"),
    [
        ("[{", "PASS", "checks"),
        ('[{"name": "error_rate"}]', "PASS", "checks"),
        ("[]", "MAYBE", "verdict"),
    ],
)
def test_an_unreadable_analysis_is_named(
    served: list[Any], checks: str, verdict: str, named: str
) -> None:
    r = _canary()
    analysis_id = _analysis_row(r.id, checks, verdict)
    with pytest.raises(CorruptRecord) as raised:
        loopml.deployments.rollout_analyses("churn")
    assert re.match(
        rf"analysis {analysis_id} of rollout:/{r.id} cannot be read: its {named} is ",
        str(raised.value),
    ), raised.value
    assert loopml.get_rollout("churn").id == r.id  # the rollout itself still reads
