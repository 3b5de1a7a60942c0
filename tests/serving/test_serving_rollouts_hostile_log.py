"""The prediction log under a running rollout: a stray file in the log's hour folder,
and the cost of the controller's look every second at a long log."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from tests.serving.conftest import serving
from tests.serving.rollouts import PREDICT, body, canary, candidate, send_until

import loopml
from loopml.deployments import RolloutStatus
from loopml.predictions import OutcomeCounter
from loopml.predictions._format import Row, parquet_bytes, prediction_table
from loopml.predictions._records import hour_of, log_prefix, to_us


def test_a_stray_file_in_the_log_does_not_keep_a_failing_canary_on_traffic(m: Path) -> None:
    """A file that is not the log's (here garbage named ``.parquet``, as a copy tool or
    a truncated write leaves) lands in the current hour's folder of a deployment whose
    canary fails a fifth of its requests: the failing candidate must still be rolled
    back (the controller skips the unreadable file with a warning, or fails safe and
    rolls back), not left serving half the traffic."""
    with serving() as client:
        r = canary(candidate("fail20"), policy={"min_requests": 20})
        now = to_us(datetime.now(timezone.utc), "now")
        store = loopml.context.current().artifacts
        store.write_path(f"{log_prefix('m')}/{hour_of(now)}/stray.parquet", b"not Parquet")

        def one(x: float) -> None:
            assert client.post(PREDICT, json=body(x)).status_code in (200, 500)

        send_until(r.id, lambda r: r.status.finished, 20, one)
        assert client.get("/v2/health/ready").status_code == 200  # it kept serving
    done = loopml.get_rollout(r.id)
    assert done.status is RolloutStatus.ROLLED_BACK, (done.status, done.finish_reason)


def test_the_early_look_lists_only_the_hours_of_its_window(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OutcomeCounter.since runs every second while a window is open and is meant to
    cost what was written since the last look: with 200 hours of older log behind the
    window, it must list only the window's hours (here: the last one or two), not the
    whole log."""
    now = datetime.now(timezone.utc)
    store = loopml.context.current().artifacts
    row = Row("r", 0, to_us(now, "now"), "m", "m", 1, "primary", "ok", 1.0, {"x": 1}, 2, None)
    data = parquet_bytes(prediction_table([row]))
    for h in range(2, 202):
        at = to_us(now - timedelta(hours=h), "hour")
        store.write_path(f"{log_prefix('m')}/{hour_of(at)}/w-old.parquet", data)
    listed: list[int] = []
    real = type(store).list_paths

    def counted(self: Any, prefix: str) -> list[str]:
        found = real(self, prefix)
        listed.append(len(found))
        return found

    monkeypatch.setattr(type(store), "list_paths", counted)
    counter = OutcomeCounter("m")
    started = time.perf_counter()
    counter.since(now - timedelta(minutes=5))
    took = time.perf_counter() - started
    assert sum(listed) <= 2, f"{sum(listed)} paths listed for a 5-minute window ({took:.3f} s)"
