"""The prediction log and the store's path-addressed files against hostile stores: links
planted in the tree, foreign files in a deployment's folder, secrets in the store's URL."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.predictions.conftest import parquet_files

import loopml
from loopml.errors import CorruptObject, StoreError
from loopml.predictions import PredictionLogger, PredictionRecord
from loopml.predictions._format import parquet_bytes
from loopml.store.artifacts import FsspecArtifactStore, LocalArtifactStore

UTC = timezone.utc
HOUR = "hour=2026113018"


def _outside(tmp_path: Path) -> Path:
    """A folder outside the store holding an old hour partition with one file."""
    outside = tmp_path / "elsewhere"
    (outside / HOUR).mkdir(parents=True)
    (outside / HOUR / "keep.parquet").write_bytes(b"not the store's")
    (outside / "keep.parquet").write_bytes(b"not the store's either")
    return outside


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize(
    "link",
    ["predictions", "predictions/deployment=x", f"predictions/deployment=x/{HOUR}"],
)
def test_a_link_at_any_folder_of_a_path_is_never_gone_through(tmp_path: Path, link: str) -> None:
    outside = _outside(tmp_path)
    store = LocalArtifactStore(tmp_path / "store")
    planted = tmp_path / "store" / link
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(outside / HOUR if link.endswith(HOUR) else outside)
    before = _tree(outside)
    deep = f"predictions/deployment=x/{HOUR}/keep.parquet"

    with pytest.raises(
        CorruptObject, match=rf"cannot write .* {link!r} is a link.*Remove the link"
    ):
        store.write_path(f"predictions/deployment=x/{HOUR}/new.parquet", b"x")
    if not link.endswith(HOUR):  # a folder made below the link would be made outside
        with pytest.raises(CorruptObject, match=rf"cannot write .* {link!r} is a link"):
            store.write_path("predictions/deployment=x/hour=2026113019/new.parquet", b"x")
    for path in sorted({deep, f"{link}/keep.parquet"}):
        with pytest.raises(CorruptObject, match=rf"cannot read .* {link!r} is a link"):
            store.read_path(path)
        with pytest.raises(CorruptObject, match=rf"{link!r} is a link"):
            store.path_file(path)
    for prefix in ("predictions", "predictions/deployment=x", f"predictions/deployment=x/{HOUR}"):
        if len(prefix) >= len(link):
            with pytest.warns(UserWarning, match=rf"skipped {link!r} .* is a link"):
                assert store.list_paths(prefix) == []
    for prefix in ("predictions/deployment=x", f"predictions/deployment=x/{HOUR}"):
        if len(prefix) >= len(link):
            with pytest.warns(UserWarning, match=rf"skipped {link!r}"):
                assert store.remove_tree(prefix) is False
    assert _tree(outside) == before
    assert planted.is_symlink()


def test_the_prediction_log_refuses_to_write_or_read_through_a_planted_link(
    project: Path, tmp_path: Path
) -> None:
    outside = _outside(tmp_path)
    root = project / ".loopml" / "artifacts" / "predictions"
    root.mkdir(parents=True)
    (root / "deployment=churn").symlink_to(outside)
    before = _tree(outside)
    with PredictionLogger("churn") as logger:
        assert logger.log(PredictionRecord("r-1", inputs={"x": 1}, prediction=0))
    assert (logger.written, logger.dropped, logger.errors) == (0, 1, 1)
    with pytest.warns(UserWarning, match=r"skipped 'predictions/deployment=churn'"):
        assert loopml.read_predictions("churn").empty
    with pytest.warns(UserWarning, match=r"skipped 'predictions/deployment=churn'"):
        assert loopml.predictions.prune("churn", older_than=timedelta(hours=1)) == []
    assert _tree(outside) == before


def test_prune_of_every_deployment_prunes_the_real_ones_and_skips_a_planted_link(
    project: Path, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    with PredictionLogger("churn") as logger:
        logger.log(PredictionRecord("old", inputs={"x": 1}, prediction=0, timestamp=old))
        logger.log(PredictionRecord("new", inputs={"x": 2}, prediction=1))
    outside = _outside(tmp_path)
    root = project / ".loopml" / "artifacts" / "predictions"
    (root / "deployment=evil").symlink_to(outside)
    (root / "deployment=churn" / "hour=2020010100").symlink_to(outside / HOUR)
    before = _tree(outside)

    with pytest.warns(UserWarning) as caught:
        removed = loopml.predictions.prune(older_than=timedelta(days=1))
    assert removed == [f"predictions/deployment=churn/hour={old:%Y%m%d%H}"]
    said = " ".join(str(w.message) for w in caught)
    assert "skipped 'predictions/deployment=evil'" in said
    assert "skipped 'predictions/deployment=churn/hour=2020010100'" in said
    assert _tree(outside) == before
    assert (root / "deployment=evil").is_symlink()
    with pytest.warns(UserWarning):
        assert loopml.read_predictions("churn")["request_id"].tolist() == ["new"]


def test_a_link_to_the_stores_own_folder_is_refused_too(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    store.write_path("predictions/deployment=a/h/f.parquet", b"one")
    alias = tmp_path / "store" / "predictions" / "deployment=b"
    alias.symlink_to("deployment=a")
    with pytest.raises(CorruptObject, match="'predictions/deployment=b' is a link"):
        store.read_path("predictions/deployment=b/h/f.parquet")
    with pytest.warns(UserWarning, match="skipped 'predictions/deployment=b'"):
        assert store.list_paths("predictions") == ["predictions/deployment=a/h/f.parquet"]
    with pytest.warns(UserWarning, match="skipped 'predictions/deployment=b'"):
        assert store.remove_tree("predictions/deployment=b") is False
    assert store.read_path("predictions/deployment=a/h/f.parquet") == b"one"
    assert os.path.islink(alias)


def _log_one(deployment: str = "churn") -> Path:
    """Log one prediction; the hour folder it went to."""
    with PredictionLogger(deployment) as logger:
        logger.log(PredictionRecord("r-1", inputs={"x": 1}, prediction=0))
    return parquet_files(Path.cwd())[0].parent


@pytest.mark.parametrize(
    ("foreign", "problem"),
    [
        ({"x": [1, 2]}, "it has no column 'request_id'"),
        (
            {"request_id": ["a"], "row": [0], "timestamp": ["2026-11-30"], "prediction": [1]},
            "its column 'row' is int64, not int32",
        ),
    ],
)
def test_a_foreign_parquet_file_in_a_deployments_folder_is_refused_by_name(
    project: Path, foreign: dict[str, list[object]], problem: str
) -> None:
    folder = _log_one()
    pq.write_table(pa.table(foreign), folder / "foreign.parquet")
    with pytest.raises(CorruptObject, match="foreign.parquet") as caught:
        loopml.read_predictions("churn")
    message = str(caught.value)
    assert problem in message
    assert "not a prediction log file loopml wrote" in message
    assert "request_id string, row int32, timestamp timestamp[us, tz=UTC]" in message
    assert "move it out of the log's folder" in message
    (folder / "foreign.parquet").unlink()
    assert loopml.read_predictions("churn")["request_id"].tolist() == ["r-1"]


def test_a_foreign_parquet_file_among_feedback_is_refused_by_name(project: Path) -> None:
    _log_one()
    loopml.predictions.log_feedback("churn", {"request_id": "r-1", "ground_truth": 1})
    folder = next((project / ".loopml" / "artifacts" / "predictions" / "feedback").rglob("hour=*"))
    pq.write_table(
        pa.table({"request_id": ["r-1"], "row": pa.array([0], pa.int32())}), folder / "x.parquet"
    )
    assert loopml.read_predictions("churn")["request_id"].tolist() == ["r-1"]  # no feedback read
    with pytest.raises(
        CorruptObject, match=r"x.parquet .* not a feedback file .* no column 'timestamp'"
    ):
        loopml.read_predictions("churn", with_feedback=True)


SECRET = "s3cr%2Fet"


def _secret_store(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"memory://user:{SECRET}@log-{os.getpid()}-{time.time_ns()}/prefix"
    monkeypatch.setenv("LOOPML_ARTIFACT_URI", url)
    return url


def _leaks(text: str) -> bool:
    return SECRET in text or "s3cr/et" in text


def test_the_writers_warning_never_shows_the_stores_password(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = _secret_store(monkeypatch)

    def refused(self: FsspecArtifactStore, path: str, data: bytes) -> None:
        raise OSError(13, f"Access denied to {url}/{path} (root {self.root})")

    monkeypatch.setattr(FsspecArtifactStore, "write_path", refused)
    monkeypatch.setattr("loopml.predictions._writer._ATTEMPTS", 1)
    with (
        caplog.at_level(logging.WARNING, "loopml.predictions"),
        PredictionLogger("churn") as logger,
    ):
        logger.log(PredictionRecord("r-1", inputs={"x": 1}, prediction=0))
    assert (logger.written, logger.dropped, logger.errors) == (0, 1, 1)
    assert "could not write 1 predictions" in caplog.text and "Access denied" in caplog.text
    assert "user:***@" in caplog.text
    assert not _leaks(caplog.text)


def test_a_remote_stores_errors_on_the_log_never_show_its_password(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secret_store(monkeypatch)
    store = loopml.context.current().artifacts
    assert isinstance(store, FsspecArtifactStore)
    _log_one_remote()
    path = store.list_paths("predictions")[0]

    store.write_path(path, b"not parquet")
    with pytest.raises(CorruptObject) as caught:
        loopml.read_predictions("churn")
    assert "not readable Parquet" in str(caught.value) and "user:***@" in str(caught.value)
    assert not _leaks(str(caught.value))

    store.write_path(path, parquet_bytes(pa.table({"x": [1]})))
    with pytest.raises(CorruptObject) as caught:
        loopml.read_predictions("churn")
    assert "not a prediction log file" in str(caught.value)
    assert not _leaks(str(caught.value))

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, f"Access denied to {store.root}/predictions")

    for name in ("pipe_file", "find", "cat_file", "rm"):
        monkeypatch.setattr(store.fs._target, name, refused)  # type: ignore[attr-defined]
    calls = [
        lambda: loopml.predictions.log_feedback("churn", {"request_id": "r", "ground_truth": 1}),
        lambda: loopml.read_predictions("churn"),
        lambda: store.read_path(path),
        lambda: store.remove_tree("predictions/deployment=churn"),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="Access denied") as failed:
            call()
        assert "user:***@" in str(failed.value)
        assert not _leaks(str(failed.value))


def _log_one_remote() -> None:
    with PredictionLogger("churn") as logger:
        logger.log(PredictionRecord("r-1", inputs={"x": 1}, prediction=0))
    assert logger.written == 1
