"""Changes the stat cache must not miss, files that change while they are added, and the
links a data folder may hold."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from datahelp import make_folder

from loopml.cli import main
from loopml.context import current
from loopml.data import _datasets, _walk, add_dataset, status
from loopml.errors import Conflict, InvalidInput
from loopml.store.statcache import open_stat_cache


def _rewrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    """What ``cp -p`` or an edit followed by ``touch -r`` does: new bytes, old size and
    modification time, same inode."""
    st = path.stat()
    assert len(data) == st.st_size
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_ino == st.st_ino


def test_a_rewrite_with_the_same_size_and_mtime_is_seen_by_status_and_add(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 4)
    v1 = add_dataset(folder, "docs")
    target = folder / "part1" / "f00001.txt"
    old = target.read_bytes()
    _rewrite_keeping_size_and_mtime(target, old.upper())
    assert status()[0].modified == ["part1/f00001.txt"]
    v2 = add_dataset(folder, "docs")
    assert v2.is_new and v2.version == 2
    stored = {e.path: e.digest for e in v2.files()}["part1/f00001.txt"]
    assert current().artifacts.get_bytes(stored) == old.upper()
    assert v1.manifest_digest != v2.manifest_digest


def test_a_file_rewritten_with_cp_p_is_seen_as_modified(project: Path, tmp_path: Path) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    add_dataset(folder, "docs")
    target = folder / "part0" / "f00000.txt"
    other = tmp_path / "other.txt"
    other.write_bytes(target.read_bytes().upper())
    os.utime(other, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns))
    subprocess.run(["cp", "-p", str(other), str(target)], check=True)
    assert status()[0].modified == ["part0/f00000.txt"]


def test_a_stat_cache_of_the_old_layout_is_rebuilt(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 3)
    add_dataset(folder, "docs")
    cache = project / ".loopml" / "cache" / "stat.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(cache)
    conn.execute(
        "CREATE TABLE stat (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID"
    )
    target = folder / "part0" / "f00000.txt"
    st = target.stat()
    # a row of the old layout vouching for a hash the file does not have
    conn.execute(
        "INSERT INTO stat VALUES (?, ?, ?, ?, ?)",
        (str(target), st.st_size, st.st_mtime_ns, st.st_ino, "0" * 64),
    )
    conn.commit()
    conn.close()
    (s,) = status()
    assert s.state == "unchanged"
    with open_stat_cache(project / ".loopml") as stat_cache:  # rebuilt, then filled again
        assert len(stat_cache.known(_walk.walk(folder)[1])) == 3


def _changing_profile(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> list[int]:
    """Append a row to ``path`` right after it is profiled, ``times`` times."""
    real = _datasets.profile_files
    calls = [0]

    def profile_then_change(files, limit=50):  # type: ignore[no-untyped-def]
        result = real(files)
        calls[0] += 1
        if calls[0] <= times:
            with path.open("a") as fh:
                fh.write("9.9,9.9,9.9,9.9,2\n")
        return result

    monkeypatch.setattr(_datasets, "profile_files", profile_then_change)
    return calls


def test_a_file_changed_once_while_it_is_added_is_read_again(
    project: Path, iris_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _changing_profile(monkeypatch, iris_csv, times=1)
    v = add_dataset(iris_csv, "iris")
    assert calls[0] == 2
    rows = current().artifacts.get_bytes(v.files()[0].digest).decode().strip().splitlines()
    assert v.profile is not None and v.profile.tables[0].n_rows == len(rows) - 1 == 151


def test_a_file_that_keeps_changing_while_it_is_added_fails_naming_it(
    project: Path, iris_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _changing_profile(monkeypatch, iris_csv, times=100)
    with pytest.raises(Conflict, match=r"data/iris\.csv changed while it was being added"):
        add_dataset(iris_csv, "iris")
    assert not (project / "loopml.lock").exists()
    with current().metadata.read() as conn:
        assert conn.scalar("SELECT count(*) FROM dataset_versions") == 0


def test_a_file_changed_while_its_bytes_are_stored_is_detected(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(project / "data" / "docs", 3)
    store = current().artifacts
    real = type(store).put_file
    target = folder / "part1" / "f00001.txt"

    def put_then_change(self, path, digest=None, progress=None):  # type: ignore[no-untyped-def]
        info = real(self, path, digest=digest, progress=progress)
        if Path(path) == target:
            with target.open("ab") as fh:
                fh.write(b"more")
        return info

    monkeypatch.setattr(type(store), "put_file", put_then_change)
    with pytest.raises(Conflict, match="part1/f00001.txt"):
        add_dataset(folder, "docs")


# -- links ------------------------------------------------------------------------------------


def test_a_symlink_loop_in_a_data_folder_is_a_one_line_error(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    (folder / "part0" / "loop").symlink_to("loop")
    with pytest.raises(InvalidInput, match=r"part0/loop.*loop"):
        add_dataset(folder, "docs")
    (project / "data" / "self").symlink_to("self")
    with pytest.raises(InvalidInput, match="self"):
        add_dataset(project / "data" / "self", "self")


def test_a_symlink_loop_in_a_working_copy_does_not_break_status(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    add_dataset(folder, "docs")
    (folder / "part0" / "loop").symlink_to("loop")
    (s,) = status()  # like any entry that is not a file, a broken link is not data
    assert s.state == "unchanged"


def test_a_link_to_nothing_is_refused_by_add(project: Path) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    (folder / "gone.txt").symlink_to(project / "nowhere.txt")
    with pytest.raises(InvalidInput, match=r"gone\.txt.*link"):
        add_dataset(folder, "docs")


def test_the_cli_reports_a_symlink_loop_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    (folder / "loop").symlink_to("loop")
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "add", str(folder), "--name", "docs"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "loop" in err and "Traceback" not in err


def test_a_linked_sub_folder_is_refused_with_a_note_not_skipped(
    project: Path, tmp_path: Path
) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    other = make_folder(tmp_path / "other", 2)
    (folder / "linked").symlink_to(other, target_is_directory=True)
    with pytest.raises(InvalidInput, match=r"linked.*link to a folder"):
        add_dataset(folder, "docs")


def test_links_to_files_are_still_followed(project: Path, tmp_path: Path) -> None:
    folder = make_folder(project / "data" / "docs", 2)
    (tmp_path / "real.txt").write_text("linked bytes")
    (folder / "link.txt").symlink_to(tmp_path / "real.txt")
    v = add_dataset(folder, "docs")
    entry = {e.path: e for e in v.files()}["link.txt"]
    assert current().artifacts.get_bytes(entry.digest) == b"linked bytes"
