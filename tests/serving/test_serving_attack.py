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

    def flaky(record: Any, metrics: Any) -> Any:
        if record.version == 2 and failures["left"]:
            failures["left"] -= 1
            raise OSError("the artifact store did not answer")
        return real(record, metrics)

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
