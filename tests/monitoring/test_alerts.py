"""A monitor's rules over its windows: one incident is one alert, sent again only after
the cooldown, resolved when a window clears it; sinks that fail are recorded and tried
again; alerts are nodes of the lineage graph. On every metadata backend."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.monitoring._webhook import Webhook

import loopml
from loopml.context import current
from loopml.errors import InvalidInput, NotFound
from loopml.monitoring import _alerts, get_alert, list_alerts
from loopml.monitoring._alerts import apply_rules
from loopml.monitoring._records import (
    Alert,
    AlertStatus,
    Monitor,
    MonitorSettings,
    MonitorWindow,
    WindowStatus,
)
from loopml.monitoring._repository import get_monitor, save_monitor, store_window
from loopml.store.metadata import MetadataStore

RULE = "drift_share > 0.3"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def meta(backend: str) -> MetadataStore:
    return current().metadata


def _monitor(
    meta: MetadataStore,
    sinks: tuple[str, ...] = ("file:alerts.jsonl",),
    alerts: tuple[str, ...] = (RULE,),
    cooldown: float = 3600.0,
) -> Monitor:
    settings = MonitorSettings(
        deployment="churn", alerts=alerts, sinks=sinks, cooldown_seconds=cooldown
    )
    return save_monitor(meta, "watch", settings)


def _window(
    meta: MetadataStore,
    metrics: dict[str, float],
    status: WindowStatus = WindowStatus.OK,
    rows: int = 500,
) -> MonitorWindow:
    """The monitor's next hour, stored."""
    cursor = get_monitor(meta, "watch").cursor
    start = cursor or START
    window = MonitorWindow(
        0, "watch", start, start + timedelta(hours=1), rows, status, None, metrics, {}, None, 0.0
    )
    stored = store_window(meta, "watch", cursor, window)
    assert stored is not None
    return stored


def _run(meta: MetadataStore, metrics: dict[str, float], **kw: Any) -> list[Alert]:
    """Store the next window with ``metrics`` and apply the monitor's rules to it."""
    return apply_rules(meta, get_monitor(meta, "watch"), _window(meta, metrics, **kw))


def _lines(project: Path, name: str = "alerts.jsonl") -> list[dict[str, Any]]:
    path = project / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The alerts' clock moves ``seconds`` ahead."""
    real = time.time
    monkeypatch.setattr(_alerts, "time", SimpleNamespace(time=lambda: real() + seconds))


# -- one incident, one alert ----------------------------------------------------------


def test_two_crossing_windows_are_one_alert_sent_once_within_the_cooldown(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta)
    [first] = _run(meta, {"drift_share": 0.42})
    [second] = _run(meta, {"drift_share": 0.55})
    assert first.id == second.id and second.status is AlertStatus.FIRING
    assert second.value == 0.55 and second.first_window != second.last_window
    assert [a.id for a in list_alerts()] == [first.id]
    sent = _lines(project)
    assert [(s["alert"], s["status"], s["value"]) for s in sent] == [
        (f"alerts:/{first.id}", "firing", 0.42)
    ]
    stored = get_alert(first.id)
    assert stored.notified_at is not None and stored.value == 0.55
    assert [(d.sink, d.ok) for d in stored.deliveries] == [("file:alerts.jsonl", True)]


