"""The app around the protocols: the bearer token, feedback, following ``loopml
deploy`` while running, the prediction log of every answered request, and /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.serving.conftest import Churn, expected_typed, metric, serving, spy_on

import loopml

ROW = {"tenure": 3.0, "charges": 110.0}
PREDICT = "/v1/deployments/churn/predict"
FEEDBACK = "/v1/deployments/churn/feedback"


def _wait_for(check: Callable[[], Any], seconds: float = 2.0) -> Any:
    """Poll ``check`` until it returns something true, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


# -- the token ---------------------------------------------------------------------------


def test_feedback_needs_the_token_and_predictions_do_not(churn: Churn) -> None:
    with serving(token="s3cret-token") as client:
        rid = client.post(PREDICT, json={"records": [ROW]}).json()["request_id"]
        item = {"request_id": rid, "ground_truth": 1}
        none = client.post(FEEDBACK, json=item)
        wrong = client.post(FEEDBACK, json=item, headers={"Authorization": "Bearer nope"})
        basic = client.post(FEEDBACK, json=item, headers={"Authorization": "Basic s3cret-token"})
        right = client.post(FEEDBACK, json=item, headers={"Authorization": "Bearer s3cret-token"})
        metrics = client.get("/metrics")
        v2 = client.post(
            "/v2/models/churn/infer",
            json={"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [3, 110]}]},
        )
    for r in (none, wrong, basic):
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "unauthorized"
        assert "Authorization: Bearer" in r.json()["error"]["message"]
        assert r.headers["x-request-id"] and r.headers["x-loopml-deployment"] == "churn"
    assert right.status_code == 200 and right.json()["stored"] == 1
    assert metrics.status_code == 200 and "loopml_requests_total" in metrics.text
    assert v2.status_code == 200


def test_protect_predictions_guards_both_protocols(
    churn: Churn, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [3, 110]}]}
    auth = {"Authorization": "Bearer s3cret-token"}
    with serving(token="s3cret-token", protect_predictions=True) as client:
        spy = spy_on(client.app, "churn", monkeypatch)
        v1_open = client.post(PREDICT, json={"records": [ROW]})
        v2_open = client.post("/v2/models/churn/infer", json=body)
        v1_auth = client.post(PREDICT, json={"records": [ROW]}, headers=auth)
        v2_auth = client.post("/v2/models/churn/infer", json=body, headers=auth)
        metrics = client.get("/metrics")
        health = client.get("/v2/health/ready")
    assert (v1_open.status_code, v2_open.status_code) == (401, 401)
    assert "Bearer" in v2_open.json()["error"]
    assert (v1_auth.status_code, v2_auth.status_code) == (200, 200)
    assert spy.calls == 2  # only the authorized requests reached the model
    assert metrics.status_code == 200
    assert metric(metrics.text, "loopml_requests_total", code="401") == 2
    assert health.status_code == 200


def test_without_a_token_feedback_is_open(churn: Churn) -> None:
    with serving() as client:
        rid = client.post(PREDICT, json={"records": [ROW]}).json()["request_id"]
        r = client.post(FEEDBACK, json={"request_id": rid, "ground_truth": 0})
    assert r.status_code == 200 and r.json() == {
        "stored": 1,
        "deployment": "churn",
        "request_id": r.headers["x-request-id"],
    }


