"""A metadata database that is empty, truncated, not SQLite or damaged is refused with one
line that names the file and what to do; it is never replaced by an empty database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopml
import loopml.context
from loopml.errors import StoreError


def _db(project: Path) -> Path:
    return project / ".loopml" / "loopml.db"


@pytest.fixture
def used(project: Path) -> bytes:
    """The project's database after some use, checkpointed, closed: its bytes."""
    for i in range(30):
        with loopml.start_run(f"run-{i}") as run:
            run.log_params({f"p{j}": j for j in range(20)})
    (project / "a.txt").write_text("a")
    loopml.add_dataset(project / "a.txt", "a")
    loopml.context.reset()
    for suffix in ("-wal", "-shm"):
        Path(f"{_db(project)}{suffix}").unlink(missing_ok=True)
    return _db(project).read_bytes()


def _refused(project: Path, *fragments: str) -> StoreError:
    loopml.context.reset()
    with pytest.raises(StoreError) as info:
        loopml.search_runs()
    message = str(info.value)
    assert str(_db(project)) in message and "\n" not in message
    assert "restore it from a backup" in message and "move it aside" in message
    for fragment in fragments:
        assert fragment in message
    return info.value


def test_an_empty_database_file_is_refused_not_replaced(project: Path, used: bytes) -> None:
    _db(project).write_bytes(b"")
    _refused(project, "is empty (0 bytes)")
    assert _db(project).stat().st_size == 0  # left as it was: nothing silently made anew


def test_a_file_that_is_not_sqlite_is_refused(project: Path, used: bytes) -> None:
    _db(project).write_bytes(b"these are not the tables you are looking for\n" * 10)
    _refused(project, "is not a SQLite database")


@pytest.mark.parametrize("keep", [100, 4096, 16384])
def test_a_truncated_database_is_refused_not_migrated_afresh(
    project: Path, used: bytes, keep: int
) -> None:
    _db(project).write_bytes(used[:keep])
    error = _refused(project)
    assert "truncated" in str(error) or "damaged" in str(error)
    assert _db(project).read_bytes() == used[:keep]


def test_damaged_pages_are_a_store_error_when_they_are_read(project: Path, used: bytes) -> None:
    page = int.from_bytes(used[16:18], "big")
    damaged = used[:page] + os.urandom(len(used) - page)  # the header page intact
    _db(project).write_bytes(damaged)
    _refused(project, "is damaged")


def test_the_cli_says_it_in_one_line(project: Path, used: bytes) -> None:
    _db(project).write_bytes(b"")
    out = subprocess.run(
        [sys.executable, "-c", "from loopml.cli import main; main()", "runs", "list"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "0 bytes" in out.stderr and "loopml.db" in out.stderr


def test_a_new_database_is_made_in_one_step(project: Path) -> None:
    loopml.search_runs()
    assert not _db(project).exists()  # a read leaves nothing behind
    loopml.start_run(experiment="e").end()
    folder = _db(project).parent
    assert _db(project).stat().st_size > 0
    assert not [p for p in folder.iterdir() if p.name.endswith(".new")]


def test_a_short_file_whose_wal_may_hold_the_rest_is_left_to_sqlite(
    project: Path, used: bytes
) -> None:
    """A process killed in the middle of a checkpoint leaves the header ahead of the file
    while the WAL still holds the pages: SQLite recovers that, so it is not refused."""
    from loopml.store.metadata import _check_sqlite_file

    _db(project).write_bytes(used[:8192])
    with pytest.raises(StoreError, match="truncated"):
        _check_sqlite_file(str(_db(project)))
    Path(f"{_db(project)}-wal").write_bytes(b"\0" * 4096)
    _check_sqlite_file(str(_db(project)))  # no error
