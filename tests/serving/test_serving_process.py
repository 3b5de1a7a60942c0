"""``loopml serve`` as a process: what it says at start, several workers following a
``loopml deploy``, SIGTERM under load losing no answered prediction, and a standard
Open Inference Protocol client (tritonclient) talking to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.serving.conftest import Churn
from typer.testing import CliRunner

import loopml

ROW = {"tenure": 3.0, "charges": 110.0}
PREDICT = "/v1/deployments/churn/predict"
MAIN = "from loopml.cli import main; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM, then wait for the process (and its workers) to end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(
                f"loopml serve did not stop on SIGTERM:\n{self.output()}"
            ) from None


@contextmanager
def loopml_serve(
    project: Path, *args: str, env: dict[str, str] | None = None, ready_within: float = 90.0
) -> Iterator[Server]:
    """``loopml serve --port <free> *args`` in ``project``, once it answers ready; always
    stopped (and killed if it must be) afterwards."""
    port = _free_port()
    given = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(loopml.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    env.update(given)
    log = project.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", MAIN, "serve", "--port", str(port), *args],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers go with it when it is killed
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + ready_within
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"loopml serve exited ({process.returncode}):\n{server.output()}"
                )
            try:
                if httpx.get(f"{server.url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"loopml serve was not ready in time:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _deploy(*args: str) -> None:
    from loopml.cli import app

    result = CliRunner().invoke(app, ["deploy", *args])
    assert result.exit_code == 0, result.output


# -- what it says at start ---------------------------------------------------------------


def _serve_output(monkeypatch: pytest.MonkeyPatch, *args: str, token: str | None = None) -> str:
    """What ``loopml serve *args`` prints before it starts uvicorn (not started here)."""
    import loopml.serving
    from loopml.cli import app

    started: list[Any] = []
    monkeypatch.setattr(loopml.serving, "run", started.append)
    env = {"LOOPML_SERVE_TOKEN": token} if token else {}
    result = CliRunner().invoke(app, ["serve", *args], env=env)
    assert result.exit_code == 0, result.output
    assert len(started) == 1
    return " ".join(result.output.split())


def test_serve_without_a_token_says_it_listens_on_this_machine_only(
    churn: Churn, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _serve_output(monkeypatch, "--port", "8123")
    assert (
        "loopml serve: http://127.0.0.1:8123 (1 worker); deployments: churn → models:/churn/1"
        in out
    )
    assert "no token is set, so it listens on this machine only" in out
    assert "reachable from other machines" not in out


def test_serve_on_all_addresses_without_a_token_warns(
    churn: Churn, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _serve_output(monkeypatch, "--host", "0.0.0.0", "--port", "8123")
    assert (
        "no token is set and 0.0.0.0 is reachable from other machines: anyone who reaches it "
        "can predict and send feedback. Set LOOPML_SERVE_TOKEN to require one"
    ) in out
    guarded = _serve_output(monkeypatch, "--host", "0.0.0.0", token="t0ken")
    assert "reachable from other machines" not in guarded
    assert "feedback needs the token (Authorization: Bearer ...)" in guarded
    both = _serve_output(monkeypatch, "--host", "::", "--protect-predictions", token="t0ken")
    assert "predictions, deployments and feedback need the token" in both
    assert "http://[::]:8080" in both


@pytest.mark.slow
def test_a_running_server_says_where_it_listens(churn: Churn, project: Path) -> None:
    with loopml_serve(project) as server:
        r = httpx.post(f"{server.url}{PREDICT}", json={"records": [ROW]})
        assert r.status_code == 200
        assert r.json()["predictions"] == churn.v1.predict(_frame([ROW])).tolist()
        server.stop()
    out = server.output()
    assert f"loopml serve: {server.url} (1 worker); deployments: churn → models:/churn/1" in out
    assert "no token is set, so it listens on this machine only" in out


def _frame(rows: list[dict[str, float]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)


# -- several workers follow a deploy -----------------------------------------------------


def _worker_ids(project: Path, deployment: str) -> set[str]:
    """The worker processes that wrote the deployment's prediction log (by file name)."""
    root = project / ".loopml" / "artifacts" / "predictions" / f"deployment={deployment}"
    return {p.name.split("-", 1)[0] for p in root.rglob("*.parquet")}


