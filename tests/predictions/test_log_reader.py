"""Reading parts of the log: a few columns, a short range's hours, and outcome counts a
controller takes every second at the cost of the files written since its last look."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tests.predictions.conftest import parquet_files

import loopml
from loopml.errors import InvalidInput
from loopml.predictions import (
    OutcomeCounter,
    Outcomes,
    PredictionLogger,
    PredictionRecord,
    PredictionStatus,
    _reader,
)

UTC = timezone.utc


def _write(ids: list[str], when: datetime, variant: str = "primary", status: str = "ok") -> None:
    with PredictionLogger("churn") as logger:
        for n, rid in enumerate(ids):
            for row in range(2):  # two rows a request: counted once
                logger.log(
                    PredictionRecord(
                        rid, inputs={"x": n}, prediction=n, variant=variant, row=row,
                        status=PredictionStatus(status if row == 1 else "ok"),
                        timestamp=when + timedelta(milliseconds=n),
                    )
                )  # fmt: skip


def test_outcomes_are_counted_per_request_and_each_file_is_read_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    original = _reader._read_table

    def counted(store: object, path: str, feedback: bool = False) -> object:
        read.append(path)
        return original(store, path, feedback)  # type: ignore[arg-type]

    monkeypatch.setattr(_reader, "_read_table", counted)
    now = datetime.now(UTC)
    _write(["before"], now - timedelta(seconds=30), "candidate", "model_error")
    start = now - timedelta(seconds=10)
    _write(["a", "b"], now)
    _write(["c", "d", "e"], now, "candidate", "model_error")
    counter = OutcomeCounter("churn")
    first = counter.since(start)
    assert first == {"primary": Outcomes(0, 0, 2), "candidate": Outcomes(3, 0, 3)}
    assert len(read) == 3
    _write(["f"], now + timedelta(seconds=1), "candidate", "refused")
    second = counter.since(start)
    assert second["candidate"] == Outcomes(4, 1, 4) and len(read) == 4  # the new file alone
    newest = read[-1]
    # the same as counting a whole read
    frame = loopml.read_predictions("churn", start=start)
    per_request = frame.groupby(["variant", "request_id"])["status"].apply(
        lambda s: bool((s != "ok").any())
    )
    assert int(per_request["candidate"].sum()) == 4 and len(per_request["primary"]) == 2
    # a file removed (by prune) is forgotten, not counted from memory
    assert any(newest.endswith(p.name) for p in parquet_files(project))
    gone = project / ".loopml" / "artifacts" / newest
    gone.unlink()
    assert counter.since(start)["candidate"] == Outcomes(3, 0, 3)


def test_columns_and_a_short_range_read_only_what_they_need(project: Path) -> None:
    now = datetime.now(UTC)
    _write(["old"], now - timedelta(days=3))
    _write(["new"], now)
    store = loopml.context.current().artifacts
    listed: list[str] = []
    original = store.list_paths

    def spy(prefix: str) -> list[str]:
        listed.append(prefix)
        return original(prefix)

    store.list_paths = spy  # type: ignore[method-assign]
    try:
        frame = loopml.read_predictions(
            "churn",
            now - timedelta(minutes=5),
            now + timedelta(minutes=1),
            columns=["request_id", "status", "not_a_column"],
        )
    finally:
        del store.list_paths
    assert list(frame.columns) == ["request_id", "status"]
    assert list(frame["request_id"]) == ["new", "new"]
    assert listed and all("/hour=" in p for p in listed) and len(listed) <= 2
    assert list(loopml.read_predictions("churn")["request_id"].unique()) == ["old", "new"]


def test_bad_columns_and_names_are_refused(project: Path) -> None:
    with pytest.raises(InvalidInput, match="columns must be a list"):
        loopml.read_predictions("churn", columns="request_id")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="deployment name"):
        OutcomeCounter("../etc")
