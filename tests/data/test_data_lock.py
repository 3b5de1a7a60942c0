"""loopml.lock: written on add, read back exactly, refused when broken."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loopml.data import LockEntry, add_dataset, read_lock
from loopml.data._lock import pin, update_lock
from loopml.errors import InvalidInput

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_lock_round_trip(project: Path) -> None:
    lock = project / "loopml.lock"
    a = LockEntry("iris", 3, "data/iris.csv", "file", "a" * 64)
    b = LockEntry("imgs", 1, "data/imgs", "folder", "b" * 64)
    pin(lock, a)
    pin(lock, b)
    assert read_lock(lock) == {"iris": a, "imgs": b}
    text = lock.read_text()
    assert text.startswith("# loopml.lock")
    assert tomllib.loads(text)["datasets"]["iris"] == {
        "version": 3,
        "path": "data/iris.csv",
        "kind": "file",
        "manifest": "a" * 64,
    }
    assert list(project.glob(".loopml.lock.*")) == []  # no temp file left behind


def test_add_pins_the_version_in_the_lock(project: Path, iris_csv: Path) -> None:
    v1 = add_dataset(iris_csv, "iris")
    assert read_lock(project / "loopml.lock")["iris"] == LockEntry(
        "iris", 1, "data/iris.csv", "file", v1.manifest_digest
    )
    with iris_csv.open("a") as fh:
        fh.write("5.0,3.0,1.0,0.2,0\n")
    v2 = add_dataset(iris_csv, "iris")
    assert read_lock(project / "loopml.lock")["iris"].version == 2
    assert read_lock(project / "loopml.lock")["iris"].manifest == v2.manifest_digest


def test_unchanged_lock_is_not_rewritten(project: Path) -> None:
    lock = project / "loopml.lock"
    pin(lock, LockEntry("x", 1, "x", "file", "c" * 64))
    stamp = lock.stat().st_mtime_ns
    update_lock(lock, lambda entries: None)
    assert lock.stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "text",
    [
        "not toml [[[",
        'format = 1\n[datasets.x]\nversion = 1\npath = "x"\n',
        'format = 1\n[datasets.x]\nversion = 1\npath = "x"\nmanifest = "short"\n',
        "format = 99\n",
    ],
)
def test_broken_lock_is_invalid_input_with_a_fix(project: Path, text: str) -> None:
    lock = project / "loopml.lock"
    lock.write_text(text)
    with pytest.raises(InvalidInput, match="not a valid loopml lock file.*git checkout"):
        read_lock(lock)
