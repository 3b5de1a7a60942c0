"""A rollout in a running server (in process), tried with candidates a new user
ships by mistake and requests a caller may send: each test states what the server
must do."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tests.serving.conftest import serving
from tests.serving.rollouts import PREDICT, body, canary, candidate, send_until, until
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.deployments import RolloutStatus

SECRET = "hunter2-s3cret"
DSN = f"postgresql://features:{SECRET}@db.internal:5432/features"


def _faulty(mode: str) -> Any:
    """A python_function model of ``m`` that answers its input example (``x`` below 10)
    right and shows fault ``mode`` on every other request: ``null`` answers null per
    row; ``leaky`` raises an error whose text holds a database URL with its password;
    ``noload`` loads on the main thread (where ``deploy`` checks it) but in no other
    (where the server loads it), its error text holding that URL too."""

    class Faulty:
        def __init__(self, mode: str, dsn: str) -> None:
            self.mode, self.dsn = mode, dsn

        def load_context(self, context: Any) -> None:
            import threading

            if self.mode == "noload" and threading.current_thread() is not threading.main_thread():
                raise ConnectionError(f"cannot reach the feature store at {self.dsn}")

        def predict(self, frame: Any) -> Any:
            x = frame["x"].to_numpy(dtype="float64")
            if (x >= 10).any():
                if self.mode == "null":
                    return [None] * len(x)
                if self.mode == "leaky":
                    raise ValueError(f"cannot reach the feature store at {self.dsn}")
            return x * 2

    return Faulty(mode, DSN)


def _candidate(mode: str) -> str:
    example = pd.DataFrame({"x": [1.0, 2.0], "user": ["a", "b"]})
    with loopml.start_run():
        info = loopml.log_model(_faulty(mode), input_example=example, allow_pickle=True)
    version = int(loopml.register_model(info.uri, "m").version)
    loopml.promote(f"m/{version}", to="prod", candidate=True)
    return f"models:/m/{version}"


def _recorded(client: Any, n: int = 20) -> None:
    """``n`` requests the primary answers with x above 100, waited for in the log."""
    for i in range(n):
        assert client.post(PREDICT, json=body(200.0 + i)).status_code == 200
    assert until(lambda: len(loopml.read_predictions("m")) >= n, 10, lambda: time.sleep(0.1))


def _status() -> str:
    result = CliRunner().invoke(
        app, ["deployments", "status", "m"], env={"COLUMNS": "400"}, terminal_width=400
    )
    return result.stdout + result.stderr


def test_a_canary_whose_candidate_answers_null_is_not_promoted(m: Path) -> None:
    """A candidate that answers ``null`` for every production request (its input example
    is fine) is answered 200 by the server and logged as ok: the canary must not be
    promoted (expected: ROLLED_BACK, or held)."""
    with serving() as client:
        r = canary(
            _candidate("null"),
            # a hiccup of this shared machine is no latency regression
            policy={"min_requests": 20, "latency_floor_ms": 1000},
        )

        def one(x: float) -> None:
            assert client.post(PREDICT, json=body(x)).status_code == 200

        varied = itertools.cycle([float(x) for x in range(10, 50)])
        send_until(r.id, lambda r: r.status.finished, 20, one, varied)
        done = loopml.get_rollout(r.id)
        assert done.status is not RolloutStatus.PROMOTED, done.finish_reason
        assert loopml.get_deployment("m").version == 1


def test_an_oip_request_refused_by_the_candidate_keeps_its_id_in_the_candidates_row(
    m: Path,
) -> None:
    """An OIP v2 request carries its own ``id``, which the response and the primary's
    log row use: when the canary's candidate refuses it and the primary answers, the
    candidate's ``refused`` row must carry that same request id (one request, one id in
    the log)."""
    uri = candidate("strict")  # its signature needs a column callers never send
    with serving() as client:
        # the controller judges nothing meanwhile
        r = canary(uri, interval="10m", policy={"min_requests": 100_000})
        assert until(
            lambda: (client.get("/v1/deployments/m").json()["rollout"] or {}).get("id") == r.id,
            10,
            lambda: time.sleep(0.05),
        )
        given = []
        for i in range(40):
            rid = f"oip-req-{i}"
            given.append(rid)
            response = client.post(
                "/v2/models/m/infer",
                json={
                    "id": rid,
                    "inputs": [
                        {"name": "x", "shape": [1], "datatype": "FP64", "data": [12.0 + i]},
                        {"name": "user", "shape": [1], "datatype": "BYTES", "data": ["u"]},
                    ],
                },
            )
            assert response.status_code == 200, response.text
            assert response.json()["id"] == rid
    log = loopml.read_predictions("m")
    refused = log[log["status"] == "refused"]
    assert len(refused) > 0, "no request was routed to the candidate"
    assert set(refused["request_id"]) <= set(given), sorted(set(refused["request_id"]))[:3]


def test_a_blue_green_smoke_failure_shows_no_password_in_status(m: Path) -> None:
    """A blue-green candidate that raises on the recorded requests is rolled back with
    the smoke test's failure as its reason: ``loopml deployments status`` must not show
    the model's error text where it holds a credential (here a database URL with its
    password); the exception's kind is enough, the text belongs in the server's log
    (as for a candidate's load error in GET /v1/deployments/{name})."""
    uri = _candidate("leaky")
    with serving() as client:
        _recorded(client)
        loopml.deploy("m", strategy="blue_green", candidate=uri)
        r = loopml.get_rollout("m")
        assert until(
            lambda: loopml.get_rollout(r.id).status is RolloutStatus.ROLLED_BACK,
            20,
            lambda: time.sleep(0.1),
        )
        shown = client.get("/v1/deployments/m").text
    said = _status()
    assert "ValueError" in said  # what failed is still said
    assert SECRET not in said, said
    assert SECRET not in shown
    history = " ".join(c.reason or "" for c in loopml.deployments.deployment_history("m"))
    assert SECRET not in history


def test_a_blue_green_candidate_that_cannot_load_shows_no_password_in_status(m: Path) -> None:
    """A blue-green candidate that loads at deploy time but not in the server: GET
    /v1/deployments/{name} shows its load error by kind only, and so must ``loopml
    deployments status`` (its text, here a database URL with its password, stays in the
    server's log)."""
    uri = _candidate("noload")
    with serving() as client:
        loopml.deploy("m", strategy="blue_green", candidate=uri)
        r = loopml.get_rollout("m")
        assert until(
            lambda: loopml.get_rollout(r.id).status is RolloutStatus.ROLLED_BACK,
            20,
            lambda: time.sleep(0.1),
        ), loopml.get_rollout(r.id)
        shown = client.get("/v1/deployments/m").text
    said = _status()
    assert "ConnectionError" in said
    assert SECRET not in shown
    assert SECRET not in said, said