def test_the_token_comes_from_the_environment(
    churn: Churn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_SERVE_TOKEN", "from-env")
    loopml.context.reset()
    with serving() as client:
        item = {"request_id": "x", "ground_truth": 1}
        assert client.post(FEEDBACK, json=item).status_code == 401
        ok = client.post(FEEDBACK, json=item, headers={"Authorization": "Bearer from-env"})
    assert ok.status_code == 200


# -- feedback ----------------------------------------------------------------------------


def test_feedback_single_and_batch_joins_the_logged_predictions(churn: Churn) -> None:
    two = [ROW, {"tenure": 50.0, "charges": 30.0}]
    with serving() as client:
        first = client.post(PREDICT, json={"records": two}, headers={"X-Request-ID": "req-a"})
        second = client.post(PREDICT, json={"records": [ROW]}, headers={"X-Request-ID": "req-b"})
        third = client.post(PREDICT, json={"records": [ROW]}, headers={"X-Request-ID": "req-c"})
        assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
        single = client.post(FEEDBACK, json={"request_id": "req-b", "ground_truth": 1})
        batch = client.post(
            FEEDBACK,
            json={
                "feedback": [
                    {"request_id": "req-a", "row": 0, "ground_truth": 1},
                    {"request_id": "req-a", "row": 1, "ground_truth": 0},
                ]
            },
        )
        empty = client.post(FEEDBACK, json={"feedback": []})
        missing = client.post(FEEDBACK, json={"request_id": "req-c"})
        not_object = client.post(FEEDBACK, json=[1, 2])
        unknown = client.post("/v1/deployments/nope/feedback", json={"request_id": "x"})
    assert (single.json()["stored"], batch.json()["stored"]) == (1, 2)
    for r, names in ((empty, "feedback"), (missing, "ground_truth"), (not_object, "JSON object")):
        assert r.status_code == 422, r.text
        assert names in r.json()["error"]["message"]
    assert unknown.status_code == 404
    # the app's lifespan has ended: every logger wrote what it held
    frame = loopml.read_predictions("churn", with_feedback=True)
    got = {
        (rid, row): None if gt != gt else int(gt)  # NaN: no feedback
        for rid, row, gt in zip(
            frame["request_id"], frame["row"], frame["ground_truth"], strict=True
        )
    }
    assert got == {("req-a", 0): 1, ("req-a", 1): 0, ("req-b", 0): 1, ("req-c", 0): None}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"request_id": "a", "ground_truth": 1, "row": 2**31}, "row"),
        ({"request_id": "a", "ground_truth": 1, "row": -1}, "row"),
        ({"request_id": "a", "ground_truth": 1, "row": 1.5}, "row"),
        ({"request_id": "a", "ground_truth": 1, "timestamp": "2026-01-01"}, "timestamp"),
        ({"request_id": "", "ground_truth": 1}, "request_id"),
        ({"request_id": 5, "ground_truth": 1}, "request_id"),
        ({"request_id": "a", "ground_truth": 1, "label": 0}, "label"),
        ({"feedback": "all"}, "feedback"),
        ({"feedback": [1]}, "feedback"),
        (
            {"feedback": [{"request_id": "a", "ground_truth": 1}, {"request_id": "b"}]},
            "ground_truth",
        ),
    ],
)
def test_bad_feedback_is_a_422_naming_the_field_and_stores_nothing(
    churn: Churn, project: Path, body: dict[str, Any], names: str
) -> None:
    with serving() as client:
        r = client.post(FEEDBACK, json=body)
    assert r.status_code == 422, r.text
    assert names in r.json()["error"]["message"]
    assert not (project / ".loopml" / "artifacts" / "predictions" / "feedback").exists()


# -- following deploys -------------------------------------------------------------------


def test_a_deploy_reaches_the_running_app_within_two_seconds(churn: Churn) -> None:
    import pandas as pd

    low_c = pd.DataFrame([ROW])
    with serving(reload_seconds=0.1) as client:
        assert client.post(PREDICT, json={"records": [ROW]}).json()["model_version"] == 1
        loopml.deploy("churn", "models:/churn/2")
        started = time.monotonic()

        def on_v2() -> Any:
            r = client.post(PREDICT, json={"records": [ROW]})
            return r if r.json()["model_version"] == 2 else None

        r = _wait_for(on_v2)
        assert r is not None, "the new version was not served within 2 s"
        assert time.monotonic() - started < 2.0
        assert r.headers["x-loopml-model-version"] == "2"
        assert r.json()["model"] == "models:/churn/2"
        assert r.json()["predictions"] == churn.v2.predict(low_c).tolist()
        meta = client.get("/v2/models/churn").json()
        assert meta["versions"] == ["2"]
        assert client.get("/v2/models/churn/versions/1").status_code == 404
        # every later request is answered by version 2
        versions = {
            client.post(PREDICT, json={"records": [ROW]}).json()["model_version"] for _ in range(10)
        }
        assert versions == {2}


