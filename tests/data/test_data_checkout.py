"""status and checkout: working copies against loopml.lock."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from datahelp import make_folder

from loopml.context import current
from loopml.data import add_dataset, checkout, read_lock, status
from loopml.errors import CorruptObject, InvalidInput, NotFound
from loopml.store.artifacts import hash_file


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_status_is_unchanged_right_after_add(project: Path, iris_csv: Path) -> None:
    add_dataset(make_folder(project / "data" / "docs", 12), "docs")
    add_dataset(iris_csv, "iris")
    assert [(s.name, s.state) for s in status()] == [("docs", "unchanged"), ("iris", "unchanged")]


def test_status_detects_added_modified_and_deleted_files(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 12)
    add_dataset(folder, "docs")
    (folder / "part0" / "f00000.txt").write_bytes(b"edited")
    (folder / "part1" / "f00001.txt").unlink()
    (folder / "extra.txt").write_text("new")
    (s,) = status()
    assert s.state == "modified"
    assert s.added == ["extra.txt"]
    assert s.modified == ["part0/f00000.txt"]
    assert s.deleted == ["part1/f00001.txt"]


def test_status_sees_a_same_size_edit_by_hashing_it(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 4)
    add_dataset(folder, "docs")
    target = folder / "part2" / "f00002.txt"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    assert status()[0].modified == ["part2/f00002.txt"]


def test_status_of_unchanged_files_does_not_read_them(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.data import _checkout

    add_dataset(make_folder(project / "data" / "docs", 30), "docs")

    def fail(path: object) -> tuple[str, int]:
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(_checkout, "hash_file", fail)
    assert status()[0].state == "unchanged"


def test_status_reports_a_missing_working_copy(project: Path, iris_csv: Path) -> None:
    add_dataset(iris_csv, "iris")
    iris_csv.unlink()
    (s,) = status()
    assert s.state == "missing" and s.deleted == ["iris.csv"]


def test_status_of_a_dataset_not_in_the_lock_is_not_found(project: Path, iris_csv: Path) -> None:
    add_dataset(iris_csv, "iris")
    with pytest.raises(NotFound, match=r"nope are not in loopml\.lock \(pinned: iris\)"):
        status(["nope"])


def test_checkout_restores_exact_bytes_and_removes_extra_files(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 12)
    add_dataset(folder, "docs")
    original = _tree(folder)
    outside = project / "data" / "keep.txt"
    outside.write_text("not part of the dataset")
    (folder / "part0" / "f00000.txt").write_bytes(b"edited")
    (folder / "part1" / "f00001.txt").unlink()
    (folder / "extra" / "deep").mkdir(parents=True)
    (folder / "extra" / "deep" / "x.txt").write_text("new")

    (result,) = checkout()
    assert result.restored == ["part0/f00000.txt", "part1/f00001.txt"]
    assert result.removed == ["extra/deep/x.txt"]
    assert result.unchanged == 10
    assert _tree(folder) == original
    assert not (folder / "extra").exists()
    assert outside.read_text() == "not part of the dataset"
    assert status()[0].state == "unchanged"


def test_checkout_of_an_unchanged_copy_writes_nothing(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 5)
    add_dataset(folder, "docs")
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*.txt")}
    (result,) = checkout()
    assert result.restored == [] and result.unchanged == 5
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.txt")} == stamps


def test_checkout_an_older_version_in_place_updates_the_lock(project: Path, iris_csv: Path) -> None:
    v1 = add_dataset(iris_csv, "iris")
    first = iris_csv.read_bytes()
    with iris_csv.open("a") as fh:
        fh.write("5.0,3.0,1.0,0.2,0\n")
    add_dataset(iris_csv, "iris")
    (result,) = checkout("iris@1")
    assert result.restored == ["iris.csv"]
    assert iris_csv.read_bytes() == first
    assert read_lock(project / "loopml.lock")["iris"].manifest == v1.manifest_digest
    assert status()[0].state == "unchanged"


def test_checkout_to_another_place_leaves_the_lock_alone(project: Path, iris_csv: Path) -> None:
    add_dataset(iris_csv, "iris")
    lock_before = (project / "loopml.lock").read_bytes()
    out = project / "copy"
    out.mkdir()
    checkout("data:/iris@1", to=out)
    assert (out / "iris.csv").read_bytes() == iris_csv.read_bytes()
    checkout("iris", to=project / "renamed.csv")
    assert (project / "renamed.csv").read_bytes() == iris_csv.read_bytes()
    assert (project / "loopml.lock").read_bytes() == lock_before


def test_checkout_needs_a_dataset_for_to(project: Path) -> None:
    with pytest.raises(InvalidInput, match="--to needs a dataset"):
        checkout(to="x")


def test_checkout_with_an_empty_lock_says_what_to_do(project: Path) -> None:
    with pytest.raises(NotFound, match="pins no datasets"):
        checkout()


def test_checkout_refuses_a_corrupt_object_and_leaves_the_copy_as_it_was(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 6)
    v = add_dataset(folder, "docs")
    victim = v.files()[0]
    obj = current().artifacts.path(victim.digest)  # type: ignore[attr-defined]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered")
    (folder / victim.path).write_bytes(b"local edit")
    (folder / v.files()[1].path).unlink()
    before = _tree(folder)
    with pytest.raises(CorruptObject, match=f"object {victim.digest}.*is corrupt"):
        checkout()
    assert _tree(folder) == before
    assert not [p for p in folder.rglob("*") if p.name.endswith((".part", ".checkout"))]


def test_checkout_missing_objects_without_a_remote_tells_how_to_fetch(project: Path) -> None:
    path = project / "a.txt"
    path.write_text("hello")
    v = add_dataset(path, "a")
    current().artifacts.delete(v.files()[0].digest)
    path.unlink()
    with pytest.raises(NotFound, match=r"not in the local store.*\[data\] remote"):
        checkout()


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        },
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_checkout_of_an_old_commit_then_data_checkout_restores_old_data(
    project: Path,
) -> None:
    import loopml.context

    (project / ".gitignore").write_text(".loopml/\ndata/\n")
    folder = make_folder(project / "data" / "docs", 8)
    _git(project, "init", "-q")
    add_dataset(folder, "docs")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "data v1")
    old = _tree(folder)

    (folder / "part0" / "f00000.txt").write_text("second version")
    (folder / "new.txt").write_text("added in v2")
    add_dataset(folder, "docs")
    _git(project, "commit", "-q", "-am", "data v2")
    new = _tree(folder)

    # forget the metadata entirely: the lock and the objects must be enough
    loopml.context.reset()
    (project / ".loopml" / "loopml.db").unlink()

    _git(project, "checkout", "-q", "HEAD~1")
    checkout()
    assert _tree(folder) == old
    assert status()[0].state == "unchanged"

    _git(project, "checkout", "-q", "-")
    checkout()
    assert _tree(folder) == new
    for rel, data in new.items():
        assert hash_file(folder / rel)[0] == hash_file_bytes(data)


def hash_file_bytes(data: bytes) -> str:
    from loopml.store.artifacts import hash_bytes

    return hash_bytes(data)
