"""Rollouts across ``loopml serve`` processes: a server killed (kill -9) in the middle of
a canary resumes it from the recorded step on restart, and two servers sharing one
PostgreSQL database run one analysis per window and route by the same weights."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path

import httpx
import pytest
from tests.conftest import PG_ENV, postgres_schema_url, require_service
from tests.serving.rollouts import (
    PREDICT,
    body,
    canary,
    candidate,
    deploy_m,
    send_until,
    trusting,
)
from tests.serving.test_serving_process import loopml_serve

import loopml
import loopml.context
from loopml.deployments import DeploymentAction, Rollout, RolloutStatus, Verdict

FAST = "[serve]\nreload_seconds = 0.2\n"


def _canary(steps: str) -> Rollout:
    return canary(
        candidate("ok"),
        steps=steps,
        # a hiccup of this shared machine is no latency regression of the candidate
        policy={"min_requests": 20, "latency_floor_ms": 50},
    )


#: one input, so that the variants' predictions have one distribution in any window
SAME = 12.0


def _send(client: httpx.Client, url: str, x: float) -> tuple[float, str]:
    """One request; when it was answered and by which variant (its answer checked)."""
    response = client.post(url + PREDICT, json=body(x))
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [x * 2]
    return time.time(), response.headers["x-loopml-variant"]


def test_a_server_killed_mid_canary_resumes_it_from_the_recorded_step(project: Path) -> None:
    trusting(project, FAST)
    deploy_m()
    with loopml_serve(project) as server, httpx.Client(timeout=10) as client:
        r = _canary("20,50,100")
        assert send_until(
            r.id, lambda r: r.step == 1, 30, lambda x: _send(client, server.url, x), repeat(SAME)
        ), loopml.get_rollout(r.id)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
    killed = loopml.get_rollout(r.id)
    assert (killed.status, killed.step, killed.weights) == (
        RolloutStatus.PROGRESSING,
        1,
        {"primary": 50, "candidate": 50},
    )
    before = loopml.deployments.rollout_analyses(r.id)
    with loopml_serve(project) as server, httpx.Client(timeout=10) as client:
        shown = client.get(server.url + "/v1/deployments/m").json()["rollout"]
        assert (shown["id"], shown["status"], shown["step"], shown["weights"]) == (
            r.id,
            "PROGRESSING",
            1,
            {"primary": 50, "candidate": 50},
        )
        variants: list[str] = []

        def more(x: float) -> None:
            variants.append(_send(client, server.url, x)[1])

        # the dead server's lease runs out (at most 5 s here), then the analysis goes on
        promoted = send_until(
            r.id, lambda r: r.status is RolloutStatus.PROMOTED, 40, more, repeat(SAME)
        )
        assert promoted, loopml.get_rollout(r.id)
    after = loopml.deployments.rollout_analyses(r.id)
    assert len(after) > len(before)
    assert after[-1].step == 1 and after[-1].verdict is Verdict.PASS
    assert {a.step for a in after} == {0, 1}  # step 0 was never analysed again
    assert "candidate" in variants and "primary" in variants
    assert loopml.get_deployment("m").version == 2


@pytest.fixture
def postgres_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``m`` deployed in ``project`` whose metadata store is a fresh PostgreSQL schema."""
    base = require_service(PG_ENV, "PostgreSQL")
    for url in postgres_schema_url(base):
        monkeypatch.setenv("LOOPML_TRACKING_URI", url)
        trusting(project, FAST)
        deploy_m()
        yield url


def _share(answers: list[tuple[float, str]], low: float, high: float) -> tuple[float, int]:
    inside = [v for t, v in answers if low <= t < high]
    return (sum(v == "candidate" for v in inside) / max(len(inside), 1), len(inside))


def test_two_servers_on_one_postgres_run_one_analysis_and_route_alike(
    project: Path, postgres_project: str
) -> None:
    env = {"LOOPML_TRACKING_URI": postgres_project}
    with (
        loopml_serve(project, env=env) as a,
        loopml_serve(project, env=env) as b,
        httpx.Client(timeout=10) as client,
    ):
        r = _canary("30,60,100")
        answers: dict[str, list[tuple[float, str]]] = {a.url: [], b.url: []}
        sent = [0]

        def one(x: float) -> None:
            url = (a.url, b.url)[sent[0] % 2]
            answers[url].append(_send(client, url, x))
            sent[0] += 1

        assert send_until(
            r.id, lambda r: r.status is RolloutStatus.PROMOTED, 60, one, repeat(SAME)
        ), (loopml.get_rollout(r.id), loopml.deployments.rollout_analyses(r.id), sent)
    judged = [
        x for x in loopml.deployments.rollout_analyses(r.id) if x.verdict is not Verdict.NOT_YET
    ]
    assert [(x.step, x.verdict) for x in judged] == [(0, Verdict.PASS), (1, Verdict.PASS)]
    waiting = [x.step for x in loopml.deployments.rollout_analyses(r.id) if x not in judged]
    assert len(waiting) == len(set(waiting))  # at most one NOT_YET row a window
    changes = {
        c.action: c.created_at
        for c in loopml.deployments.deployment_history("m")
        if c.rollout_id == r.id
    }
    started, stepped = changes[DeploymentAction.ROLLOUT], changes[DeploymentAction.STEP]
    promoted = changes[DeploymentAction.PROMOTE]
    for url, answered in answers.items():
        # once both servers saw a change (polled every 0.2 s), until the next one
        share, n = _share(answered, started + 1.0, stepped)
        assert n >= 50 and 0.15 <= share <= 0.45, (url, share, n)
        share, n = _share(answered, stepped + 1.0, promoted)
        assert n >= 30 and 0.4 <= share <= 0.8, (url, share, n)
