"""control: the leased controller steps a canary forward, promotes it, rolls it back,
waits for traffic, and resumes where a dead owner left off. Prediction-log rows are
written with the predictions package's own logger, timed inside the window."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.deployments import DeploymentAction, RolloutStatus, Verdict, control
from loopml.predictions import PredictionLogger, PredictionRecord

_POLICY = {"min_requests": 20}


def _log(
    at: float, variant: str, n: int, *, errors: float = 0.0, tag: str = "", latency: float = 1.0
) -> None:
    """``n`` rows of ``variant`` at time ``at`` (the first ``errors`` share failed)."""
    bad = round(n * errors)
    with PredictionLogger("churn") as logger:
        for i in range(n):
            failed = i < bad
            logger.log(
                PredictionRecord(
                    f"{variant}-{tag}{at}-{i}",
                    inputs={"tenure": 1.0, "charges": 50.0},
                    prediction=None if failed else i % 2,
                    model_name="churn",
                    model_version=1 if variant == "primary" else 2,
                    variant=variant,
                    latency_ms=latency,
                    status="model_error" if failed else "ok",
                    timestamp=datetime.fromtimestamp(at, tz=timezone.utc),
                )
            )


def _traffic(at: float, n: int = 30, *, errors: float = 0.0, other: str = "candidate") -> None:
    _log(at, "primary", n)
    _log(at, other, n, errors=errors)


def _canary(steps: str = "10,50,100", **kwargs: Any) -> tuple[Any, float]:
    loopml.deploy(
        "churn",
        strategy="canary",
        candidate="models:/churn/2",
        steps=steps,
        interval="10s",
        policy=kwargs.pop("policy", _POLICY),
        **kwargs,
    )
    r = loopml.get_rollout("churn")
    return r, r.step_started_at


def _prod() -> int:
    return int(loopml.registry.get_model_version("churn", alias="prod").version)


def test_nothing_to_control_without_an_active_rollout(served: list[Any]) -> None:
    assert control("churn", owner="a") is None
    with pytest.raises(loopml.errors.InvalidInput, match="owner must be text"):
        control("churn", owner=None)  # type: ignore[arg-type]


def test_a_passing_canary_steps_forward_then_promotes(served: list[Any]) -> None:
    r, t0 = _canary()
    assert control("churn", owner="a", now=t0 + 1) is None  # the window is open
    _traffic(t0 + 2)
    assert control("churn", owner="a", now=t0 + 5) is None
    first = control("churn", owner="a", now=t0 + 11)
    assert first is not None and first.verdict is Verdict.PASS
    assert first.counts == {"primary": 30, "candidate": 30} and first.step == 0
    moved = loopml.get_rollout("churn")
    assert (moved.step, moved.weight, moved.step_started_at) == (1, 50, t0 + 11)
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.weight) == (DeploymentAction.STEP, 50)
    assert _prod() == 1
    # the next window counts only its own rows
    assert control("churn", owner="a", now=t0 + 22).verdict is Verdict.NOT_YET  # type: ignore[union-attr]
    _traffic(t0 + 23)
    last = control("churn", owner="a", now=t0 + 34)
    assert last is not None and last.verdict is Verdict.PASS
    done = loopml.get_rollout("churn")
    assert (done.status, done.weight) == (RolloutStatus.PROMOTED, 100)
    assert loopml.get_deployment("churn").version == 2 and _prod() == 2
    assert [a.verdict for a in loopml.deployments.rollout_analyses(r.id)] == [
        Verdict.PASS,
        Verdict.PASS,
    ]
    assert control("churn", owner="a", now=t0 + 60) is None


def test_a_canary_failing_20_percent_is_rolled_back_in_its_first_window(
    served: list[Any],
) -> None:
    r, t0 = _canary(policy={"min_requests": 50})
    _log(t0 + 1, "primary", 300)
    _log(t0 + 1, "candidate", 60, errors=0.2)
    found = control("churn", owner="a", now=t0 + 3)  # well before the 10 s interval
    assert found is not None and found.verdict is Verdict.FAIL
    done = loopml.get_rollout(r.id)
    assert done.status is RolloutStatus.ROLLED_BACK
    assert "error rate 20.0%" in (done.finish_reason or "")
    assert loopml.get_deployment("churn").version == 1 and _prod() == 1  # alias unchanged
    change = loopml.deployments.deployment_history("churn")[0]
    assert (change.action, change.weight) == (DeploymentAction.ROLLBACK, 0)


def test_before_the_window_ends_only_a_failing_error_rate_rolls_back(
    served: list[Any],
) -> None:
    r, t0 = _canary(policy={"min_requests": 50})
    _log(t0 + 1, "primary", 100)
    _log(t0 + 1, "candidate", 100, latency=200.0)  # slow, but the window is still open
    assert control("churn", owner="a", now=t0 + 3) is None
    assert loopml.get_rollout(r.id).status is RolloutStatus.PROGRESSING
    found = control("churn", owner="a", now=t0 + 11)  # the window is over: judged whole
    assert found is not None and found.verdict is Verdict.FAIL
    assert {c.name for c in found.failures} >= {"latency_p99"}
    assert loopml.get_rollout(r.id).status is RolloutStatus.ROLLED_BACK


def test_too_little_traffic_never_passes(served: list[Any]) -> None:
    r, t0 = _canary()
    _traffic(t0 + 1, n=5)
    for later in (11, 100, 5000):
        found = control("churn", owner="a", now=t0 + later)
        assert found is not None and found.verdict is Verdict.NOT_YET
    kept = loopml.deployments.rollout_analyses(r.id)
    assert len(kept) == 1 and kept[0].created_at == t0 + 5000  # one row, kept fresh
    assert loopml.get_rollout("churn").step == 0


def test_one_of_two_owners_analyses_each_window(backend: str, served: list[Any]) -> None:
    r, t0 = _canary()
    _traffic(t0 + 1)
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def tick(owner: str) -> None:
        barrier.wait()
        results[owner] = control("churn", owner=owner, now=t0 + 11)

    threads = [threading.Thread(target=tick, args=(o,)) for o in ("host-a", "host-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v is None for v in results.values()) == [False, True]
    assert len(loopml.deployments.rollout_analyses(r.id)) == 1
    assert loopml.get_rollout("churn").step == 1
    winner = next(o for o, v in results.items() if v is not None)
    loser = "host-b" if winner == "host-a" else "host-a"
    _traffic(t0 + 12)
    assert control("churn", owner=loser, now=t0 + 22) is None  # the lease is held
    assert len(loopml.deployments.rollout_analyses(r.id)) == 1


def test_another_owner_resumes_from_the_recorded_step_when_the_lease_expires(
    backend: str, served: list[Any]
) -> None:
    r, t0 = _canary()
    _traffic(t0 + 1)
    assert control("churn", owner="dead", now=t0 + 11) is not None  # step 0 → 1, then dies
    _traffic(t0 + 12)
    assert control("churn", owner="next", now=t0 + 25) is None  # its lease still holds
    assert loopml.get_rollout("churn").step == 1
    resumed = control("churn", owner="next", now=t0 + 11 + 31)  # expired: taken over
    assert resumed is not None and resumed.step == 1
    assert loopml.get_rollout("churn").status is RolloutStatus.PROMOTED
    assert [a.step for a in loopml.deployments.rollout_analyses(r.id)] == [0, 1]


def test_approval_leaves_the_canary_at_100_percent_for_a_person(
    served: list[Any], project: Path
) -> None:
    (project / "loopml.toml").write_text("[gates.prod.options]\napproval = true\n")
    _r, t0 = _canary(steps="10,100")
    _traffic(t0 + 1)
    assert control("churn", owner="a", now=t0 + 11).verdict is Verdict.PASS  # type: ignore[union-attr]
    waiting = loopml.get_rollout("churn")
    assert (waiting.status, waiting.weight) == (RolloutStatus.PROGRESSING, 100)
    assert control("churn", owner="a", now=t0 + 500) is None
    assert loopml.get_deployment("churn").version == 1 and _prod() == 1
    done = loopml.promote_rollout("churn", reason="approved")
    assert done.status is RolloutStatus.PROMOTED and _prod() == 2


def test_the_failure_limit_starts_the_window_again(served: list[Any]) -> None:
    r, t0 = _canary(policy={"min_requests": 20, "failure_limit": 2})
    _traffic(t0 + 1, errors=0.5)
    first = control("churn", owner="a", now=t0 + 2)
    assert first is not None and first.verdict is Verdict.FAIL
    again = loopml.get_rollout("churn")
    assert again.status is RolloutStatus.PROGRESSING and again.step_started_at == t0 + 2
    assert control("churn", owner="a", now=t0 + 3) is None  # the old rows are behind it
    _traffic(t0 + 4, errors=0.5)
    assert control("churn", owner="a", now=t0 + 5).verdict is Verdict.FAIL  # type: ignore[union-attr]
    assert loopml.get_rollout("churn").status is RolloutStatus.ROLLED_BACK
    assert len(loopml.deployments.rollout_analyses(r.id)) == 2


@pytest.mark.parametrize(("strategy", "other"), [("ab", "candidate"), ("shadow", "shadow")])
def test_ab_and_shadow_are_analysed_each_interval_and_never_promoted(
    served: list[Any], strategy: str, other: str
) -> None:
    loopml.deploy(
        "churn", strategy=strategy, candidate="models:/churn/2", interval="10s", policy=_POLICY
    )
    r = loopml.get_rollout("churn")
    t0 = r.created_at
    _traffic(t0 + 1, other=other)
    first = control("churn", owner="a", now=t0 + 11)
    assert first is not None and first.verdict is Verdict.PASS
    assert ("significance" in {c.name for c in first.checks}) == (strategy == "ab")
    assert control("churn", owner="a", now=t0 + 15) is None
    _traffic(t0 + 16, other=other)
    second = control("churn", owner="a", now=t0 + 22)
    assert second is not None and second.counts["candidate"] == 60  # since the start
    assert loopml.get_rollout("churn").status is RolloutStatus.PROGRESSING
    assert len(loopml.deployments.rollout_analyses(r.id)) == 2 and _prod() == 1


def test_a_window_judged_not_yet_is_judged_again_as_it_grows_not_every_tick(
    served: list[Any],
) -> None:
    _, t0 = _canary()
    _traffic(t0 + 1, n=5)  # too few requests: NOT_YET at the window's end
    first = control("churn", owner="a", now=t0 + 11)
    assert first is not None and first.verdict is Verdict.NOT_YET
    # a fifth of the 10 s interval later, not at the next tick
    assert control("churn", owner="a", now=t0 + 12) is None
    _traffic(t0 + 12)
    again = control("churn", owner="a", now=t0 + 13.5)
    assert again is not None and again.verdict is Verdict.PASS
