"""Alert sinks: the log, JSON lines appended to a file, webhooks with retries; a sink
that fails is a failed Delivery, and a webhook's secrets are never shown."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.monitoring._webhook import Webhook

from loopml.monitoring import _sinks
from loopml.monitoring._sinks import send, shown_sink


def _payload(status: str = "firing", message: str = "watch: drift_share is 0.42") -> dict[str, Any]:
    return {
        "alert": "alerts:/3",
        "monitor": "watch",
        "deployment": "churn",
        "rule": "drift_share > 0.3",
        "status": status,
        "value": 0.42,
        "threshold": 0.3,
        "message": message,
        "window": {"id": 7, "start": "2024-01-01T00:00:00+00:00", "end": "x", "rows": 500},
        "at": "2024-01-01T01:00:00+00:00",
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- log ----------------------------------------------------------------------------


def test_the_log_sink_warns_of_a_firing_alert_and_informs_of_a_resolved_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loopml.alerts")
    firing = send("log", _payload(), root=tmp_path)
    resolved = send("log", _payload("resolved", "watch: cleared"), root=tmp_path)
    assert (firing.ok, firing.sink, firing.attempts) == (True, "log", 1)
    assert resolved.ok
    levels = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        ("loopml.alerts", logging.WARNING, "alerts:/3 firing: watch: drift_share is 0.42"),
        ("loopml.alerts", logging.INFO, "alerts:/3 resolved: watch: cleared"),
    ]


# -- file ---------------------------------------------------------------------------


def test_the_file_sink_appends_one_json_line_per_alert_under_the_project_root(
    tmp_path: Path,
) -> None:
    first = send("file:out/alerts.jsonl", _payload(), root=tmp_path)
    second = send("file:out/alerts.jsonl", _payload("resolved"), root=tmp_path)
    assert first.ok and second.ok and first.sink == "file:out/alerts.jsonl"
    lines = (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [_payload(), _payload("resolved")]


def test_the_file_sink_takes_an_absolute_path_as_it_is(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "a.jsonl"
    assert send(f"file:{target}", _payload(), root=tmp_path / "root").ok
    assert json.loads(target.read_text()) == _payload()


def test_concurrent_writers_of_the_file_sink_never_interleave_their_lines(
    tmp_path: Path,
) -> None:
    big = "x" * 20_000  # lines far larger than a pipe's atomic size
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(40):
                payload = _payload(message=f"{n}-{i}-{big}")
                assert send("file:alerts.jsonl", payload, root=tmp_path).ok
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    messages = sorted(json.loads(line)["message"] for line in lines)
    assert messages == sorted(f"{n}-{i}-{big}" for n in range(4) for i in range(40))


def test_a_file_sink_that_cannot_be_written_is_a_failed_delivery_not_an_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    delivery = send("file:taken/alerts.jsonl", _payload(), root=tmp_path)
    assert not delivery.ok and delivery.sink == "file:taken/alerts.jsonl"
    assert delivery.error is not None and "cannot append to" in delivery.error
    assert "taken/alerts.jsonl" in delivery.error


# -- webhooks -----------------------------------------------------------------------


def test_a_webhook_receives_the_payload_as_json(webhook: Webhook, tmp_path: Path) -> None:
    delivery = send(f"{webhook.url}/hook", _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts, delivery.error) == (True, 1, None)
    [got] = webhook.received
    assert got.path == "/hook" and got.body == _payload()
    assert got.headers["Content-Type"] == "application/json"


def test_a_webhook_answering_500_is_retried_until_it_takes_the_alert(
    webhook: Webhook, tmp_path: Path
) -> None:
    webhook.codes = [500, 503]
    delivery = send(f"{webhook.url}/hook", _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (True, 3)
    assert [r.body for r in webhook.received] == [_payload()] * 3


@pytest.mark.parametrize("code", [408, 429])
def test_a_webhook_asking_to_wait_is_retried(webhook: Webhook, tmp_path: Path, code: int) -> None:
    webhook.codes = [code]
    delivery = send(webhook.url, _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (True, 2)


@pytest.mark.parametrize("code", [400, 401, 404])
def test_a_webhook_refusing_the_alert_with_4xx_is_not_retried(
    webhook: Webhook, tmp_path: Path, code: int
) -> None:
    webhook.codes = [code]
    delivery = send(webhook.url, _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert delivery.error is not None and f"HTTP {code}" in delivery.error
    assert len(webhook.received) == 1


def test_a_webhook_that_keeps_failing_is_a_failed_delivery_after_every_attempt(
    webhook: Webhook, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.codes = [500] * 10
    delivery = send(webhook.url, _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (False, 4)
    assert delivery.error == "the webhook answered HTTP 500 Internal Server Error"
    assert len(webhook.received) == 4
    assert "could not be sent" in caplog.text and "after 4 attempts" in caplog.text


def test_a_webhook_that_is_down_is_a_failed_delivery(tmp_path: Path) -> None:
    delivery = send(f"http://127.0.0.1:{_closed_port()}/hook", _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (False, 4)
    assert delivery.error is not None and "cannot reach the webhook" in delivery.error
    assert "refused" in delivery.error.lower()


def test_a_webhook_redirect_is_a_failure_not_followed(webhook: Webhook, tmp_path: Path) -> None:
    webhook.codes = [302]
    delivery = send(webhook.url, _payload(), root=tmp_path)
    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert delivery.error is not None and "redirect" in delivery.error
    assert len(webhook.received) == 1


def test_the_backoff_between_attempts_grows_with_jitter(
    webhook: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(_sinks, "RETRY_DELAYS", (0.5, 1.0, 2.0))
    monkeypatch.setattr(_sinks, "_sleep", slept.append)
    webhook.codes = [500] * 4
    assert not send(webhook.url, _payload(), root=tmp_path).ok
    assert len(slept) == 3
    for wait, delay in zip(slept, (0.5, 1.0, 2.0), strict=True):
        assert delay / 2 <= wait <= delay


def test_a_webhook_url_is_shown_without_its_secrets() -> None:
    assert (
        shown_sink("https://hooks.slack.com/services/T0AB12CD/B0CD34EF/xY9z8W7v6U5t4S3r2Q1p0")
        == "https://hooks.slack.com/services/***/***/***"
    )
    assert (
        shown_sink("https://bot:pa55word@example.com:8443/api/alerts?token=abc&channel=ops#frag")
        == "https://***@example.com:8443/api/alerts?token=***&channel=***#***"
    )
    assert shown_sink("https://sometoken@example.com/") == "https://***@example.com/"
    assert shown_sink("log") == "log" and shown_sink("file:a.jsonl") == "file:a.jsonl"


def test_secrets_of_a_webhook_url_reach_the_webhook_but_no_delivery_or_log_line(
    webhook: Webhook, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loopml.alerts")
    secrets = ["hunter2pass", "T0AB12CD", "B0CD34EF", "xY9z8W7v6U5t4S3r2Q1p0", "q5ecretq"]
    url = webhook.url.replace("http://", "http://bot:hunter2pass@")
    url += "/services/T0AB12CD/B0CD34EF/xY9z8W7v6U5t4S3r2Q1p0?token=q5ecretq"
    webhook.codes = [500] * 4
    delivery = send(url, _payload(), root=tmp_path)
    assert not delivery.ok
    got = webhook.received[0]
    assert got.path == "/services/T0AB12CD/B0CD34EF/xY9z8W7v6U5t4S3r2Q1p0?token=q5ecretq"
    assert got.headers["Authorization"] == "Basic " + base64.b64encode(b"bot:hunter2pass").decode()
    shown = json.dumps(delivery.to_dict()) + caplog.text
    assert "services/***/***/***" in delivery.sink
    for secret in secrets:
        assert secret not in shown
    assert caplog.records, "the failure is logged"
