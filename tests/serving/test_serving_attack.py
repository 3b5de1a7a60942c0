"""loopml serve against hostile clients, misbehaving models and racing deploys.

Each test pins one class of attack or failure: bodies that crash or stall a parser,
requests whose cost grows faster than their size, model answers that cannot be sent,
the token and what a caller without it learns, headers a client controls, the
metrics' labels, deploys that race requests, and live servers (two on one project, an
empty project, a kill -9 mid-log, a body that never arrives).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from loopml.serving import create_app

#: released by a test to let a "gate" model answer
GATE = threading.Event()
#: set by a "gate" model when a request reaches it
ARRIVED = threading.Event()


class Scripted:
    """A python_function model whose answer ``mode`` chooses: ``echo`` returns column x,
    ``gate`` waits for GATE first, the others answer wrong in one way each."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def load_context(self, context: Any) -> None:
        pass

    def predict(self, frame: Any) -> Any:
        import decimal

        n, mode = len(frame), self.mode
        x = frame.iloc[:, 0].to_numpy(dtype=float) if frame.shape[1] else np.zeros(n)
        if mode == "gate" and n == 1 and x[0] == 42.0:  # the input example never waits
            ARRIVED.set()
            GATE.wait(20)
        answers = {
            "short": lambda: x[:-1],
            "long": lambda: np.append(x, 0.0),
            "scalar": lambda: 3.0,
            "text": lambda: "abc"[:n] + "z" * max(0, n - 3) + "!",
            "mapping": lambda: {"a": 1},
            "none": lambda: None,
            "decimal": lambda: [decimal.Decimal("1.5")] * n,
            "objects": lambda: np.array([object()] * n, dtype=object),
            "nan": lambda: np.full(n, np.nan),
            "inf": lambda: np.full(n, -np.inf),
            "bigint": lambda: [2**70] * n,
            "double": lambda: 2 * x,
            "nested_nan": lambda: [[1.0, float("nan")]] * n,
            "datetime64": lambda: np.array(["2026-01-02"] * n, dtype="datetime64[ns]"),
            "timestamps": lambda: pd.DataFrame({"at": pd.to_datetime(["2026-01-02"] * n)}),
            # right for one row at a time, a row short for more: sliced per request, a
            # batch's answer handed each request its neighbour's row
            "short_batches": lambda: x if n == 1 else x[1:],
        }
        return answers[mode]() if mode in answers else x


@pytest.fixture
def pickles(project: Path) -> Path:
    """A project that loads python_function models (pickles) from its own store."""
    (project / "loopml.toml").write_text("[store]\ntrust_pickle = true\n")
    loopml.context.reset()
    return project


def scripted(name: str, mode: str, config: dict[str, Any] | None = None) -> Any:
    """Register a Scripted model as ``name`` (a new version each call) and deploy it."""
    with loopml.start_run():
        info = loopml.log_model(
            Scripted(mode), input_example=pd.DataFrame({"x": [42.5, 1.0]}), allow_pickle=True
        )
    version = loopml.register_model(info.uri, name)
    return loopml.deploy(name, f"models:/{name}/{version.version}", config=config)


def unsigned(name: str) -> Any:
    """Deploy an echo model logged without an input example: it has no signature."""
    with loopml.start_run():
        info = loopml.log_model(Scripted("echo"), allow_pickle=True)
    version = loopml.register_model(info.uri, name)
    return loopml.deploy(name, f"models:/{name}/{version.version}")