def test_a_new_deployment_appears_and_a_deleted_one_is_404(churn: Churn) -> None:
    with serving(reload_seconds=0.1) as client:
        assert (
            client.post("/v1/deployments/other/predict", json={"records": [ROW]}).status_code == 404
        )
        loopml.deploy("other", "models:/churn/2")
        added = _wait_for(
            lambda: (
                client.post("/v1/deployments/other/predict", json={"records": [ROW]}).status_code
                == 200
            )
        )
        assert added
        loopml.deployments.delete_deployment("churn")
        gone = _wait_for(lambda: client.post(PREDICT, json={"records": [ROW]}).status_code == 404)
        assert gone
        r = client.post(PREDICT, json={"records": [ROW]})
        assert "no deployment 'churn'; deployments: other" in r.json()["error"]["message"]
        assert client.get("/v2/models/churn/ready").status_code == 404
        listed = client.get("/v1/deployments").json()
        assert [d["name"] for d in listed["deployments"]] == ["other"]


def test_a_config_change_rebuilds_the_deployment(churn: Churn) -> None:
    with serving(reload_seconds=0.1) as client:
        state = client.app.state.loopml
        before = state.hosted["churn"]
        assert before.batcher is None
        loopml.deploy("churn", "models:/churn/1", config={"max_batch_size": 4})
        assert _wait_for(lambda: state.hosted["churn"] is not before)
        after = state.hosted["churn"]
        assert after.batcher is not None and after.batcher.max_rows == 4
        assert after.version == 1
        r = client.post(PREDICT, json={"records": [ROW]})
        assert r.status_code == 200
        assert client.get("/v1/deployments/churn").json()["config"] == {"max_batch_size": 4}
        assert after.batcher.batches == 1


def test_deploying_back_and_forth_follows_every_change(churn: Churn) -> None:
    with serving(reload_seconds=0.1) as client:
        state = client.app.state.loopml
        before = state.hosted["churn"]
        loopml.deploy("churn", "models:/churn/2")
        assert _wait_for(lambda: state.hosted["churn"].version == 2)
        loopml.deploy("churn", "models:/churn/1")
        assert _wait_for(lambda: state.hosted["churn"].version == 1)
        assert state.hosted["churn"] is not before  # loaded again: a new version object
        assert state.generation == loopml.deployments.current_generation()


# -- the prediction log ------------------------------------------------------------------


def test_every_answered_request_is_in_the_prediction_log(typed: str) -> None:
    sent: dict[str, list[dict[str, Any]]] = {}
    with serving() as client:
        for i in range(12):
            records = [
                {"age": i + j, "plan": "p" * (j + 1), "score": 0.5} for j in range(i % 3 + 1)
            ]
            r = client.post(
                "/v1/deployments/typed/predict",
                json={"records": records},
                headers={"X-Request-ID": f"req-{i}"},
            )
            assert r.status_code == 200
            sent[f"req-{i}"] = records
        oip = client.post(
            "/v2/models/typed/infer",
            json={
                "id": "oip-1",
                "inputs": [
                    {"name": "age", "shape": [1], "datatype": "INT64", "data": [5]},
                    {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["abc"]},
                    {"name": "score", "shape": [1], "datatype": "FP64", "data": [0.0]},
                ],
            },
        )
        assert oip.status_code == 200
        sent["oip-1"] = [{"age": 5, "plan": "abc", "score": 0.0}]
        refused = client.post("/v1/deployments/typed/predict", json={"records": [{"age": 1}]})
        assert refused.status_code == 422
    frame = loopml.read_predictions("typed")
    assert set(frame["request_id"]) == set(sent)  # the refused request never reached the log
    assert len(frame) == sum(len(v) for v in sent.values())
    for rid, records in sent.items():
        rows = frame[frame["request_id"] == rid].sort_values("row")
        assert rows["row"].tolist() == list(range(len(records)))
        assert rows["prediction"].tolist() == expected_typed(records)
        assert rows["in.age"].tolist() == [r["age"] for r in records]
        assert rows["in.plan"].tolist() == [r["plan"] for r in records]
        assert set(rows["status"]) == {"ok"}
        assert set(rows["model_name"]) == {"typed"} and set(rows["model_version"]) == {1}
        assert (rows["latency_ms"] > 0).all()


