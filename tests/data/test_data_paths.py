"""Paths read from loopml.lock and from manifests are untrusted: nothing is written or
removed outside the dataset's own folder, and nothing at all when a path is unsafe."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
import tomli_w
from datahelp import make_folder

from loopml.cli import main
from loopml.context import current
from loopml.data import add_dataset, checkout, pull, push, read_lock, status
from loopml.data._manifest import Manifest, load_manifest
from loopml.errors import CorruptObject, InvalidInput


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".loopml" not in p.relative_to(folder).parts
    }


def _write_lock(project: Path, datasets: dict[str, dict[str, object]]) -> None:
    (project / "loopml.lock").write_text(tomli_w.dumps({"format": 1, "datasets": datasets}))


def _entry(path: str, manifest: str, kind: str = "folder", version: int = 1) -> dict[str, object]:
    return {"version": version, "path": path, "kind": kind, "manifest": manifest}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder beside the project that no checkout may touch."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("do not delete")
    (folder / "sub").mkdir()
    (folder / "sub" / "more.txt").write_text("nor this")
    return folder


@pytest.fixture
def docs(project: Path) -> str:
    """The manifest digest of a small folder dataset, added at data/docs."""
    return add_dataset(make_folder(project / "data" / "docs", 6), "docs").manifest_digest


# -- loopml.lock ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../victim", "data/../../victim", "./../victim"])
def test_a_lock_path_with_dot_dot_is_refused_and_deletes_nothing_outside(
    project: Path, victim: Path, docs: str, path: str
) -> None:
    before = _tree(victim)
    _write_lock(project, {"docs": _entry(path, docs)})
    with pytest.raises(InvalidInput, match=r"loopml\.lock.*docs.*\.\."):
        checkout()
    assert _tree(victim) == before


@pytest.mark.parametrize("path", [".", "", "./", "data/.."])
def test_a_lock_path_naming_the_project_root_is_refused_and_deletes_nothing(
    project: Path, docs: str, path: str
) -> None:
    (project / "train.py").write_text("print('my code')\n")
    _write_lock(project, {"docs": _entry(path, docs)})
    before = _tree(project)
    with pytest.raises(InvalidInput, match="loopml.lock"):
        checkout()
    assert _tree(project) == before
    assert (project / "loopml.toml").exists() and (project / "train.py").exists()


def test_an_absolute_lock_path_is_refused_and_deletes_nothing(
    project: Path, victim: Path, docs: str
) -> None:
    before = _tree(victim)
    _write_lock(project, {"docs": _entry(str(victim), docs)})
    with pytest.raises(InvalidInput, match="absolute"):
        checkout()
    with pytest.raises(InvalidInput, match="absolute"):
        status()
    assert _tree(victim) == before


@pytest.mark.parametrize(
    "path", [".git", ".loopml/cache", "data/.git", "loopml.toml", "loopml.lock"]
)
def test_a_lock_path_into_version_control_or_loopml_files_is_refused(
    project: Path, docs: str, path: str
) -> None:
    _write_lock(project, {"docs": _entry(path, docs)})
    with pytest.raises(InvalidInput, match="loopml.lock"):
        read_lock()


def test_duplicate_dataset_paths_in_the_lock_are_refused(project: Path, docs: str) -> None:
    _write_lock(project, {"a": _entry("data/docs", docs), "b": _entry("data/docs", docs)})
    with pytest.raises(InvalidInput, match=r"'a'.*'b'.*data/docs"):
        checkout()


def test_overlapping_dataset_paths_in_the_lock_are_refused(project: Path, docs: str) -> None:
    before = _tree(project)
    _write_lock(project, {"all": _entry("data", docs), "docs": _entry("data/docs", docs)})
    with pytest.raises(InvalidInput, match="overlap"):
        checkout()
    with pytest.raises(InvalidInput, match="overlap"):
        status()
    assert {k: v for k, v in _tree(project).items() if k != "loopml.lock"} == {
        k: v for k, v in before.items() if k != "loopml.lock"
    }


def test_adding_a_path_that_overlaps_another_datasets_pin_is_refused_before_storing(
    project: Path, docs: str
) -> None:
    lock_before = (project / "loopml.lock").read_bytes()
    with pytest.raises(InvalidInput, match=r"overlap.*'docs'"):
        add_dataset(project / "data", "everything")
    with pytest.raises(InvalidInput, match=r"overlap.*'docs'"):
        add_dataset(project / "data" / "docs" / "part0", "part")
    assert (project / "loopml.lock").read_bytes() == lock_before
    # the dataset's own path may be added again, under its own name
    (project / "data" / "docs" / "new.txt").write_text("new")
    assert add_dataset(project / "data" / "docs", "docs").version == 2


def test_adding_a_pinned_path_under_another_name_moves_the_pin(project: Path, docs: str) -> None:
    (project / "data" / "docs" / "new.txt").write_text("new")
    renamed = add_dataset(project / "data" / "docs", "documents")
    lock = read_lock()
    assert list(lock) == ["documents"]  # one dataset per path: the folder now holds this one
    assert lock["documents"].path == "data/docs" and lock["documents"].version == renamed.version
    (s,) = status()
    assert s.state == "unchanged"


def test_a_locked_folder_linked_outside_the_project_is_not_checked_out(
    project: Path, victim: Path, docs: str
) -> None:
    before = _tree(victim)
    target = project / "data" / "docs"
    for p in sorted(target.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    target.rmdir()
    target.symlink_to(victim, target_is_directory=True)
    with pytest.raises(InvalidInput, match="outside the project"):
        checkout()
    assert _tree(victim) == before


def test_a_linked_sub_folder_outside_the_dataset_is_not_written_through(
    project: Path, victim: Path, docs: str
) -> None:
    folder = project / "data" / "docs"
    for p in sorted((folder / "part1").rglob("*"), reverse=True):
        p.unlink()
    (folder / "part1").rmdir()
    (folder / "part1").symlink_to(victim, target_is_directory=True)
    before = _tree(victim)
    with pytest.raises(InvalidInput, match="part1"):
        checkout()
    assert _tree(victim) == before


def test_checkout_to_the_project_root_or_above_is_refused(project: Path, docs: str) -> None:
    before = _tree(project)
    for to in (project, project.parent, "."):
        with pytest.raises(InvalidInput, match="project"):
            checkout("docs@1", to=to)
    assert _tree(project) == before


def test_checkout_of_a_version_added_outside_the_project_needs_to(
    project: Path, tmp_path: Path
) -> None:
    outside = make_folder(tmp_path / "elsewhere", 3)
    v = add_dataset(outside, "outside")
    assert v.source_path == outside.as_posix()
    assert "outside" not in read_lock()  # the lock only pins working copies in the project
    (outside / "part0" / "f00000.txt").write_text("edited outside")
    with pytest.raises(InvalidInput, match="--to"):
        checkout("outside@1")
    assert (outside / "part0" / "f00000.txt").read_text() == "edited outside"
    (r,) = checkout("outside@1", to=project / "copy")
    assert r.restored and (project / "copy" / "part0" / "f00000.txt").exists()


def test_the_cli_reports_an_unsafe_lock_in_one_line(
    project: Path, victim: Path, docs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_lock(project, {"docs": _entry("../victim", docs)})
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "checkout"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "../victim" in err and "Traceback" not in err
    assert (victim / "precious.txt").exists()


# -- manifests -----------------------------------------------------------------------------


def _forged(files: list[list[object]], kind: str = "folder") -> str:
    """Store a manifest with the given entries, bypassing every check; returns its hash."""
    store = current().artifacts
    real = [[p, store.put_bytes(str(p).encode()).digest, len(str(p).encode())] for p, *_ in files]
    doc = {"format": 1, "kind": kind, "files": real}
    return store.put_bytes(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).digest


@pytest.mark.parametrize(
    "bad",
    [
        "../escaped.txt",
        "../../escaped.txt",
        "a/../../escaped.txt",
        "/tmp/escaped.txt",
        "",
        "a//b.txt",
        "a/",
        "./a.txt",
        "a/./b.txt",
        "..",
        ".git/hooks/post-checkout",
        "nul\x00byte",
    ],
)
def test_a_manifest_entry_that_is_not_a_clean_relative_path_is_refused(
    project: Path, tmp_path: Path, bad: str
) -> None:
    digest = _forged([["ok.txt"], [bad]])
    _write_lock(project, {"x": _entry("data/x", digest)})
    before = _tree(tmp_path)
    with pytest.raises(CorruptObject, match="not a clean relative path"):
        checkout()
    assert _tree(tmp_path) == before
    assert not (tmp_path / "escaped.txt").exists() and not (project / "escaped.txt").exists()


def test_a_manifest_with_duplicate_or_overlapping_entries_is_refused(project: Path) -> None:
    for files in ([["a.txt"], ["a.txt"]], [["a"], ["a/b.txt"]]):
        digest = _forged(files)
        _write_lock(project, {"x": _entry("data/x", digest)})
        with pytest.raises(CorruptObject, match="more than once|both a file and a folder"):
            checkout()
        assert not (project / "data" / "x").exists()


def test_a_single_file_manifest_names_exactly_one_file(project: Path) -> None:
    for files in ([["sub/a.txt"]], [["a.txt"], ["b.txt"]], []):
        digest = _forged(files, kind="file")
        with pytest.raises(CorruptObject, match="single file"):
            load_manifest(digest)


def test_manifests_that_loopml_writes_still_load(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 5)
    (folder / ".hidden").write_text("dot files are fine")
    (folder / "a..b.txt").write_text("so are double dots inside a name")
    v = add_dataset(folder, "docs")
    m = load_manifest(v.manifest_digest)
    assert Manifest.from_bytes(m.to_bytes()) == m
    assert {".hidden", "a..b.txt"} <= {e.path for e in m.entries}


# -- temporary files of killed transfers ------------------------------------------------------


_LEFTOVERS = (
    ".f00000.txt.0123abcd.checkout",
    ".f00000.txt.0123abcd.part",
    "..f00000.txt.0123abcd.checkout.89abcdef.part",
)


def test_leftovers_of_a_killed_checkout_are_never_versioned_and_are_cleaned(
    project: Path,
) -> None:
    folder = make_folder(project / "data" / "docs", 4)
    v1 = add_dataset(folder, "docs")
    for name in _LEFTOVERS:
        (folder / "part0" / name).write_bytes(b"half a file")
    v2 = add_dataset(folder, "docs")
    assert v2.version == 1 and not v2.is_new and v2.manifest_digest == v1.manifest_digest
    (s,) = status()
    assert s.state == "unchanged" and s.added == []
    checkout()
    assert sorted(p.name for p in (folder / "part0").iterdir()) == ["f00000.txt"]


def test_leftovers_of_a_killed_pull_are_cleaned_by_the_next_pull(
    project: Path, tmp_path: Path
) -> None:
    make_folder(project / "data" / "docs", 4)
    add_dataset(project / "data" / "docs", "docs")
    remote = tmp_path / "remote"
    push(str(remote))
    staging = project / ".loopml" / "cache" / "tmp"
    killed = staging / "pull-0123456789abcdef0123456789abcdef"
    killed.mkdir(parents=True)
    (killed / ("a" * 64)).write_bytes(b"half an object")
    pull(str(remote))
    assert not killed.exists()


def test_leftovers_of_a_killed_push_on_the_remote_are_cleaned_by_the_next_push(
    project: Path, tmp_path: Path
) -> None:
    make_folder(project / "data" / "docs", 4)
    add_dataset(project / "data" / "docs", "docs")
    remote = tmp_path / "remote"
    push(str(remote))
    old = [remote / "packs" / f".{'1' * 32}.part", remote / "tmp" / f"{'2' * 32}.part"]
    young = remote / "packs" / f".{'3' * 32}.part"
    for p in [*old, young]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half an upload")
    for p in old:
        os.utime(p, (1_000_000_000, 1_000_000_000))
    push(str(remote))
    assert not any(p.exists() for p in old)
    assert young.exists()  # possibly another push in progress: kept for the grace period