def test_a_firing_alert_is_sent_again_once_the_cooldown_has_passed(
    meta: MetadataStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _monitor(meta, cooldown=600.0)
    [first] = _run(meta, {"drift_share": 0.42})
    _later(monkeypatch, 599.0)
    _run(meta, {"drift_share": 0.5})
    assert len(_lines(project)) == 1
    _later(monkeypatch, 601.0)
    [again] = _run(meta, {"drift_share": 0.6})
    assert again.id == first.id
    assert [(s["status"], s["value"]) for s in _lines(project)] == [
        ("firing", 0.42),
        ("firing", 0.6),
    ]
    assert again.notified_at is not None and first.notified_at is not None
    assert again.notified_at > first.notified_at


def test_a_window_that_clears_the_rule_resolves_the_alert_and_a_new_crossing_is_a_new_one(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta)
    [first] = _run(meta, {"drift_share": 0.42})
    [resolved] = _run(meta, {"drift_share": 0.1})
    assert resolved.id == first.id and resolved.status is AlertStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert _run(meta, {"drift_share": 0.2}) == []
    [second] = _run(meta, {"drift_share": 0.9})
    assert second.id != first.id and second.status is AlertStatus.FIRING
    sent = _lines(project)
    assert [(s["alert"], s["status"]) for s in sent] == [
        (f"alerts:/{first.id}", "firing"),
        (f"alerts:/{first.id}", "resolved"),
        (f"alerts:/{second.id}", "firing"),
    ]
    assert "no longer holds" in sent[1]["message"]
    assert [a.status for a in list_alerts(monitor="watch")] == [
        AlertStatus.FIRING,
        AlertStatus.RESOLVED,
    ]
    assert [a.id for a in list_alerts(status="resolved")] == [first.id]
    assert [a.id for a in list_alerts(status=AlertStatus.FIRING)] == [second.id]


@pytest.mark.parametrize("status", [WindowStatus.TOO_FEW_ROWS, WindowStatus.FAILED])
def test_windows_too_small_or_failed_neither_raise_nor_resolve_an_alert(
    meta: MetadataStore, project: Path, status: WindowStatus
) -> None:
    _monitor(meta)
    assert _run(meta, {"drift_share": 0.9}, status=status, rows=3) == []
    assert list_alerts() == []
    [alert] = _run(meta, {"drift_share": 0.9})
    assert _run(meta, {"drift_share": 0.0}, status=status, rows=3) == []
    assert get_alert(alert.id).status is AlertStatus.FIRING
    assert len(_lines(project)) == 1


def test_a_rule_whose_metric_the_window_lacks_is_skipped(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta, alerts=("live.f1 < 0.8", RULE))
    [alert] = _run(meta, {"drift_share": 0.5})
    assert alert.rule == RULE
    [f1] = _run(meta, {"live.f1": 0.5})  # drift_share missing: its alert stays firing
    assert f1.rule == "live.f1 < 0.8"
    assert get_alert(alert.id).status is AlertStatus.FIRING


def test_the_payload_every_sink_receives(meta: MetadataStore, project: Path) -> None:
    _monitor(meta)
    [alert] = _run(meta, {"drift_share": 0.42})
    [sent] = _lines(project)
    assert sent.keys() == {
        "alert",
        "monitor",
        "deployment",
        "rule",
        "status",
        "value",
        "threshold",
        "message",
        "window",
        "at",
    }
    assert sent["alert"] == f"alerts:/{alert.id}"
    assert (sent["monitor"], sent["deployment"], sent["rule"]) == ("watch", "churn", RULE)
    assert (sent["value"], sent["threshold"]) == (0.42, 0.3)
    assert sent["window"] == {
        "id": alert.first_window,
        "start": "2024-01-01T00:00:00+00:00",
        "end": "2024-01-01T01:00:00+00:00",
        "rows": 500,
    }
    assert "drift_share is 0.42, above 0.3" in sent["message"]
    assert sent["message"] == alert.message


# -- sinks that fail ----------------------------------------------------------------


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def test_a_webhook_that_is_down_is_recorded_and_tried_again_at_the_next_window(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta, sinks=(_dead_url(),))
    [alert] = _run(meta, {"drift_share": 0.42})
    [down] = alert.deliveries
    assert not down.ok and down.attempts == 4
    assert down.error is not None and "cannot reach the webhook" in down.error
    assert alert.notified_at is None
    [retried] = _run(meta, {"drift_share": 0.5})
    assert retried.id == alert.id and retried.notified_at is None
    [again] = retried.deliveries
    assert not again.ok and again.attempts == 4 and again.at > down.at


def test_an_alert_one_sink_took_waits_for_the_cooldown_though_another_failed(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta, sinks=("file:alerts.jsonl", _dead_url()))
    [alert] = _run(meta, {"drift_share": 0.42})
    assert [d.ok for d in alert.deliveries] == [True, False]
    assert alert.notified_at is not None
    [again] = _run(meta, {"drift_share": 0.5})
    assert again.notified_at == alert.notified_at and again.deliveries == alert.deliveries
    assert len(_lines(project)) == 1


def test_a_webhook_that_failed_takes_the_alert_at_the_next_window(
    meta: MetadataStore, project: Path, webhook: Webhook
) -> None:
    _monitor(meta, sinks=(f"{webhook.url}/hook",))
    webhook.codes = [500] * 4
    [alert] = _run(meta, {"drift_share": 0.42})
    assert alert.notified_at is None and not alert.deliveries[0].ok
    [sent] = _run(meta, {"drift_share": 0.5})
    assert sent.notified_at is not None and sent.deliveries[0].ok
    assert [r.body["value"] for r in webhook.received] == [0.42] * 4 + [0.5]
    _run(meta, {"drift_share": 0.6})  # sent now: the cooldown holds the next one back
    assert len(webhook.received) == 5


def test_a_webhook_500_then_200_is_retried_within_one_window(
    meta: MetadataStore, project: Path, webhook: Webhook
) -> None:
    _monitor(meta, sinks=(webhook.url,))
    webhook.codes = [500]
    [alert] = _run(meta, {"drift_share": 0.42})
    [delivery] = alert.deliveries
    assert (delivery.ok, delivery.attempts) == (True, 2)
    assert alert.notified_at is not None


def test_a_webhook_4xx_is_not_retried(meta: MetadataStore, project: Path, webhook: Webhook) -> None:
    _monitor(meta, sinks=(webhook.url,))
    webhook.codes = [403]
    [alert] = _run(meta, {"drift_share": 0.42})
    [delivery] = alert.deliveries
    assert (delivery.ok, delivery.attempts) == (False, 1)
    assert len(webhook.received) == 1 and alert.notified_at is None


def test_a_secret_in_the_webhook_url_is_never_stored_or_logged(
    meta: MetadataStore, project: Path, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loopml.alerts")
    token = "Zq81xw0PlmN4T6vBcRd2"
    url = (
        webhook.url.replace("http://", "http://ops:s3cr3tpw@") + f"/services/T0QX9K/B0ZY8W/{token}"
    )
    _monitor(meta, sinks=(f"{url}?token=abcd1234",))
    webhook.codes = [500] * 8
    [alert] = _run(meta, {"drift_share": 0.42})
    [resolved] = _run(meta, {"drift_share": 0.1})
    assert webhook.received[0].path == f"/services/T0QX9K/B0ZY8W/{token}?token=abcd1234"
    [delivery] = get_alert(alert.id).deliveries
    assert not delivery.ok and delivery.sink.endswith("/services/***/***/***?token=***")
    stored = json.dumps([a.to_dict() for a in list_alerts()]) + json.dumps(resolved.to_dict())
    for secret in (token, "s3cr3tpw", "abcd1234", "T0QX9K", "B0ZY8W"):
        assert secret not in stored
        assert secret not in caplog.text
    assert "could not be sent" in caplog.text


def test_a_sink_that_raises_never_stops_the_rules(
    meta: MetadataStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(sink: str, payload: dict[str, Any], *, root: Path) -> Any:
        raise RuntimeError("a bug in a sink")

    monkeypatch.setattr(_alerts, "send", broken)
    _monitor(meta, sinks=("log", "file:alerts.jsonl"))
    [alert] = _run(meta, {"drift_share": 0.42})
    assert [d.ok for d in alert.deliveries] == [False, False]
    assert alert.notified_at is None and alert.status is AlertStatus.FIRING


# -- lineage and the SDK ------------------------------------------------------------


def test_an_alert_is_linked_from_its_deployment_in_lineage(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta)
    [alert] = _run(meta, {"drift_share": 0.42})
    edges = loopml.lineage.downstream("deployments:/churn")
    assert [(e.src, e.dst, e.relation) for e in edges] == [
        ("deployments:/churn", f"alerts:/{alert.id}", "raised")
    ]
    lin = loopml.get_lineage(f"alerts:/{alert.id}")
    assert [(c.uri, c.relation) for c in lin.upstream.children] == [
        ("deployments:/churn", "raised")
    ]
    assert lin.labels[f"alerts:/{alert.id}"] == f"watch: {RULE} (FIRING, 0.42)"
    _run(meta, {"drift_share": 0.5})
    assert len(loopml.lineage.downstream("deployments:/churn")) == 1


def test_alert_uris_resolve_through_the_uri_registry(meta: MetadataStore, project: Path) -> None:
    _monitor(meta)
    [alert] = _run(meta, {"drift_share": 0.42})
    found = loopml.lineage.resolve(f"alerts:/{alert.id}")
    assert isinstance(found, Alert) and found.id == alert.id and found.rule == RULE
    with pytest.raises(NotFound, match=f"no alert {alert.id + 1}"):
        loopml.lineage.resolve(f"alerts:/{alert.id + 1}")


def test_get_alert_takes_a_number_or_a_uri_and_list_alerts_checks_its_status(
    meta: MetadataStore, project: Path
) -> None:
    _monitor(meta)
    [alert] = _run(meta, {"drift_share": 0.42})
    assert get_alert(alert.id) == get_alert(f"alerts:/{alert.id}") == get_alert(str(alert.id))
    assert loopml.monitoring.list_alerts(monitor="other") == []
    with pytest.raises(NotFound):
        get_alert(alert.id + 10)
    with pytest.raises(InvalidInput, match="malformed alert URI"):
        get_alert("alerts:/x")
    with pytest.raises(InvalidInput, match="alert_id must be"):
        get_alert(True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="status must be 'firing' or 'resolved', got 'open'"):
        list_alerts(status="open")
