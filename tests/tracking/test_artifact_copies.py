"""Artifacts handed to users are read-only and verified every time; destinations and
sources the process cannot use are one-line errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.store.artifacts import LocalArtifactStore
from loopml.tracking import download_artifact, get_artifact, start_run


def _writable(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_get_artifact_hands_out_a_read_only_copy(project: Path) -> None:
    (project / "model.bin").write_bytes(b"weights")
    (project / "plots").mkdir()
    (project / "plots" / "roc.txt").write_text("roc")
    with start_run("exp") as run:
        run.log_artifact(project / "model.bin")
        run.log_artifact(project / "plots")
    copy = get_artifact(f"runs:/{run.id}/model.bin")
    assert copy.read_bytes() == b"weights" and not _writable(copy)
    folder = get_artifact(f"runs:/{run.id}/plots")
    assert not _writable(folder / "roc.txt")


def test_a_changed_copy_is_replaced_with_the_logged_bytes_on_the_next_get(project: Path) -> None:
    (project / "model.bin").write_bytes(b"weights")
    (project / "plots").mkdir()
    (project / "plots" / "roc.txt").write_text("roc")
    with start_run("exp") as run:
        run.log_artifact(project / "model.bin")
        run.log_artifact(project / "plots")
    copy = get_artifact(f"runs:/{run.id}/model.bin")
    os.chmod(copy, 0o644)
    copy.write_bytes(b"tampered")  # the same size would not escape either
    assert get_artifact(f"runs:/{run.id}/model.bin").read_bytes() == b"weights"
    assert not _writable(copy)

    inner = get_artifact(f"runs:/{run.id}/plots") / "roc.txt"
    os.chmod(inner, 0o644)
    inner.write_text("ROC")
    assert (get_artifact(f"runs:/{run.id}/plots") / "roc.txt").read_text() == "roc"


def test_a_copy_of_a_corrupt_object_is_never_handed_out(project: Path) -> None:
    (project / "model.bin").write_bytes(b"weights")
    with start_run("exp") as run:
        (entry,) = run.log_artifact(project / "model.bin")
    copy = get_artifact(f"runs:/{run.id}/model.bin")
    os.chmod(copy, 0o644)
    copy.write_bytes(b"tampered")
    store = LocalArtifactStore(project / ".loopml" / "artifacts")
    obj = store.path(entry.digest)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"rotten!")
    with pytest.raises(loopml.CorruptObject):
        get_artifact(f"runs:/{run.id}/model.bin")


def test_download_to_a_destination_that_cannot_be_written_is_a_one_line_error(
    project: Path,
) -> None:
    (project / "model.bin").write_bytes(b"weights")
    with start_run("exp") as run:
        run.log_artifact(project / "model.bin")
    blocker = project / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(InvalidInput, match="cannot write") as info:
        download_artifact(run.id, "model.bin", blocker / "out")
    assert "\n" not in str(info.value)


def test_logging_a_file_that_cannot_be_read_is_a_one_line_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = project / "secret.bin"
    secret.write_bytes(b"x")
    real_open = open

    def guarded_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file) == str(secret):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    with start_run("exp") as run, pytest.raises(InvalidInput, match="cannot log artifact") as info:
        run.log_artifact(secret)
    assert "Permission denied" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("target", ["folder", "nothing"])
def test_a_link_to_a_folder_or_to_nothing_in_an_artifact_folder_is_refused(
    project: Path, target: str
) -> None:
    (project / "plots").mkdir()
    (project / "plots" / "roc.txt").write_text("roc")
    (project / "elsewhere").mkdir()
    (project / "elsewhere" / "secret.txt").write_text("s")
    linked = project / "elsewhere" if target == "folder" else project / "gone"
    os.symlink(linked, project / "plots" / "more")
    with start_run("exp") as run:
        with pytest.raises(InvalidInput, match=r"more.*is a link to"):
            run.log_artifact(project / "plots")
        # a link to a file is followed
        os.unlink(project / "plots" / "more")
        os.symlink(project / "elsewhere" / "secret.txt", project / "plots" / "s.txt")
        entries = run.log_artifact(project / "plots")
    assert sorted(e.path for e in entries) == ["plots/roc.txt", "plots/s.txt"]
