"""The two protocols of ``loopml serve``: JSON v1 (records, columns + data,
probabilities) and the Open Inference Protocol v2 (health, metadata, readiness,
inference), and the headers every answer carries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.serving.conftest import Churn, expected_typed

import loopml

ROWS = [{"tenure": 3.0, "charges": 110.0}, {"tenure": 55.0, "charges": 25.0}]
DEPLOYMENT_HEADERS = ("x-loopml-deployment", "x-loopml-model-version", "x-loopml-variant")


def _expected(churn: Churn, rows: list[dict[str, float]]) -> list[int]:
    import pandas as pd

    return churn.v1.predict(pd.DataFrame(rows)).tolist()


def _served_by(response: Any, name: str = "churn", version: str = "1") -> None:
    assert response.headers["x-loopml-deployment"] == name
    assert response.headers["x-loopml-model-version"] == version
    assert response.headers["x-loopml-variant"] == "default"
    assert response.headers["x-request-id"]


# -- JSON v1 -----------------------------------------------------------------------------


def test_v1_records_are_predicted_by_the_served_version(churn: Churn, serve: Any) -> None:
    with serve() as client:
        r = client.post("/v1/deployments/churn/predict", json={"records": ROWS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == _expected(churn, ROWS)
    assert (body["deployment"], body["model"], body["model_version"], body["variant"]) == (
        "churn",
        "models:/churn/1",
        1,
        "default",
    )
    assert body["request_id"] == r.headers["x-request-id"]
    assert "probabilities" not in body and "warnings" not in body
    _served_by(r)


def test_v1_columns_and_data_in_any_column_order(churn: Churn, serve: Any) -> None:
    data = [[r["charges"], r["tenure"]] for r in ROWS]
    with serve() as client:
        r = client.post(
            "/v1/deployments/churn/predict", json={"columns": ["charges", "tenure"], "data": data}
        )
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == _expected(churn, ROWS)


def test_v1_probabilities_come_with_the_classes(churn: Churn, serve: Any) -> None:
    import pandas as pd

    with serve() as client:
        r = client.post(
            "/v1/deployments/churn/predict", json={"records": ROWS, "probabilities": True}
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["classes"] == [0, 1]
    np.testing.assert_allclose(body["probabilities"], churn.v1.predict_proba(pd.DataFrame(ROWS)))


def test_v1_extra_columns_are_ignored_with_a_warning(churn: Churn, serve: Any) -> None:
    rows = [{**row, "note": "x", "zip": 1} for row in ROWS]
    with serve() as client:
        r = client.post("/v1/deployments/churn/predict", json={"records": rows})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == _expected(churn, ROWS)
    assert r.json()["warnings"] == ["columns the model does not take were ignored: note, zip"]


def test_v1_typed_columns_are_cast_by_the_signature(typed: str, serve: Any) -> None:
    records = [{"age": 20, "plan": "pro", "score": 1}, {"age": 7.0, "plan": "x", "score": 2.5}]
    with serve() as client:
        r = client.post("/v1/deployments/typed/predict", json={"records": records})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == expected_typed(records)


def test_v1_lists_and_describes_deployments(churn: Churn, serve: Any) -> None:
    with serve() as client:
        listed = client.get("/v1/deployments").json()
        one = client.get("/v1/deployments/churn")
    assert [d["name"] for d in listed["deployments"]] == ["churn"]
    assert listed["failed"] == {} and listed["generation"] == 1
    assert one.status_code == 200
    d = one.json()
    assert (d["model"], d["flavor"], d["ready"]) == ("models:/churn/1", "sklearn", True)
    assert [c["name"] for c in d["signature"]["inputs"]] == ["tenure", "charges"]
    _served_by(one)


# -- Open Inference Protocol v2 ----------------------------------------------------------


def test_v2_health_and_server_metadata(churn: Churn, serve: Any) -> None:
    with serve() as client:
        live = client.get("/v2/health/live")
        ready = client.get("/v2/health/ready")
        meta = client.get("/v2")
    assert (live.status_code, live.json()) == (200, {"live": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert meta.status_code == 200
    assert meta.json() == {"name": "loopml", "version": loopml.__version__, "extensions": []}
    for r in (live, ready, meta):
        assert r.headers["x-request-id"]


def test_v2_model_metadata_lists_the_signature_inputs(churn: Churn, serve: Any) -> None:
    with serve() as client:
        r = client.get("/v2/models/churn")
        versioned = client.get("/v2/models/churn/versions/1")
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["name"] == "churn" and meta["versions"] == ["1"]
    assert meta["platform"] == "loopml-sklearn"
    assert meta["inputs"] == [
        {"name": "tenure", "datatype": "FP64", "shape": [-1]},
        {"name": "charges", "datatype": "FP64", "shape": [-1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    assert versioned.json() == meta
    _served_by(r)


def test_v2_model_metadata_of_typed_columns(typed: str, serve: Any) -> None:
    with serve() as client:
        meta = client.get("/v2/models/typed").json()
    assert meta["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": [-1]},
        {"name": "plan", "datatype": "BYTES", "shape": [-1]},
        {"name": "score", "datatype": "FP64", "shape": [-1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["predict"]  # no predict_proba


def test_v2_model_ready(churn: Churn, serve: Any) -> None:
    with serve() as client:
        ready = client.get("/v2/models/churn/ready")
        versioned = client.get("/v2/models/churn/versions/1/ready")
        other = client.get("/v2/models/churn/versions/2/ready")
        unknown = client.get("/v2/models/nope/ready")
    assert (ready.status_code, ready.json()) == (200, {"name": "churn", "ready": True})
    assert versioned.status_code == 200
    assert other.status_code == 404 and "serves version 1" in other.json()["error"]
    assert unknown.status_code == 404 and "no deployment 'nope'" in unknown.json()["error"]
    _served_by(other)


def _tensors(rows: list[dict[str, float]]) -> list[dict[str, Any]]:
    return [
        {"name": col, "shape": [len(rows)], "datatype": "FP64", "data": [r[col] for r in rows]}
        for col in ("charges", "tenure")
    ]


def test_v2_infer_with_one_tensor_per_column(churn: Churn, serve: Any) -> None:
    import pandas as pd

    body = {"id": "my-infer-1", "inputs": _tensors(ROWS), "outputs": [{"name": "predict_proba"}]}
    with serve() as client:
        r = client.post("/v2/models/churn/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["model_name"], out["model_version"], out["id"]) == ("churn", "1", "my-infer-1")
    assert r.headers["x-request-id"] == "my-infer-1"  # the request's id names the answer
    predict, proba = out["outputs"]
    assert predict == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [2],
        "data": _expected(churn, ROWS),
    }
    assert (proba["name"], proba["datatype"], proba["shape"]) == ("predict_proba", "FP64", [2, 2])
    np.testing.assert_allclose(
        np.reshape(proba["data"], (2, 2)), churn.v1.predict_proba(pd.DataFrame(ROWS))
    )
    _served_by(r)


def test_v2_infer_with_column_tensors_of_shape_n_by_1(churn: Churn, serve: Any) -> None:
    inputs = [
        {"name": col, "shape": [2, 1], "datatype": "FP64", "data": [[r[col]] for r in ROWS]}
        for col in ("tenure", "charges")
    ]
    with serve() as client:
        r = client.post("/v2/models/churn/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == _expected(churn, ROWS)


@pytest.mark.parametrize("nested", [False, True])
def test_v2_infer_with_one_n_by_k_tensor(churn: Churn, serve: Any, nested: bool) -> None:
    matrix = [[r["tenure"], r["charges"]] for r in ROWS]
    data: list[Any] = matrix if nested else [v for row in matrix for v in row]
    tensor = {"name": "input", "shape": [2, 2], "datatype": "FP64", "data": data}
    with serve() as client:
        r = client.post("/v2/models/churn/infer", json={"inputs": [tensor]})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == _expected(churn, ROWS)


def test_v2_infer_with_text_tensors(typed: str, serve: Any) -> None:
    records = [{"age": 20, "plan": "pro", "score": 1.0}, {"age": 3, "plan": "team", "score": 0.0}]
    inputs = [
        {"name": "age", "shape": [2], "datatype": "INT64", "data": [20, 3]},
        {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "team"]},
        {"name": "score", "shape": [2], "datatype": "FP64", "data": [1.0, 0.0]},
    ]
    with serve() as client:
        r = client.post("/v2/models/typed/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == expected_typed(records)


def test_v2_versioned_paths_answer_for_the_served_version_only(churn: Churn, serve: Any) -> None:
    body = {"inputs": _tensors(ROWS)}
    with serve() as client:
        right = client.post("/v2/models/churn/versions/1/infer", json=body)
        wrong = client.post("/v2/models/churn/versions/2/infer", json=body)
        junk = client.get("/v2/models/churn/versions/latest")
        wrong_meta = client.get("/v2/models/churn/versions/2")
    assert right.status_code == 200 and right.json()["model_version"] == "1"
    for r in (wrong, junk, wrong_meta):
        assert r.status_code == 404, r.text
        assert "serves version 1 of churn" in r.json()["error"]
        _served_by(r)


# -- headers -----------------------------------------------------------------------------


def test_a_request_id_given_is_kept_and_one_is_made_otherwise(churn: Churn, serve: Any) -> None:
    with serve() as client:
        kept = client.post(
            "/v1/deployments/churn/predict",
            json={"records": ROWS},
            headers={"X-Request-ID": "order-17:a/b"},
        )
        made = [
            client.post("/v1/deployments/churn/predict", json={"records": ROWS}) for _ in range(2)
        ]
        replaced = [
            client.post(
                "/v1/deployments/churn/predict", json={"records": ROWS}, headers={"X-Request-ID": v}
            )
            for v in ("has space", "x" * 129, "semi;colon", 'quote"d')
        ]
    assert kept.headers["x-request-id"] == "order-17:a/b" == kept.json()["request_id"]
    ids = [r.headers["x-request-id"] for r in made + replaced]
    assert len(set(ids)) == len(ids)
    for r in made + replaced:
        rid = r.headers["x-request-id"]
        assert len(rid) == 32 and int(rid, 16) >= 0
        assert r.json()["request_id"] == rid


def test_every_answer_of_a_deployment_carries_its_headers(
    churn: Churn, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.serving.conftest import spy_on

    with serve() as client:
        spy = spy_on(client.app, "churn", monkeypatch)

        def broken(data: Any) -> Any:
            raise RuntimeError("down")

        answers = [
            client.post("/v1/deployments/churn/predict", json={"records": ROWS}),
            client.post("/v1/deployments/churn/predict", json={"records": []}),
            client.post("/v1/deployments/churn/predict", content=b"{", headers=_JSON),
            client.post("/v1/deployments/churn/predict", content=b"{}", headers=_TEXT),
            client.post("/v2/models/churn/infer", json={"inputs": []}),
            client.get("/v2/models/churn/versions/9"),
            client.get("/v1/deployments/churn"),
        ]
        assert spy.calls == 1
        monkeypatch.setattr(client.app.state.loopml.hosted["churn"].model, "predict", broken)
        answers.append(client.post("/v1/deployments/churn/predict", json={"records": ROWS}))
        unknown = client.post("/v1/deployments/nope/predict", json={"records": ROWS})
        no_route = client.get("/nowhere", headers={"X-Request-ID": "mine"})
    assert [r.status_code for r in answers] == [200, 422, 400, 415, 400, 404, 200, 500]
    for r in answers:
        assert all(h in r.headers for h in DEPLOYMENT_HEADERS), (r.status_code, r.headers)
        _served_by(r)
    # no deployment to name: the request id still comes back
    assert unknown.status_code == 404 and unknown.headers["x-request-id"]
    assert unknown.json()["request_id"] == unknown.headers["x-request-id"]
    assert (no_route.status_code, no_route.headers["x-request-id"]) == (404, "mine")


_JSON = {"content-type": "application/json"}
_TEXT = {"content-type": "text/plain"}


def test_request_ids_are_random_hex_unique_and_not_shared_with_a_forked_child() -> None:
    import os
    import re

    from loopml.serving._app import _new_id

    ids = [_new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's next id must not be the one the parent hands out next
        os.write(write, _new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child != _new_id() and re.fullmatch(r"[0-9a-f]{32}", child)
