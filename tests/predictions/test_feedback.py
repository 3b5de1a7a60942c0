"""Feedback: stored, joined to its prediction (newest wins, late is fine); pruning."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tests.predictions.conftest import parquet_files

import loopml
from loopml.errors import InvalidInput
from loopml.predictions import FeedbackRecord, PredictionLogger, PredictionRecord

UTC = timezone.utc


def _predict(ids: list[str], when: datetime, rows: int = 1) -> None:
    with PredictionLogger("churn") as logger:
        for n, rid in enumerate(ids):
            for r in range(rows):
                logger.log(
                    PredictionRecord(
                        rid, inputs={"x": n}, prediction=n, row=r,
                        timestamp=when + timedelta(seconds=n),
                    )
                )  # fmt: skip


def test_late_and_duplicate_feedback_joins_the_newest_per_request(project: Path) -> None:
    when = datetime.now(UTC) - timedelta(hours=5)
    _predict(["a", "b", "c"], when, rows=2)
    # feedback for b row 1 arrives twice, the later call carrying the OLDER timestamp
    assert loopml.predictions.log_feedback(
        "churn",
        [
            {"request_id": "a", "ground_truth": 10},
            {"request_id": "b", "row": 1, "ground_truth": 21, "timestamp": when + timedelta(hours=2)},
            {"request_id": "ghost", "ground_truth": 99},
        ],
    ) == 3  # fmt: skip
    assert (
        loopml.predictions.log_feedback(
            "churn", FeedbackRecord("b", 20, row=1, timestamp=when + timedelta(hours=1))
        )
        == 1
    )
    assert loopml.predictions.log_feedback("churn", {"request_id": "a", "ground_truth": 11}) == 1
    frame = loopml.read_predictions("churn", with_feedback=True)
    assert len(frame) == 6  # a left join: every prediction once, none for "ghost"
    got = {(r.request_id, r.row): r.ground_truth for r in frame.itertuples()}
    assert got[("a", 0)] == 11 and got[("b", 1)] == 21
    assert all(got[k] != got[k] for k in [("a", 1), ("b", 0), ("c", 0), ("c", 1)])  # NaN
    stamp = frame.set_index(["request_id", "row"])["feedback_timestamp"]
    assert stamp[("b", 1)] == when + timedelta(hours=2)
    assert "ground_truth" not in loopml.read_predictions("churn").columns


@pytest.mark.parametrize("truth", [{}, [{}], {"a": {}}, [[{}], []]])
def test_feedback_parquet_cannot_type_is_stored_as_its_json(project: Path, truth: object) -> None:
    _predict(["a"], datetime.now(UTC))
    # an empty object is a struct without fields to Arrow, which Parquet cannot store
    assert loopml.predictions.log_feedback("churn", {"request_id": "a", "ground_truth": truth}) == 1
    frame = loopml.read_predictions("churn", with_feedback=True)
    assert frame["ground_truth"].tolist() == [json.dumps(truth, sort_keys=True)]


def test_an_input_parquet_cannot_type_is_logged_as_its_json(project: Path) -> None:
    with PredictionLogger("churn") as logger:
        logger.log(PredictionRecord("a", inputs={"x": {}, "y": 1}, prediction={}))
        logger.log(PredictionRecord("b", inputs={"x": {}, "y": 2}, prediction={}))
    assert (logger.written, logger.dropped) == (2, 0)
    frame = loopml.read_predictions("churn")
    assert frame["in.x"].tolist() == ["{}", "{}"] and frame["in.y"].tolist() == [1, 2]
    assert frame["prediction"].tolist() == ["{}", "{}"]


def test_feedback_with_no_predictions_yet_and_no_feedback_at_all(project: Path) -> None:
    empty = loopml.read_predictions("churn", with_feedback=True)
    assert len(empty) == 0 and {"request_id", "ground_truth"} <= set(empty.columns)
    _predict(["a"], datetime.now(UTC))
    frame = loopml.read_predictions("churn", with_feedback=True)
    assert len(frame) == 1 and frame["ground_truth"].isna().all()


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "feedback is empty"),
        ("a", "feedback must be a FeedbackRecord"),
        (42, "feedback must be a FeedbackRecord"),
        ([{"request_id": "a"}], "must have request_id and ground_truth"),
        ([{"request_id": "a", "ground_truth": 1, "label": 2}], "unknown: label"),
        (
            [{"request_id": "ok", "ground_truth": 1}, {"request_id": "", "ground_truth": 1}],
            "must not be empty",
        ),
        ([{"request_id": "a", "ground_truth": 1, "row": -2}], "row must be a whole number"),
        # the log's row column is int32: a row beyond it is refused, not a failed write
        ([{"request_id": "a", "ground_truth": 1, "row": 2**31}], "from 0 to 2147483647"),
        ([{"request_id": "a", "ground_truth": 1, "timestamp": "now"}], "must be a datetime"),
        ([7], "each feedback must be"),
    ],
)
def test_bad_feedback_is_refused_and_stores_nothing(
    project: Path, records: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        loopml.predictions.log_feedback("churn", records)
    assert not (project / ".loopml" / "artifacts" / "predictions").exists()


def test_prune_removes_whole_old_hours_and_gc_never_touches_the_log(project: Path) -> None:
    now = datetime.now(UTC)
    _predict(["old-1", "old-2"], now - timedelta(days=3))
    _predict(["new-1"], now)
    old_fb = FeedbackRecord("old-1", 1, timestamp=now - timedelta(days=3))
    loopml.predictions.log_feedback("churn", old_fb)  # stored in the hour it arrives: now
    before = parquet_files(project)
    loopml.gc(dry_run=False, grace_seconds=0)
    assert parquet_files(project) == before

    with pytest.raises(InvalidInput, match="no retention to prune by"):
        loopml.predictions.prune()
    with pytest.raises(InvalidInput, match="positive timedelta"):
        loopml.predictions.prune(older_than=timedelta(0))
    with pytest.raises(InvalidInput, match="positive timedelta"):
        loopml.predictions.prune(older_than=3)  # type: ignore[arg-type]
    assert parquet_files(project) == before

    (project / "loopml.toml").write_text("[predictions]\nretention_days = 1\n")
    removed = loopml.predictions.prune()
    old_hour = f"hour={now - timedelta(days=3):%Y%m%d%H}"
    assert removed == [f"predictions/deployment=churn/{old_hour}"]
    assert loopml.read_predictions("churn")["request_id"].tolist() == ["new-1"]
    assert loopml.predictions.prune("churn", older_than=timedelta(days=1)) == []
    assert loopml.predictions.prune("other", older_than=timedelta(hours=1)) == []
