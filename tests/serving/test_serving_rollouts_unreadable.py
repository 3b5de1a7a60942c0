"""A rollout whose record cannot be read, in the server: the deployment's own version
answers every request (never a 503 for it), the error is logged once and shown under
``rollout_error``, the controller of the others goes on, and an abort is followed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.serving.conftest import serving
from tests.serving.rollouts import CALM, PREDICT, body, canary, candidate, until

import loopml


def _canary(name: str, uri: str) -> int:
    return canary(uri, interval="10m", policy=CALM, name=name).id


def _tamper(rollout_id: int, column: str, value: str) -> None:
    """Write ``value`` into ``column`` of rollout ``rollout_id``, behind loopml's back (no
    new generation: a server learns of it only when it reads the rollout again)."""
    from loopml.context import current

    current().metadata.write(
        lambda conn: conn.execute(
            f"UPDATE rollouts SET {column} = ? WHERE id = ?", (value, rollout_id)
        ).close()
    )


def _answers(client: Any, x: float, variants: tuple[str, ...] = ("default",)) -> None:
    response = client.post(PREDICT, json=body(x))
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [x * 2]
    assert response.headers["x-loopml-variant"] in variants


def test_a_rollout_that_cannot_be_read_leaves_the_primary_answering_until_it_is_aborted(
    m: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rollout_id = _canary("m", candidate("ok"))
    _tamper(rollout_id, "policy", '{"min_requests": 20, "bogus": 1}')
    logged = "the rollout of deployment 'm' could not be read, so models:/m/1 answers"
    with caplog.at_level(logging.INFO, logger="loopml.serving"), serving() as client:
        assert client.get("/v2/health/ready").status_code == 200
        for i in range(30):
            _answers(client, 10.0 + i)
            assert client.post(PREDICT, json=body(10)).headers["x-loopml-model-version"] == "1"
        shown = client.get("/v1/deployments/m").json()
        assert (shown["model_version"], shown["variant"], shown["rollout"]) == (1, "default", None)
        error = shown["rollout_error"]
        assert error.startswith(
            f"rollout:/{rollout_id} of deployment 'm' cannot be read: its policy"
        )
        assert "unknown rollout policy key 'bogus'" in error
        assert "loopml deployments abort m" in error
        assert caplog.text.count(logged) == 1  # once, not per request
        assert "m" not in client.app.state.loopml.routes

        loopml.deployments.abort("m", reason="its policy was damaged")
        assert until(
            lambda: client.get("/v1/deployments/m").json()["rollout_error"] is None,
            10,
            lambda: time.sleep(0.05),
        )
        _answers(client, 12.0)
        assert caplog.text.count(logged) == 1


def test_a_rollout_that_turns_unreadable_stops_its_own_controller_only(
    m: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    uri = candidate("ok")
    loopml.deploy("m2", "models:/m@prod")
    rollout_id = _canary("m", uri)
    _canary("m2", uri)
    real = loopml.deployments.control
    ticks: list[tuple[str, str]] = []

    def control(name: str, *, owner: str, now: float | None = None) -> Any:
        try:
            found = real(name, owner=owner, now=now)
        except Exception as exc:
            ticks.append((name, type(exc).__name__))
            raise
        ticks.append((name, "ok"))
        return found

    monkeypatch.setattr(loopml.deployments, "control", control)
    with serving() as client:
        ticking = {("m", "ok"), ("m2", "ok")}
        assert until(lambda: ticking <= set(ticks), 10, lambda: time.sleep(0.05)), ticks
        _tamper(rollout_id, "steps", "[50,")
        seen = len(ticks)

        def both() -> bool:
            after = Counter(ticks[seen:])
            return after["m", "CorruptRecord"] >= 3 and after["m2", "ok"] >= 3

        assert until(both, 15, lambda: time.sleep(0.05)), ticks
        for i in range(10):  # the route held is kept: the deployment answers as before
            _answers(client, 10.0 + i, ("primary", "candidate"))
    text = caplog.text
    assert text.count("the rollout controller of 'm' failed: CorruptRecord: rollout:/") == 1
    assert "the rollout controller of 'm2' failed" not in text
