"""What ``loopml serve`` refuses and how it fails: every malformed request is a 4xx
naming the field, never a 5xx, and the model never sees it; a model that raises is a
500 with the request id, counted and logged, and the server keeps answering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.serving.conftest import BOOM, expected_typed, metric, serving, spy_on

import loopml

GOOD = {"age": 41, "plan": "pro", "score": 1.5}
JSON = {"content-type": "application/json"}
LIMIT = 4096  # max_request_bytes of the app under test


def _records(**changes: Any) -> dict[str, Any]:
    return {"records": [GOOD, {**GOOD, **changes}]}


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def _tensor(name: str, datatype: str, data: list[Any], shape: list[int] | None = None) -> Any:
    return {
        "name": name,
        "datatype": datatype,
        "shape": [len(data)] if shape is None else shape,
        "data": data,
    }


def _oip(**replace: Any) -> dict[str, Any]:
    tensors = {
        "age": _tensor("age", "INT64", [41, 30]),
        "plan": _tensor("plan", "BYTES", ["pro", "team"]),
        "score": _tensor("score", "FP64", [1.5, 0.5]),
    }
    tensors.update(replace)
    return {"inputs": [t for t in tensors.values() if t is not None]}


def _chunks(total: int) -> Iterator[bytes]:
    """A JSON body of ``total`` bytes sent in chunks (no Content-Length)."""
    head = b'{"records": [{"age": 1, "plan": "'
    tail = b'", "score": 1.0}]}'
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        step = min(1000, left)
        yield b"p" * step
        left -= step
    yield tail


V1 = "/v1/deployments/typed/predict"
V2 = "/v2/models/typed/infer"

# (id, path, request kwargs, status, what the message names)
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("text-in-int-column", V1, {"json": _records(age="old")}, 422, "'age' row 1"),
    ("fraction-in-int-column", V1, {"json": _records(age=41.5)}, 422, "'age' row 1"),
    ("text-in-float-column", V1, {"json": _records(score="high")}, 422, "'score' row 1"),
    ("bool-in-text-column", V1, {"json": _records(plan=[True])}, 422, "'plan' row 1"),
    ("object-in-text-column", V1, {"json": _records(plan={"a": 1})}, 422, "'plan' row 1"),
    ("missing-column", V1, {"json": {"records": [GOOD, {"age": 1, "plan": "x"}]}}, 422, "score"),
    ("missing-field", V1, {"json": {"rows": [GOOD]}}, 422, "records"),
    ("columns-without-data", V1, {"json": {"columns": ["age"]}}, 422, "data"),
    (
        "columns-missing-one",
        V1,
        {"json": {"columns": ["age", "plan"], "data": [[1, "x"]]}},
        422,
        "'score'",
    ),
    (
        "columns-twice",
        V1,
        {"json": {"columns": ["age", "age", "plan", "score"], "data": [[1, 1, "x", 1.0]]}},
        422,
        "'age'",
    ),
    ("columns-not-text", V1, {"json": {"columns": [1, 2], "data": [[1, 2]]}}, 422, "columns"),
    ("null-in-float-column", V1, {"json": _records(score=None)}, 422, "'score' row 1"),
    ("null-in-int-column", V1, {"json": _records(age=None)}, 422, "'age' row 1"),
    ("nan-literal", V1, {"content": b'{"records": [{"age": NaN}]}', "headers": JSON}, 400, "JSON"),
    ("empty-records", V1, {"json": {"records": []}}, 422, "records"),
    ("records-not-a-list", V1, {"json": {"records": "all"}}, 422, "records"),
    ("record-not-an-object", V1, {"json": {"records": [GOOD, 7]}}, 422, "records[1]"),
    ("empty-data", V1, {"json": {"columns": ["age"], "data": []}}, 422, "data"),
    (
        "ragged-data",
        V1,
        {"json": {"columns": ["age", "plan", "score"], "data": [[1, "a", 1.0], [2, "b"]]}},
        422,
        "data[1]",
    ),
    ("body-is-a-list", V1, {"json": [GOOD]}, 422, "JSON object"),
    ("body-is-a-number", V1, {"json": 3}, 422, "JSON object"),
    ("invalid-json", V1, {"content": b'{"records": [', "headers": JSON}, 400, "not valid JSON"),
    ("empty-body", V1, {"content": b"", "headers": JSON}, 400, "not valid JSON"),
    ("not-utf8", V1, {"content": b'{"records": "\xff"}', "headers": JSON}, 400, "not valid JSON"),
    (
        "wrong-content-type",
        V1,
        {"content": b'{"records": []}', "headers": {"content-type": "text/plain"}},
        415,
        "Content-Type",
    ),
    (
        "form-content-type",
        V1,
        {"data": {"records": "x"}},
        415,
        "Content-Type",
    ),
    (
        "nested-junk",
        V1,
        {"json": _records(age={"x": [1, {"y": [None, {"z": 2}]}]})},
        422,
        "'age' row 1",
    ),
    ("deep-nesting-in-a-value", V1, {"json": _records(plan=_deep(500))}, 422, "'plan' row 1"),
    (
        "deeper-than-json-allows",
        V1,
        {"content": b'{"records": ' + b"[" * 2000 + b"]" * 2000 + b"}", "headers": JSON},
        400,
        "depth",
    ),
    (
        "number-overflows",
        V1,
        {"content": b'{"records": [{"age": 1e999}]}', "headers": JSON},
        400,
        "JSON",
    ),
    ("huge-int-in-int-column", V1, {"json": _records(age=10**30)}, 422, "'age' row 1"),
    ("int-beyond-int64", V1, {"json": _records(age=2**63)}, 422, "'age' row 1"),
    (
        "probabilities-of-a-regressor",
        V1,
        {"json": {**_records(), "probabilities": True}},
        422,
        "probabilities",
    ),
    (
        "huge-body-with-content-length",
        V1,
        {"content": b'{"records": [' + b" " * (LIMIT + 10) + b"]}", "headers": JSON},
        413,
        "max_request_bytes",
    ),
    (
        "huge-body-chunked",
        V1,
        {"content": _chunks(LIMIT * 3), "headers": JSON},
        413,
        "max_request_bytes",
    ),
    # the Open Inference Protocol
    ("oip-no-inputs", V2, {"json": {"outputs": []}}, 400, "inputs"),
    ("oip-empty-inputs", V2, {"json": {"inputs": []}}, 400, "inputs"),
    (
        "oip-shape-data-mismatch",
        V2,
        {"json": _oip(age=_tensor("age", "INT64", [1, 2, 3], [2]))},
        400,
        "inputs[0]",
    ),
    (
        "oip-rows-differ",
        V2,
        {"json": _oip(score=_tensor("score", "FP64", [1.0]))},
        400,
        "different numbers of rows",
    ),
    ("oip-missing-tensor", V2, {"json": _oip(score=None)}, 400, "'score'"),
    (
        "oip-unknown-datatype",
        V2,
        {"json": _oip(age=_tensor("age", "INT128", [1, 2]))},
        400,
        "inputs[0].datatype",
    ),
    (
        "oip-datatype-a-list",
        V2,
        {"json": _oip(age=_tensor("age", ["INT64"], [1, 2]))},
        400,
        "inputs[0].datatype",
    ),
    (
        "oip-datatype-an-object",
        V2,
        {"json": _oip(plan=_tensor("plan", {"type": "BYTES"}, ["a", "b"]))},
        400,
        "inputs[1].datatype",
    ),
    (
        "oip-text-in-numbers",
        V2,
        {"json": _oip(age=_tensor("age", "INT64", ["a", "b"]))},
        400,
        "inputs[0]",
    ),
    (
        "oip-numbers-in-bytes",
        V2,
        {"json": _oip(plan=_tensor("plan", "BYTES", [1, 2]))},
        400,
        "inputs[1]",
    ),
    (
        "oip-negative-shape",
        V2,
        {"json": _oip(age=_tensor("age", "INT64", [1, 2], [-2]))},
        400,
        "inputs[0].shape",
    ),
    (
        "oip-three-dimensions",
        V2,
        {"json": _oip(age=_tensor("age", "INT64", [1, 2], [2, 1, 1]))},
        400,
        "inputs[0]",
    ),
    (
        "oip-matrix-of-wrong-width",
        V2,
        {"json": {"inputs": [_tensor("x", "FP64", [1, 2, 3, 4], [2, 2])]}},
        400,
        "3 (age, plan, score)",
    ),
    ("oip-tensor-not-an-object", V2, {"json": {"inputs": ["age"]}}, 400, "inputs[0]"),
    (
        "oip-data-not-a-list",
        V2,
        {"json": _oip(age={"name": "age", "datatype": "INT64", "shape": [2], "data": 5})},
        400,
        "inputs[0].data",
    ),
    (
        "oip-deep-nesting",
        V2,
        {"json": _oip(age=_tensor("age", "INT64", [_deep(40), 1], [2]))},
        400,
        "deeper than 32",
    ),
    (
        "oip-wrong-type-in-column",
        V2,
        {"json": _oip(age=_tensor("age", "FP64", [1.5, 2.0]))},
        400,
        "'age' row 0",
    ),
    (
        "oip-null-score",
        V2,
        {"json": _oip(score=_tensor("score", "FP64", [None, 1.0]))},
        400,
        "'score' row 0",
    ),
    (
        "oip-huge-number",
        V2,
        {"json": _oip(age=_tensor("age", "INT64", [10**30, 1]))},
        400,
        "'age' row 0",
    ),
    (
        "oip-huge-body",
        V2,
        {"content": b'{"inputs": [' + b" " * (LIMIT + 10) + b"]}", "headers": JSON},
        413,
        "max_request_bytes",
    ),
    (
        "oip-wrong-content-type",
        V2,
        {"content": b"{}", "headers": {"content-type": "text/csv"}},
        415,
        "Content-Type",
    ),
]


@pytest.fixture
def client(typed: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with serving(max_request_bytes=LIMIT) as c:
        c.spy = spy_on(c.app, "typed", monkeypatch)
        yield c


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "names"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_malformed_request_is_a_4xx_naming_the_field(
    client: Any, path: str, kwargs: dict[str, Any], status: int, names: str
) -> None:
    r = client.post(path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    message = body["error"] if path == V2 else body["error"]["message"]
    assert names in message, message
    assert client.spy.calls == 0
    assert r.headers["x-loopml-deployment"] == "typed"
    assert r.headers["x-loopml-model-version"] == "1"
    if path == V1:
        assert body["request_id"] == r.headers["x-request-id"]
        assert body["error"]["type"] == "invalid_input"
    # the server still answers, and counted the refusal apart from the model's errors
    good = client.post(V1, json={"records": [GOOD]})
    assert good.status_code == 200 and good.json()["predictions"] == expected_typed([GOOD])
    text = client.get("/metrics").text
    assert metric(text, "loopml_request_errors_total", kind="invalid_input") == 1
    assert metric(text, "loopml_request_errors_total", kind="model_error") == 0
    assert metric(text, "loopml_requests_total", code=str(status)) == 1


def test_the_located_field_is_returned_as_loc(client: Any) -> None:
    r = client.post(V1, json=_records(age="old"))
    assert r.json()["error"]["loc"] == ["age", 1]
    r = client.post(V1, json={"records": [GOOD, 7]})
    assert r.json()["error"]["loc"] == ["records", 1]
    assert client.spy.calls == 0


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/v1/deployments/nope/predict", {"json": {"records": [GOOD]}}, 404),
        ("/v2/models/nope/infer", {"json": _oip()}, 404),
        ("/v2/models/typed/versions/2/infer", {"json": _oip()}, 404),
        ("/v1/deployments/typed/predict/more", {"json": {}}, 404),
        ("/v1/deployments/bad..name/predict", {"json": {"records": [GOOD]}}, 404),
    ],
)
def test_unknown_deployments_and_versions_are_404(
    client: Any, path: str, kwargs: dict[str, Any], status: int
) -> None:
    r = client.post(path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["x-request-id"]
    assert client.spy.calls == 0


def test_a_get_on_predict_is_405_with_a_request_id(client: Any) -> None:
    r = client.get(V1)
    assert r.status_code == 405
    assert r.json()["error"]["type"] == "method_not_allowed"
    assert r.headers["x-request-id"] == r.json()["request_id"]


def test_a_lying_content_length_is_refused_before_the_body_is_read(client: Any) -> None:
    r = client.post(V1, content=b"{}", headers={**JSON, "content-length": str(10**12)})
    assert r.status_code == 413
    assert "1000000000000 bytes" in r.json()["error"]["message"]
    assert client.spy.calls == 0


# -- a model that raises -----------------------------------------------------------------


def test_a_model_that_raises_is_a_500_counted_and_logged(typed: str) -> None:
    boom = {**GOOD, "plan": BOOM}
    with serving() as client:
        failed = client.post(V1, json={"records": [GOOD, boom]}, headers={"X-Request-ID": "r-boom"})
        oip_failed = client.post(V2, json=_oip(plan=_tensor("plan", "BYTES", [BOOM, "x"])))
        after = client.post(V1, json={"records": [GOOD]}, headers={"X-Request-ID": "r-after"})
        text = client.get("/metrics").text
    assert failed.status_code == 500
    body = failed.json()
    assert body["error"]["type"] == "model_error"
    assert body["request_id"] == "r-boom" == failed.headers["x-request-id"]
    assert "ValueError" in body["error"]["message"] and "r-boom" in body["error"]["message"]
    assert failed.headers["x-loopml-deployment"] == "typed"
    assert oip_failed.status_code == 500 and "ValueError" in oip_failed.json()["error"]
    oip_id = oip_failed.headers["x-request-id"]
    assert oip_id in oip_failed.json()["error"]
    # the server keeps answering
    assert after.status_code == 200 and after.json()["predictions"] == expected_typed([GOOD])
    assert metric(text, "loopml_request_errors_total", deployment="typed", kind="model_error") == 2
    assert metric(text, "loopml_requests_total", deployment="typed", code="500") == 2
    assert metric(text, "loopml_requests_total", deployment="typed", code="200") == 1
    # the log holds the failed rows, their inputs and no prediction
    log = loopml.read_predictions("typed")
    failed_rows = log[log["request_id"] == "r-boom"]
    assert failed_rows["status"].tolist() == ["model_error", "model_error"]
    assert failed_rows["row"].tolist() == [0, 1]
    assert failed_rows["in.plan"].tolist() == ["pro", BOOM]
    assert failed_rows["prediction"].isna().all()
    assert log[log["request_id"] == oip_id]["status"].tolist() == ["model_error"] * 2
    assert log[log["request_id"] == "r-after"]["status"].tolist() == ["ok"]