def test_privacy_masks_and_drops_served_inputs(typed: str, project: Path) -> None:
    (project / "loopml.toml").write_text('[privacy]\nmask = ["plan"]\ndrop = ["score"]\n')
    loopml.context.reset()
    records = [
        {"age": 3, "plan": "secret-plan-alpha", "score": 0.25},
        {"age": 4, "plan": "secret-plan-beta", "score": 0.75},
    ]
    with serving() as client:
        r = client.post(
            "/v1/deployments/typed/predict",
            json={"records": records},
            headers={"X-Request-ID": "private"},
        )
        assert r.status_code == 200
        assert r.json()["predictions"] == expected_typed(records)  # the model saw the raw values
    frame = loopml.read_predictions("typed")
    assert frame["request_id"].tolist() == ["private", "private"]
    assert "in.score" not in frame.columns
    hashed = frame["in.plan"].tolist()
    assert all(len(h) == 64 for h in hashed) and hashed[0] != hashed[1]
    assert frame["in.age"].tolist() == [3, 4]
    on_disk = b"".join(
        p.read_bytes()
        for p in (project / ".loopml" / "artifacts" / "predictions").rglob("*")
        if p.is_file()
    )
    assert b"secret-plan" not in on_disk


def test_log_predictions_false_writes_nothing(churn: Churn) -> None:
    loopml.deploy("quiet", "models:/churn/1", config={"log_predictions": False})
    with serving() as client:
        assert (
            client.post("/v1/deployments/quiet/predict", json={"records": [ROW]}).status_code == 200
        )
        assert client.post(PREDICT, json={"records": [ROW]}).status_code == 200
    assert loopml.read_predictions("quiet").empty
    assert len(loopml.read_predictions("churn")) == 1


def test_log_probabilities_adds_each_class(churn: Churn) -> None:
    import pandas as pd

    loopml.deploy("churn", "models:/churn/1", config={"log_probabilities": True})
    with serving() as client:
        r = client.post(PREDICT, json={"records": [ROW]}, headers={"X-Request-ID": "p"})
        assert r.status_code == 200 and "probabilities" not in r.json()
    frame = loopml.read_predictions("churn")
    expected = churn.v1.predict_proba(pd.DataFrame([ROW]))[0]
    assert frame["proba.0"].tolist() == pytest.approx([expected[0]])
    assert frame["proba.1"].tolist() == pytest.approx([expected[1]])


# -- metrics -----------------------------------------------------------------------------


def test_metrics_count_requests_rows_and_the_log(churn: Churn) -> None:
    with serving() as client:
        for n in (1, 2, 3):
            assert client.post(PREDICT, json={"records": [ROW] * n}).status_code == 200
        client.post(PREDICT, json={"records": []})
        state = client.app.state.loopml
        state.hosted["churn"].logger.flush(5)
        text = client.get("/metrics").text
    labels = {"deployment": "churn", "model_version": "1", "variant": "default"}
    assert metric(text, "loopml_requests_total", code="200", **labels) == 3
    assert metric(text, "loopml_requests_total", code="422", **labels) == 1
    assert metric(text, "loopml_predicted_rows_total", **labels) == 6
    assert metric(text, "loopml_request_latency_seconds_count", **labels) == 3
    assert metric(text, "loopml_prediction_log_written_total", deployment="churn") == 6
    assert metric(text, "loopml_prediction_log_queued", deployment="churn") == 0
    assert (
        metric(text, "loopml_deployment_info", deployment="churn", model="churn", model_version="1")
        == 1
    )