@pytest.mark.slow
def test_two_workers_both_serve_a_new_deploy_within_two_seconds(
    churn: Churn, project: Path
) -> None:
    token = {"LOOPML_SERVE_TOKEN": "w0rkers"}
    with loopml_serve(project, "--workers", "2", env=token) as server:
        # every worker has the token: feedback needs it on each (new connections, so both
        # workers take requests)
        feedback = f"{server.url}/v1/deployments/churn/feedback"
        item = {"request_id": "x", "ground_truth": 1}
        assert {httpx.post(feedback, json=item).status_code for _ in range(8)} == {401}
        auth = {"Authorization": "Bearer w0rkers"}
        assert {httpx.post(feedback, json=item, headers=auth).status_code for _ in range(8)} == {
            200
        }
        before = {
            httpx.post(f"{server.url}{PREDICT}", json={"records": [ROW]}).json()["model_version"]
            for _ in range(10)
        }
        assert before == {1}
        _deploy("churn", "--model", "models:/churn/2")
        deployed = time.monotonic()
        streak, streak_began, sent = 0, 0.0, []
        while streak < 40:
            assert time.monotonic() - deployed < 15, "the workers did not all follow the deploy"
            rid = uuid.uuid4().hex
            r = httpx.post(
                f"{server.url}{PREDICT}", json={"records": [ROW]}, headers={"X-Request-ID": rid}
            )
            assert r.status_code == 200, r.text
            if r.json()["model_version"] == 2:
                if streak == 0:
                    streak_began = time.monotonic()
                streak += 1
                sent.append(rid)
            else:
                streak, sent = 0, []
                time.sleep(0.02)
        # [serve] reload_seconds is 0.5: within 2 s, plus one poll of slack
        assert streak_began - deployed < 2.5
        server.stop()
    frame = loopml.read_predictions("churn")
    served = frame[frame["request_id"].isin(sent)]
    assert len(served) == 40 and set(served["model_version"]) == {2}
    assert len(_worker_ids(project, "churn")) == 2  # both workers answered and logged


# -- SIGTERM under load ------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_under_load_loses_no_answered_prediction(churn: Churn, project: Path) -> None:
    answered: list[str] = []
    refused: list[str] = []
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                rid = uuid.uuid4().hex
                try:
                    r = client.post(
                        f"{url}{PREDICT}",
                        json={"records": [ROW, ROW]},
                        headers={"X-Request-ID": rid},
                    )
                except httpx.TransportError:
                    refused.append(rid)
                    time.sleep(0.01)
                    continue
                if r.status_code == 200:
                    assert r.json()["request_id"] == rid
                    answered.append(rid)

    with loopml_serve(project) as server:
        threads = [threading.Thread(target=load, args=(server.url,)) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 20
            while len(answered) < 60 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(answered) >= 60
            server.stop()  # the load goes on while the server stops
        finally:
            stop.set()
            for t in threads:
                t.join(20)
    assert refused  # the load went on until the server was gone
    frame = loopml.read_predictions("churn")
    logged = set(frame["request_id"])
    missing = [rid for rid in answered if rid not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered requests are not logged"
    rows = frame[frame["request_id"].isin(answered)]
    assert len(rows) == 2 * len(answered)  # both rows of each, once


# -- a standard OIP client ---------------------------------------------------------------


@pytest.mark.slow
def test_tritonclient_speaks_to_loopml_serve(churn: Churn, project: Path) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    rows = [ROW, {"tenure": 55.0, "charges": 25.0}, {"tenure": 20.0, "charges": 70.0}]
    with loopml_serve(project) as server:
        client = httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))
        try:
            assert client.is_server_live()
            assert client.is_server_ready()
            assert client.is_model_ready("churn")
            assert client.is_model_ready("churn", "1")
            assert not client.is_model_ready("churn", "2")
            meta = client.get_model_metadata("churn")
            assert meta["name"] == "churn" and meta["versions"] == ["1"]
            assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
                ("tenure", "FP64"),
                ("charges", "FP64"),
            ]
            assert client.get_server_metadata()["name"] == "loopml"
            inputs = []
            for column in ("tenure", "charges"):
                tensor = httpclient.InferInput(column, [len(rows)], "FP64")
                tensor.set_data_from_numpy(
                    np.array([r[column] for r in rows], dtype=np.float64), binary_data=False
                )
                inputs.append(tensor)
            outputs = [
                httpclient.InferRequestedOutput("predict", binary_data=False),
                httpclient.InferRequestedOutput("predict_proba", binary_data=False),
            ]
            result = client.infer("churn", inputs, outputs=outputs, request_id="triton-1")
            np.testing.assert_array_equal(
                result.as_numpy("predict"), churn.v1.predict(_frame(rows))
            )
            np.testing.assert_allclose(
                np.reshape(result.as_numpy("predict_proba"), (3, 2)),
                churn.v1.predict_proba(_frame(rows)),
            )
            assert result.get_response()["id"] == "triton-1"
            versioned = client.infer("churn", inputs, model_version="1")
            assert versioned.as_numpy("predict").tolist() == result.as_numpy("predict").tolist()
        finally:
            client.close()
        server.stop()
    assert "triton-1" in set(loopml.read_predictions("churn")["request_id"])
