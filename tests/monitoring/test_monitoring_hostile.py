"""Hostile inputs and a tampered store: a monitor keeps computing what it can, says what
it could not, and a damaged record is a clear error with a way out, never a crash or a
silent wrong result."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

import loopml
from loopml.context import current
from loopml.errors import CorruptRecord, InvalidInput
from loopml.monitoring import WindowStatus
from loopml.monitoring import _repository as repo
from loopml.monitoring._records import MonitorSettings
from loopml.predictions import PredictionLogger, PredictionRecord

from .conftest import START, Served, churn_frame, log_window, make_served


def _tamper(sql: str, params: tuple[Any, ...] = ()) -> None:
    current().metadata.write(lambda conn: conn.execute(sql, params).close())


def test_text_in_one_numeric_input_leaves_drift_of_every_column_computed(
    served: Served,
) -> None:
    frame = churn_frame(300, seed=21)
    predicted = served.model.predict(frame[["tenure", "charges"]])
    with PredictionLogger("churn") as log:
        for i, row in enumerate(frame.itertuples(index=False)):
            log.log(
                PredictionRecord(
                    f"m-{i}",
                    # a third of tenure is text: the column comes back as text
                    inputs={"tenure": "n/a" if i % 3 == 0 else row.tenure, "charges": row.charges},
                    prediction="unknown" if i % 3 == 0 else int(predicted[i]),
                    model_name="churn",
                    model_version=1,
                    latency_ms=5.0,
                    timestamp=START + timedelta(seconds=i),
                )
            )
    loopml.monitoring.add_monitor("churn")
    (window,) = loopml.monitoring.run_monitors(now=START + timedelta(hours=1)).windows

    m = window.metrics
    assert window.status == WindowStatus.OK
    assert m["data.type_error_rate"] > 0  # the text is counted as a type error...
    assert m["drift.charges"] < 0.1  # ...and the clean column is still checked
    assert "drift.tenure" in m and m["drift_share"] == 0.5  # a third missing: drifted
    assert "prediction_drift" in m
    assert not any("could not be computed" in n for n in window.details["notes"])


@pytest.fixture
def served_on(backend: str, project: Any) -> Served:
    return make_served(project)


def test_a_damaged_delivery_leaves_the_alert_readable(served_on: Served) -> None:
    log_window(served_on, START, 300, seed=22, shift=1.0)
    loopml.monitoring.add_monitor("churn", alerts=["drift_share > 0.1"])
    loopml.monitoring.run_monitors(now=START + timedelta(hours=1))
    (alert,) = loopml.monitoring.list_alerts("churn")
    stored = [
        {"sink": "x", "ok": True, "attempts": "many", "at": "later"},
        {"sink": "y", "ok": "yes", "attempts": 1, "at": 1e400},
        {"sink": "log", "ok": True, "attempts": 1, "at": 5.0},
        "not a delivery",
    ]
    _tamper("UPDATE alerts SET deliveries = ? WHERE id = ?", (json.dumps(stored), alert.id))

    (again,) = loopml.monitoring.list_alerts("churn")
    assert [(d.sink, d.ok, d.attempts) for d in again.deliveries] == [("log", True, 1)]

    _tamper("UPDATE alerts SET deliveries = ? WHERE id = ?", ("{garbage", alert.id))
    with pytest.raises(CorruptRecord, match="deliveries of alert"):
        loopml.monitoring.get_alert(alert.id)


def test_a_monitor_with_damaged_settings_stops_no_other_and_can_be_replaced_or_removed(
    served_on: Served,
) -> None:
    log_window(served_on, START, 300, seed=23)
    loopml.monitoring.add_monitor("broken", deployment="churn")
    loopml.monitoring.add_monitor("healthy", deployment="churn")
    _tamper("UPDATE monitors SET config = ? WHERE name = ?", ("[1, 2]", "broken"))

    report = loopml.monitoring.run_monitors(now=START + timedelta(hours=1))
    assert [w.monitor for w in report.windows] == ["healthy"]
    assert "stored settings of monitor 'broken' are not valid" in report.failures["broken"]
    with pytest.raises(CorruptRecord, match="--replace"):
        loopml.monitoring.add_monitor("broken", deployment="churn")  # no silent overwrite

    # the way out the error names works: replace it...
    fixed = loopml.monitoring.add_monitor("broken", deployment="churn", replace=True)
    assert fixed.settings == MonitorSettings(deployment="churn")
    report = loopml.monitoring.run_monitors(now=START + timedelta(hours=1))
    assert [w.monitor for w in report.windows] == ["broken"] and report.failures == {}

    # ...or remove it
    _tamper("UPDATE monitors SET config = ? WHERE name = ?", ("{garbage", "broken"))
    assert loopml.monitoring.delete_monitor("broken").deployment == "churn"
    assert [m.name for m in loopml.monitoring.list_monitors()] == ["healthy"]
    assert repo.monitor_names(current().metadata) == ["healthy"]


def test_loopml_toml_replaces_damaged_stored_settings(served_on: Served) -> None:
    from pathlib import Path

    Path("loopml.toml").write_text('[monitors.churn]\nwindow = "1h"\n')
    loopml.context.reset()
    assert loopml.monitoring.get_monitor("churn").settings.window_seconds == 3600
    _tamper("UPDATE monitors SET config = ? WHERE name = ?", ('"text"', "churn"))
    assert loopml.monitoring.get_monitor("churn").settings.window_seconds == 3600


@pytest.mark.parametrize(
    "rule", ["drift_share > \u0663", "drift_share > 0.\u0665", "live.f1 < \uff11"]
)
def test_rules_with_digits_of_other_scripts_are_refused(project: Any, rule: str) -> None:
    with pytest.raises(InvalidInput, match="metric op number"):
        loopml.monitoring.add_monitor("churn", alerts=[rule])


@pytest.mark.parametrize("window", ["\u0661h", "\u0665 rows", "1\u0660m"])
def test_windows_with_digits_of_other_scripts_are_refused(window: str) -> None:
    from loopml.monitoring._settings import window_of

    with pytest.raises(InvalidInput, match="window"):
        window_of(window, "window")


def test_a_webhook_answering_a_byte_at_a_time_is_given_up_at_the_deadline(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading
    import time

    from loopml.monitoring import _sinks

    monkeypatch.setattr(_sinks, "TIMEOUT", 0.5)
    monkeypatch.setattr(_sinks, "RETRY_DELAYS", (0.0,))
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # so the thread sees the stop
    stop = threading.Event()

    def trickle() -> None:  # each byte well within the socket timeout, the answer never ends
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                    if stop.is_set():
                        return
                    try:
                        conn.send(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.05)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
        delivery = _sinks.send(url, {"alert": "alerts:/1"}, root=tmp_path)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert (delivery.ok, delivery.attempts) == (False, 2)
    assert delivery.error is not None and "no complete answer within 0.5 s" in delivery.error


def test_a_tls_webhook_that_is_down_is_a_failed_delivery(tmp_path: Any) -> None:
    import socket

    from loopml.monitoring import _sinks

    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a port nothing listens on
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_sinks, "RETRY_DELAYS", ())
        delivery = _sinks.send(f"https://127.0.0.1:{port}/hook", {}, root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert delivery.error is not None and "cannot reach the webhook" in delivery.error