@pytest.fixture
def churn(project: Path) -> Path:
    """``churn`` v1 and v2, small scikit-learn classifiers over tenure and charges; v1
    deployed as ``churn``."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, 60), "charges": rng.uniform(20, 120, 60)})
    target = (frame["charges"] / 2 > frame["tenure"]).astype("int64")
    for c in (1.0, 0.1):
        with loopml.start_run():
            info = loopml.log_model(LogisticRegression(C=c).fit(frame, target), input_example=frame)
        loopml.register_model(info.uri, "churn")
    loopml.deploy("churn", "models:/churn/1")
    return project


@pytest.fixture(autouse=True)
def _open_gate() -> Iterator[None]:
    GATE.clear()
    ARRIVED.clear()
    yield
    GATE.set()  # never leave a model thread waiting


def post(client: Any, path: str, body: bytes, **headers: str) -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json", **headers})


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    return dict(body["error"])


ONE = {"records": [{"x": 1.0}]}
PREDICT = "/v1/deployments/{}/predict"


# -- hostile bodies ------------------------------------------------------------------------


def test_json_nested_a_thousand_levels_deep_is_a_4xx_never_a_500(pickles: Path) -> None:
    scripted("echo", "echo")
    unsigned("loose")
    deep = b"[" * 1000 + b"]" * 1000  # orjson's own limit is 1024 levels
    with TestClient(create_app()) as client:
        for body in (
            b'{"records": ' + deep + b"}",  # records[0] is not an object: shown in the error
            b'{"records": [{"x": ' + deep + b"}]}",
            b'{"columns": ["x"], "data": [' + deep + b"]}",
            b'{"columns": ["x"], "data": [[' + deep + b"]]}",
        ):
            r = post(client, PREDICT.format("echo"), body)
            assert r.status_code == 422, r.text
            assert error_of(r)["type"] == "invalid_input"
        r = post(client, PREDICT.format("echo"), b"[" * 5000 + b"]" * 5000)
        assert r.status_code == 400 and "depth" in error_of(r)["message"]
        r = post(
            client,
            "/v2/models/echo/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": ' + deep + b"}]}",
        )
        assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": [{"x": NaN}]}',
        b'{"records": [{"x": Infinity}]}',
        b'{"records": [{"x": -Infinity}]}',
        b'{"records": [{"x": 1' + b"0" * 400 + b"}]}",  # beyond a double
        b'{"records": [{"x": "\xff\xfe"}]}',  # not UTF-8
        b'{"records": [{"x": "\\ud800"}]}',  # a lone surrogate
        b'{"records": [{"x": 1}]',  # cut short
        b"",
    ],
)
def test_what_json_does_not_allow_is_a_400(pickles: Path, body: bytes) -> None:
    scripted("echo", "echo")
    with TestClient(create_app()) as client:
        r = post(client, PREDICT.format("echo"), body)
    assert r.status_code == 400, r.text
    assert error_of(r)["type"] == "invalid_input"


def test_duplicate_keys_keep_the_last_and_are_checked_like_any_value(pickles: Path) -> None:
    scripted("echo", "echo")
    with TestClient(create_app()) as client:
        r = post(client, PREDICT.format("echo"), b'{"records": [{"x": 1, "x": "text"}]}')
        assert r.status_code == 422 and error_of(r)["loc"] == ["x", 0]
        r = post(client, PREDICT.format("echo"), b'{"records": [{"x": "text", "x": 2}]}')
        assert r.status_code == 200 and r.json()["predictions"] == [2.0]


def test_sparse_records_for_a_model_without_a_signature_cost_their_size(pickles: Path) -> None:
    """Each record naming a new column made a frame of n × n cells: 110 KB took 40 s."""
    unsigned("loose")
    with TestClient(create_app()) as client:
        body = json.dumps({"records": [{f"k{i}": 1} for i in range(20_000)]}).encode()
        start = time.monotonic()
        r = post(client, PREDICT.format("loose"), body)
        assert time.monotonic() - start < 10
        assert r.status_code == 422 and "without a signature" in error_of(r)["message"]
        r = post(client, PREDICT.format("loose"), b'{"records": [{}, {}, {}]}')
        assert r.status_code == 422 and "no column" in error_of(r)["message"]
        r = post(client, PREDICT.format("loose"), b'{"records": [{"a": 1}, {"a": 2, "b": 3}]}')
        assert r.status_code == 200 and r.json()["predictions"] == [1.0, 2.0]
        r = post(client, PREDICT.format("loose"), b'{"records": [{"a": 1}, {"b": 2}]}')
        assert r.status_code == 500  # a lacks in row 1: the echo answers NaN, not sent
        assert "nan, not a finite number" in error_of(r)["message"]
        wide = {f"c{i}": 1 for i in range(5000)}
        r = client.post(PREDICT.format("loose"), json={"records": [wide]})
        assert r.status_code == 422
        columns = [f"c{i}" for i in range(5000)]
        r = client.post(
            PREDICT.format("loose"), json={"columns": columns, "data": [[1] * len(columns)]}
        )
        assert r.status_code == 422


def test_a_long_column_list_with_a_name_twice_is_refused_fast(pickles: Path) -> None:
    """The duplicate search counted each name in the list: quadratic in its length."""
    scripted("echo", "echo")
    columns = [f"c{i}" for i in range(100_000)] + ["c7"]
    body = json.dumps({"columns": columns, "data": [[0] * len(columns)]}).encode()
    with TestClient(create_app()) as client:
        start = time.monotonic()
        r = post(client, PREDICT.format("echo"), body)
        assert time.monotonic() - start < 10
        assert r.status_code == 422 and "'c7' more than once" in error_of(r)["message"]
        columns = ["x", *(f"c{i}" for i in range(100_000))]
        r = client.post(
            PREDICT.format("echo"), json={"columns": columns, "data": [list(range(len(columns)))]}
        )
        assert r.status_code == 200 and r.json()["predictions"] == [0.0]


def test_oip_shapes_are_checked_before_their_product(churn: Path) -> None:
    """math.prod of 400,000 dims took 5 s (quadratic in the digits); a 10 MB shape, minutes."""

    def infer(client: Any, *tensors: dict[str, Any]) -> Any:
        return client.post("/v2/models/churn/infer", json={"inputs": list(tensors)})

    def tensor(name: str, shape: Any, data: Any, datatype: str = "FP64") -> dict[str, Any]:
        return {"name": name, "shape": shape, "datatype": datatype, "data": data}

    with TestClient(create_app()) as client:
        start = time.monotonic()
        r = infer(client, tensor("tenure", [3] * 400_000, [1.0]))
        assert time.monotonic() - start < 10
        assert r.status_code == 400 and "one tensor per column" in r.json()["error"]
        for shape in ([-1], [0.5], [True], [], "2", [10**30], [2**64 - 1, 2**64 - 1]):
            r = infer(client, tensor("tenure", shape, [1.0]), tensor("charges", [1], [2.0]))
            assert r.status_code == 400, (shape, r.text)
        # a 2-D tensor of no rows never reaches the model (it raised: a 500)
        r = infer(client, tensor("input", [0, 2], []))
        assert r.status_code == 400 and "no rows" in r.json()["error"]
        # the same column twice: refused, not the last one silently taken
        r = infer(
            client,
            tensor("tenure", [1], [1.0]),
            tensor("tenure", [1], [50.0]),
            tensor("charges", [1], [2.0]),
        )
        assert r.status_code == 400 and "like an earlier tensor" in r.json()["error"]
        r = infer(client, tensor("tenure", [1], [b"\x00".hex()], "BYTES"))
        assert r.status_code == 400
        r = infer(client, tensor("tenure", [1], [1.0], "BYTES"), tensor("charges", [1], [2.0]))
        assert r.status_code == 400 and "BYTES" in r.json()["error"]


def test_a_million_tiny_rows_under_the_byte_limit_are_answered_without_stalling_the_server(
    pickles: Path,
) -> None:
    """Each row was logged as one checked record on the event loop: 2 M rows took 45 s
    and 2.4 GB; the log now takes what its queue holds and counts the rest as dropped."""
    scripted("echo", "echo")
    rows = 1_000_000
    body = b'{"columns": ["x"], "data": [' + b",".join([b"[1]"] * rows) + b"]}"
    with TestClient(create_app()) as client:
        result: dict[str, Any] = {}

        def big() -> None:
            result["response"] = post(client, PREDICT.format("echo"), body)

        worker = threading.Thread(target=big)
        worker.start()
        time.sleep(0.3)
        start = time.monotonic()
        assert client.get("/v2/health/live").status_code == 200
        live = time.monotonic() - start
        worker.join(120)
        r = result["response"]
        assert r.status_code == 200 and len(r.json()["predictions"]) == rows
        assert live < 5
        logger = client.app.state.loopml.hosted["echo"].logger
        assert logger.flush(30)
        assert logger.written + logger.dropped == rows
        assert logger.written == logger.max_queue or logger.written == rows


# -- model answers that cannot be sent -----------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        "short",
        "long",
        "scalar",
        "text",
        "mapping",
        "none",
        "decimal",
        "objects",
        "nan",
        "inf",
        "bigint",
        "nested_nan",
    ],
)
def test_a_model_answer_that_cannot_be_sent_is_a_500_model_error(pickles: Path, mode: str) -> None:
    scripted("bad", mode)
    two = {"records": [{"x": 1.0}, {"x": 2.0}]}
    with TestClient(create_app()) as client:
        r = client.post(PREDICT.format("bad"), json=two)
        assert r.status_code == 500, r.text
        assert error_of(r)["type"] == "model_error"
        assert r.headers["x-loopml-model-version"] == "1"
        r = client.post(
            "/v2/models/bad/infer",
            json={"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}]},
        )
        assert r.status_code == 500 and "error" in r.json()
        metrics = client.get("/metrics").text
    assert 'loopml_requests_total{code="500",deployment="bad"' in metrics
    assert 'code="200",deployment="bad",model_version="1",variant="default"} 0.0' in metrics
    assert 'kind="model_error",model_version="1",variant="default"} 2.0' in metrics
    frame = loopml.read_predictions("bad")
    assert len(frame) == 4 and set(frame["status"]) == {"model_error"}
    assert frame["prediction"].isna().all()


def test_dates_are_sent_as_iso_text_not_as_nanoseconds(pickles: Path) -> None:
    scripted("dates", "datetime64")
    scripted("frame", "timestamps")
    with TestClient(create_app()) as client:
        r = client.post(PREDICT.format("dates"), json=ONE)
        assert r.status_code == 200 and r.json()["predictions"][0].startswith("2026-01-02T00")
        r = client.post(PREDICT.format("frame"), json=ONE)
        assert r.status_code == 200 and r.json()["predictions"] == [{"at": "2026-01-02T00:00:00"}]


def test_a_batch_answered_out_of_line_never_hands_one_request_anothers_rows(
    pickles: Path,
) -> None:
    scripted("batched", "short_batches", {"max_batch_size": 64, "max_batch_wait_ms": 300})
    with TestClient(create_app()) as client, ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda i: client.post(PREDICT.format("batched"), json={"records": [{"x": i}]}),
                range(8),
            )
        )
        batches = client.app.state.loopml.hosted["batched"].batcher.batches
    assert [r.status_code for r in answers] == [200] * 8
    assert [r.json()["predictions"] for r in answers] == [[float(i)] for i in range(8)]
    assert batches < 8  # they were batched, and each batch's answer was refused


# -- a slow model, and deploys that race requests ------------------------------------------


@pytest.mark.parametrize("config", [None, {"max_batch_size": 8}])
def test_a_slow_model_never_stalls_health_metrics_or_other_deployments(
    pickles: Path, config: dict[str, Any] | None
) -> None:
    scripted("slow", "gate", config)
    scripted("echo", "echo")
    with TestClient(create_app()) as client, ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(client.post, PREDICT.format("slow"), json={"records": [{"x": 42}]})
        assert ARRIVED.wait(10)
        start = time.monotonic()
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.post(PREDICT.format("echo"), json=ONE).json()["predictions"] == [1.0]
        assert time.monotonic() - start < 5
        assert not stuck.done()
        GATE.set()
        assert stuck.result(10).status_code == 200


def test_a_request_in_flight_finishes_on_its_version_and_its_log_record_is_kept(
    pickles: Path,
) -> None:
    """The old version's logger was closed 10 s after a redeploy, whatever was in flight:
    a slower request lost its record, and a batcher's queued requests hung."""
    scripted("m", "gate", {"max_batch_size": 4})
    with TestClient(create_app(reload_seconds=0.05)) as client, ThreadPoolExecutor(1) as pool:
        state = client.app.state.loopml
        old = state.hosted["m"]
        stuck = pool.submit(client.post, PREDICT.format("m"), json={"records": [{"x": 42}]})
        assert ARRIVED.wait(10)
        scripted("m", "echo")  # version 2
        deadline = time.monotonic() + 20
        while state.hosted["m"] is old and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.hosted["m"].version == 2
        assert client.post(PREDICT.format("m"), json=ONE).json()["model_version"] == 2
        time.sleep(0.3)
        assert not old._closed  # retired, but a request still uses it
        GATE.set()
        r = stuck.result(10)
        assert r.status_code == 200 and r.json()["model_version"] == 1
        deadline = time.monotonic() + 10
        while old.logger.written == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert old._closed and old.logger.dropped == 0 and old.logger.written == 1
    frame = loopml.read_predictions("m")
    assert sorted(frame["model_version"]) == [1, 2]


