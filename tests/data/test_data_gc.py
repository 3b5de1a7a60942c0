"""gc keeps every object of a version pinned by loopml.lock and of every dataset version,
even when the local database holds no reference to them (a fresh clone after a pull)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from datahelp import make_folder, object_files

import loopml
import loopml.context
from loopml.context import current
from loopml.data import add_dataset, checkout, pull, push
from loopml.errors import InvalidInput


def _clone(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What git clone gives a teammate: the project's files, no .loopml (no database,
    no objects), as the working directory."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("loopml.toml", "loopml.lock"):
        shutil.copy(project / name, clone / name)
    monkeypatch.chdir(clone)
    loopml.context.reset()
    from loopml.data import _manifest

    _manifest._load_cached.cache_clear()
    return clone


def test_gc_in_a_fresh_clone_keeps_the_objects_pulled_for_the_lock(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(project / "data" / "docs", 8)
    add_dataset(folder, "docs")
    remote = tmp_path / "remote"
    push(str(remote))
    clone = _clone(project, tmp_path, monkeypatch)
    pull(str(remote))
    pulled = object_files(clone)
    assert len(pulled) == 9  # the manifest and eight files

    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert report.removed == []
    assert object_files(clone) == pulled
    (r,) = checkout()
    assert len(r.restored) == 8


def test_gc_keeps_every_object_of_a_dataset_version_without_references(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 4)
    v1 = add_dataset(folder, "docs")
    (folder / "part0" / "f00000.txt").write_text("second version")
    add_dataset(folder, "docs")
    # a database whose references were lost
    current().metadata.write(lambda conn: conn.execute("DELETE FROM object_refs"))
    (project / "loopml.lock").unlink()
    stray = current().artifacts.put_bytes(b"nobody's").digest

    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert [d for d, _ in report.removed] == [stray]
    assert {v1.manifest_digest, *(e.digest for e in v1.files())} <= object_files(project)
    checkout("docs@1", to=project / "old")
    assert (project / "old" / "part0" / "f00000.txt").read_text().startswith("f-0")


def test_gc_with_a_broken_lock_removes_nothing(project: Path) -> None:
    add_dataset(make_folder(project / "data" / "docs", 2), "docs")
    current().artifacts.put_bytes(b"stray")
    before = object_files(project)
    (project / "loopml.lock").write_text("not toml [[[")
    with pytest.raises(InvalidInput, match="loopml.lock"):
        loopml.gc(dry_run=False, grace_seconds=0)
    assert object_files(project) == before
