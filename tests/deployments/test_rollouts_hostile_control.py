"""The leased rollout controller with two owners: an owner whose lease ran out while it
was analysing must not count the window a second time."""

from __future__ import annotations

from typing import Any

import pytest
from tests.deployments.test_rollouts_control import _canary, _traffic

import loopml
from loopml.deployments import RolloutStatus, Verdict, control
from loopml.deployments import _control as controller


def test_a_window_judged_by_two_owners_counts_as_one_failure(
    backend: str, served: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``failure_limit = 2``: one failing window must leave the canary PROGRESSING, its
    window started again. Owner A's lease (30 s for a 10 s interval) runs out while it
    analyses (a slow read of a large window, a paused VM); owner B takes the lease,
    judges the same window FAIL and starts the window again. When A comes back, its
    verdict on the superseded window must be dropped (the step's window changed under
    it), as a stale step is."""
    r, t0 = _canary(policy={"min_requests": 20, "failure_limit": 2})
    _traffic(t0 + 1, errors=0.5)
    real = controller.analyze
    calls = [0]

    def slow_owner_a(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:  # A is analysing; meanwhile its lease expires and B takes over
            by_b = control("churn", owner="host-b", now=t0 + 11 + 31)
            assert by_b is not None and by_b.verdict is Verdict.FAIL
        return real(*args, **kwargs)

    monkeypatch.setattr(controller, "analyze", slow_owner_a)
    control("churn", owner="host-a", now=t0 + 11)
    after = loopml.get_rollout("churn")
    fails = [a for a in loopml.deployments.rollout_analyses(r.id) if a.verdict is Verdict.FAIL]
    assert after.status is RolloutStatus.PROGRESSING, after.finish_reason
    assert len(fails) == 1