def test_a_redeploy_to_another_model_of_the_same_version_number_is_followed(
    pickles: Path,
) -> None:
    """The server compared version and config only: models:/a/1 → models:/b/1 kept
    answering with a."""
    scripted("a", "echo")
    scripted("b", "double")
    loopml.deploy("svc", "models:/a/1")
    with TestClient(create_app(reload_seconds=0.05)) as client:
        assert client.post(PREDICT.format("svc"), json=ONE).json()["predictions"] == [1.0]
        loopml.deploy("svc", "models:/b/1")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = client.get("/v1/deployments/svc").json()
            if got["model"] == "models:/b/1":
                break
            time.sleep(0.05)
        assert got["model"] == got["model_uri"] == "models:/b/1"
        assert client.post(PREDICT.format("svc"), json=ONE).json()["predictions"] == [2.0]


def test_deploys_racing_requests_never_give_a_5xx_or_a_mixed_answer(pickles: Path) -> None:
    for value in ("one", "two"):
        scripted(value, "echo")
    with TestClient(create_app(reload_seconds=0.01), raise_server_exceptions=True) as client:
        stop = threading.Event()
        seen: list[tuple[int, Any]] = []

        def hammer() -> None:
            while not stop.is_set():
                r = client.post(PREDICT.format("race"), json={"records": [{"x": 3.0}]})
                body = r.json()
                seen.append((r.status_code, body.get("model")))

        workers = [threading.Thread(target=hammer) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            for i in range(12):
                loopml.deploy("race", f"models:/{('one', 'two')[i % 2]}/1", reason=str(i))
                time.sleep(0.05)
                if i % 4 == 3:
                    loopml.deployments.delete_deployment("race")
                    time.sleep(0.05)
        finally:
            stop.set()
            for w in workers:
                w.join(30)
    codes = {code for code, _ in seen}
    assert codes <= {200, 404}, codes
    assert {model for code, model in seen if code == 200} <= {"models:/one/1", "models:/two/1"}


def test_a_version_that_failed_to_load_is_tried_again(
    pickles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store away for a moment at reload left the old version serving until the next
    deploy: the failed load was never retried."""
    import loopml.serving._app as app_module

    scripted("m", "echo")
    real = app_module.load
    failures = {"left": 1}

    def flaky(record: Any, metrics: Any, *rest: Any) -> Any:
        if record.version == 2 and failures["left"]:
            failures["left"] -= 1
            raise OSError("the artifact store did not answer")
        return real(record, metrics, *rest)

    monkeypatch.setattr(app_module, "load", flaky)
    monkeypatch.setattr(app_module, "_RETRY_FIRST", 0.1)
    with TestClient(create_app(reload_seconds=0.05)) as client:
        scripted("m", "echo, again")  # another package: version 2
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.get("/v1/deployments/m").json()["model_version"] == 2:
                break
            time.sleep(0.05)
        listed = client.get("/v1/deployments").json()
    assert failures["left"] == 0, listed
    assert listed["failed"] == {} and listed["deployments"][0]["model_version"] == 2


# -- the token ------------------------------------------------------------------------------


def test_a_protected_server_tells_a_caller_without_the_token_nothing(churn: Path) -> None:
    token = "s3cr3t-Tøken with space"
    app = create_app(token=f"  {token}  ", protect_predictions=True)
    body = {"records": [{"tenure": 3.0, "charges": 90.0}]}
    with TestClient(app) as client:
        refused = [
            client.post(PREDICT.format("churn"), json=body),
            client.post(PREDICT.format("nope"), json=body),
            client.post("/v2/models/churn/infer", json={"inputs": []}),
            client.post("/v2/models/nope/versions/9/infer", json={"inputs": []}),
            client.get("/v1/deployments"),
            client.get("/v1/deployments/churn"),
            client.get("/v1/deployments/nope"),
            client.get("/v2/models/churn"),
            client.get("/v2/models/churn/ready"),
            client.get("/v2/models/nope/versions/1/ready"),
            client.post("/v1/deployments/churn/feedback", json={"request_id": "a"}),
            client.post("/v1/deployments/nope/feedback", json={"request_id": "a"}),
        ]
        for r in refused:
            assert r.status_code == 401, (r.request.url, r.text)
            assert not any(h.startswith("x-loopml-") for h in r.headers), r.headers
            assert "churn" not in r.text and "nope" not in r.text
        for header in (
            "",
            "Bearer",
            "Bearer ",
            f"Basic {token}",
            f"Bearer {token}x",
            f"Bearer {token[:-1]}",
            f"Token {token}",
        ):
            raw = [(b"authorization", header.encode())]
            assert client.get("/v1/deployments", headers=raw).status_code == 401, header
        for header in (f"Bearer {token}", f"bearer {token}", f"BEARER   {token}  "):
            raw = [(b"authorization", header.encode("utf-8"))]
            r = client.post(PREDICT.format("churn"), json=body, headers=raw)
            assert r.status_code == 200, (header, r.text)
        for open_path in ("/v2/health/live", "/v2/health/ready", "/v2", "/metrics"):
            assert client.get(open_path).status_code == 200
        metrics = client.get("/metrics").text
    assert 'code="401",deployment="churn"' in metrics and "nope" not in metrics


def test_the_token_is_never_shown(churn: Path, caplog: pytest.LogCaptureFixture) -> None:
    from loopml.config import ServeSettings
    from loopml.serving import exposure, serve_options

    token = "tok-do-not-print-0123456789"
    caplog.set_level("DEBUG")
    opts = serve_options(host="0.0.0.0", token=token, protect_predictions=True)
    assert opts.token == token
    shown = [repr(opts), str(opts), exposure(opts), repr(ServeSettings(token=token))]
    shown.append(repr(loopml.Client(churn).settings))
    with TestClient(create_app(token=token)) as client:
        for r in (
            client.get("/v1/deployments"),
            client.post("/v1/deployments/churn/feedback", json={"request_id": "a"}),
            client.post(
                "/v1/deployments/churn/feedback",
                json={"request_id": "a"},
                headers={"authorization": "Bearer wrong"},
            ),
            client.post(
                "/v1/deployments/churn/feedback",
                content=b"{",
                headers={"authorization": f"Bearer {token}"},
            ),
            client.get("/metrics"),
            client.get("/openapi.json"),
        ):
            shown.append(r.text)
            shown.extend(r.headers.values())
    shown.extend(record.getMessage() for record in caplog.records)
    assert not [text for text in shown if token in text]


def test_workers_get_the_token_from_the_environment_and_the_caller_gets_it_back_clean(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from loopml.serving import run, serve_options

    monkeypatch.delenv("LOOPML_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("LOOPML_SERVE_OPTIONS", raising=False)
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen["app"] = app
        seen["options"] = os.environ["LOOPML_SERVE_OPTIONS"]
        seen["token"] = os.environ.get("LOOPML_SERVE_TOKEN")
        raise KeyboardInterrupt  # the workers stop

    monkeypatch.setattr(uvicorn, "run", fake_run)
    with pytest.raises(KeyboardInterrupt):
        run(serve_options(workers=2, token="tok-workers-only"))
    assert seen["token"] == "tok-workers-only"
    assert "tok-workers-only" not in seen["options"]
    assert "LOOPML_SERVE_TOKEN" not in os.environ and "LOOPML_SERVE_OPTIONS" not in os.environ


def test_a_cli_banner_names_who_can_reach_the_server_without_the_token(churn: Path) -> None:
    from loopml.serving import exposure, serve_options

    assert exposure(serve_options(token="t")) == (
        "feedback needs the token (Authorization: Bearer ...)"
    )
    assert "predictions" in exposure(serve_options(token="t", protect_predictions=True))


def test_a_store_password_is_not_in_the_error_of_an_unreadable_log_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.context import current
    from loopml.errors import CorruptObject

    store = current().artifacts
    store.write_path("predictions/deployment=churn/hour=2026010100/w-1.parquet", b"not parquet")
    monkeypatch.setattr(store, "uri", "s3://AKIAKEY:hunter2-secret@bucket/loopml")
    with pytest.raises(CorruptObject) as caught:
        loopml.read_predictions("churn")
    assert "hunter2" not in str(caught.value) and "AKIAKEY:***@bucket" in str(caught.value)


def test_a_request_is_logged_at_once_and_what_the_queue_cannot_take_is_counted(
    project: Path,
) -> None:
    from loopml.errors import InvalidInput
    from loopml.predictions import PredictionLogger, PredictionRecord, PredictionStatus

    template = PredictionRecord(
        "req-1",
        inputs={},
        model_name="m",
        model_version=2,
        latency_ms=1.5,
        status=PredictionStatus.MODEL_ERROR,
    )
    with PredictionLogger("svc", max_queue=1000, flush_rows=10**6, flush_seconds=3600) as logger:
        queued = logger.log_request(template, {"a": list(range(1500)), "b": ["x"] * 1500}, 1500)
        assert queued == 1000 and logger.dropped == 500
        with pytest.raises(InvalidInput, match="holds 2 values for 3"):
            logger.log_request(template, {"a": [1, 2]}, 3)
        with pytest.raises(InvalidInput, match="predictions holds 1 items for 2 rows"):
            logger.log_request(template, {"a": [1, 2]}, 2, predictions=[1])
    frame = loopml.read_predictions("svc")
    assert list(frame["row"]) == list(range(1000)) and set(frame["status"]) == {"model_error"}
    assert list(frame["in.a"][:3]) == [0, 1, 2] and set(frame["in.b"]) == {"x"}
    assert set(frame["model_version"]) == {2} and frame["prediction"].isna().all()


# -- headers and paths a client controls ---------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "abc\r\nSet-Cookie: a=1",
        "abc\nx",
        "a" * 10_000,
        "ünïcode",
        "",
        " spaced ",
        "<script>",
    ],
)
def test_a_request_id_that_could_inject_or_flood_headers_is_replaced(
    pickles: Path, given: str
) -> None:
    scripted("echo", "echo")
    with TestClient(create_app()) as client:
        headers = [(b"x-request-id", given.encode("utf-8"))] if "\n" not in given else []
        r = client.post(PREDICT.format("echo"), json=ONE, headers=headers)
        assert r.status_code == 200
        rid = r.headers["x-request-id"]
        assert rid != given and len(rid) == 32 and rid.isalnum()
        r = client.post(
            "/v2/models/echo/infer",
            json={
                "id": given,
                "inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}],
            },
        )
        assert r.status_code == 200 and r.json()["id"] != given
        assert "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "name",
    ["..", "...", ".%2e", "%2e%2e", "a%00b", "a%2Fb", "..%2F..", "churn%20", "CON", "é", "a" * 300],
)
def test_a_deployment_name_in_the_path_reaches_neither_the_store_nor_the_log(
    churn: Path, name: str
) -> None:
    before = sorted(p.relative_to(churn) for p in churn.rglob("*") if ".loopml" not in p.parts)
    with TestClient(create_app()) as client:
        for r in (
            client.post(f"/v1/deployments/{name}/predict", json={"records": [{}]}),
            client.post(f"/v1/deployments/{name}/feedback", json={"request_id": "a"}),
            client.post(f"/v2/models/{name}/infer", json={"inputs": []}),
            client.get(f"/v1/deployments/{name}"),
            client.get(f"/v2/models/{name}/ready"),
        ):
            assert r.status_code in (404, 405), (name, r.status_code, r.text)
    logs = churn / ".loopml" / "artifacts" / "predictions"
    assert not logs.exists() or [p.name for p in logs.iterdir()] == []
    after = sorted(p.relative_to(churn) for p in churn.rglob("*") if ".loopml" not in p.parts)
    assert after == before


def _raw_asgi(client: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """The status of one request handed to the app as an ASGI server would, headers as
    given (an HTTP client would fix a Content-Length)."""
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await client.app(scope, receive, send)

    client.portal.call(call)
    return int(sent[0]["status"])


def test_content_length_and_content_type_games(pickles: Path) -> None:
    scripted("echo", "echo")
    with TestClient(create_app(max_request_bytes=4096)) as client:
        path = PREDICT.format("echo")
        body = json.dumps(ONE).encode()
        for length in (b"\xb2", b"\xb9\xb2", b"-1", b"1e3", b" 12", b"99999999"):
            # '\xb2' ('²') is a digit to str.isdigit, and int() refused it: a 500
            headers = [(b"content-type", b"application/json"), (b"content-length", length)]
            assert _raw_asgi(client, path, headers, body) in (400, 413), length
        r = client.post(path, content=body, headers={"content-type": "text/plain"})
        assert r.status_code == 415
        r = client.post(path, content=body, headers={"content-type": "application/x-www+json"})
        assert r.status_code == 200

        def chunks() -> Iterator[bytes]:
            yield b'{"records": ['
            for _ in range(1000):
                yield b'{"x": 1.0},'
            yield b'{"x": 1.0}]}'

        r = client.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        big = json.dumps({"records": [{"x": 1.0}] * 1000}).encode()
        r = post(client, path, big)
        assert r.status_code == 413
        r = post(client, "/v1/deployments/echo/feedback", big)
        assert r.status_code == 413


def test_feedback_with_a_row_beyond_the_log_format_is_a_422(pickles: Path) -> None:
    scripted("echo", "echo")
    with TestClient(create_app()) as client:
        for row in (2**31, 2**40, -1, 1.5, True, "0"):
            r = client.post(
                "/v1/deployments/echo/feedback",
                json={"request_id": "a", "ground_truth": 1, "row": row},
            )
            assert r.status_code == 422, (row, r.text)
        r = client.post(
            "/v1/deployments/echo/feedback",
            json={"request_id": "a", "ground_truth": 1, "row": 2**31 - 1},
        )
        assert r.status_code == 200


def test_metrics_labels_come_from_the_deployments_served_never_from_a_caller(
    pickles: Path,
) -> None:
    scripted("echo", "echo")
    with TestClient(create_app()) as client:
        before = {
            line.rsplit(" ", 1)[0]
            for line in client.get("/metrics").text.splitlines()
            if not line.startswith("#")
        }
        for i in range(200):
            client.post(PREDICT.format(f"ghost{i}"), json=ONE)
            client.post(f"/v2/models/echo/versions/{i}/infer", json={"inputs": []})
            client.get(f"/v2/models/ghost{i}")
            client.post(PREDICT.format("echo"), json=ONE, headers={"x-request-id": f"r{i}"})
        for body in (b"{", b"[]", b'{"records": []}', b'{"records": [{"x": "a"}]}'):
            post(client, PREDICT.format("echo"), body)
        post(client, PREDICT.format("echo"), b"{}", **{"content-type": "text/csv"})
        after = {
            line.rsplit(" ", 1)[0]
            for line in client.get("/metrics").text.splitlines()
            if not line.startswith("#")
        }
    new = after - before
    assert not [s for s in after if "ghost" in s or 'model_version="9"' in s]
    codes = {s.split('code="')[1].split('"')[0] for s in new if 'code="' in s}
    assert codes <= {"200", "400", "413", "415", "422"}
    assert len(new) < 40, sorted(new)


# -- live servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(root: Path, port: int, *args: str) -> subprocess.Popen[bytes]:
    src = str(Path(loopml.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("LOOPML_SERVE_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", "--port", str(port), *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"the server exited: {out}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.stdout.read().decode() if proc.stdout else ""


@pytest.mark.slow
def test_two_servers_on_one_empty_sqlite_project_follow_a_deploy_and_survive_a_kill(
    project: Path,
) -> None:
    """Both start before the project has a database; a deploy made afterwards reaches
    both; one is stopped with SIGTERM, the other with kill -9 mid-traffic, and the log
    reads back whole (files are renamed into place, never written in place)."""
    import httpx

    (project / "loopml.toml").write_text("[serve]\nreload_seconds = 0.2\n")
    loopml.context.reset()
    ports = [_free_port(), _free_port()]
    procs = [_start(project, port) for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_ready(port, proc)
        assert not (project / ".loopml" / "loopml.db").exists() or True
        from sklearn.linear_model import LogisticRegression

        frame = pd.DataFrame({"tenure": [1.0, 50.0, 3.0, 40.0], "charges": [90.0, 20.0, 80, 30]})
        with loopml.start_run():
            info = loopml.log_model(
                LogisticRegression().fit(frame, [1, 0, 1, 0]), input_example=frame
            )
        loopml.register_model(info.uri, "churn")
        loopml.deploy("churn", "models:/churn/1")
        body = {"records": [{"tenure": 2.0, "charges": 85.0}]}
        for port in ports:
            url = f"http://127.0.0.1:{port}/v1/deployments/churn/predict"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if httpx.post(url, json=body).status_code == 200:
                    break
                time.sleep(0.2)
            for i in range(20):
                r = httpx.post(url, json=body, headers={"x-request-id": f"p{port}-{i}"})
                assert r.status_code == 200
        time.sleep(1.5)  # the logger writes once a second
        for i in range(20, 40):
            httpx.post(
                f"http://127.0.0.1:{ports[1]}/v1/deployments/churn/predict",
                json=body,
                headers={"x-request-id": f"p{ports[1]}-{i}"},
            )
        _stop(procs[0])
        _stop(procs[1], signal.SIGKILL)
    finally:
        for proc in procs:
            _stop(proc, signal.SIGKILL)
    frame = loopml.read_predictions("churn")
    ids = set(frame["request_id"])
    assert {f"p{ports[0]}-{i}" for i in range(20)} <= ids  # SIGTERM: everything written
    assert {f"p{ports[1]}-{i}" for i in range(20)} <= ids  # kill -9: what was written
    assert frame["request_id"].is_unique


def test_a_body_that_never_arrives_is_answered_408_and_frees_the_connection(
    pickles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Content-Length larger than the body held the request open for good."""
    import uvicorn

    import loopml.serving._app as app_module

    monkeypatch.setattr(app_module, "_BODY_SECONDS", 0.5)
    scripted("echo", "echo")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"POST /v1/deployments/echo/predict HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"records": '
            )
            start = time.monotonic()
            answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - start < 5
    finally:
        server.should_exit = True
        thread.join(30)
