"""Path-addressed files of the artifact store (the prediction log's home): atomic writes,
listings without temporaries, and no way out of the store or into objects/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.errors import CorruptObject, InvalidInput, NotFound
from loopml.store.artifacts import (
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    check_relative_path,
)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield LocalArtifactStore(tmp_path / "store")
    else:
        yield FsspecArtifactStore(f"memory://paths-{os.getpid()}-{time.time_ns()}")


def test_write_list_read_and_remove_a_tree(store: ArtifactStore) -> None:
    store.write_path("predictions/deployment=a/hour=2026113017/w-1.parquet", b"one")
    store.write_path("predictions/deployment=a/hour=2026113018/w-2.parquet", b"two")
    store.write_path("predictions/deployment=b/hour=2026113017/w-1.parquet", b"three")
    store.write_path("predictions/deployment=a/hour=2026113017/w-1.parquet", b"one again")
    assert store.list_paths("predictions/deployment=a") == [
        "predictions/deployment=a/hour=2026113017/w-1.parquet",
        "predictions/deployment=a/hour=2026113018/w-2.parquet",
    ]
    assert store.read_path("predictions/deployment=a/hour=2026113017/w-1.parquet") == b"one again"
    assert store.remove_tree("predictions/deployment=a/hour=2026113017") is True
    assert store.remove_tree("predictions/deployment=a/hour=2026113017") is False
    assert store.list_paths("predictions") == [
        "predictions/deployment=a/hour=2026113018/w-2.parquet",
        "predictions/deployment=b/hour=2026113017/w-1.parquet",
    ]
    assert store.list_paths("nothing/here") == []
    with pytest.raises(NotFound, match="no file"):
        store.read_path("predictions/deployment=a/hour=2026113017/w-1.parquet")
    assert list(store.iter_objects()) == []  # none of it is a content-addressed object


def test_temporary_files_of_writes_in_progress_are_not_listed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    store.write_path("predictions/x/f.parquet", b"whole")
    folder = tmp_path / "store" / "predictions" / "x"
    (folder / ".f2.parquet.0123456789ab.tmp").write_bytes(b"half")
    assert store.list_paths("predictions") == ["predictions/x/f.parquet"]
    assert [p.name for p in folder.iterdir()] != []
    assert not [p for p in folder.iterdir() if p.name.startswith(".f.parquet")]  # renamed


def test_a_link_planted_in_the_tree_is_neither_listed_nor_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.parquet").write_bytes(b"secret")
    store = LocalArtifactStore(tmp_path / "store")
    store.write_path("predictions/x/f.parquet", b"ok")
    (tmp_path / "store" / "predictions" / "link").symlink_to(outside)
    (tmp_path / "store" / "predictions" / "x" / "l.parquet").symlink_to(outside / "secret.parquet")
    with pytest.warns(UserWarning, match="is a link") as caught:
        assert store.list_paths("predictions") == ["predictions/x/f.parquet"]
    assert sorted(str(w.message).split("'")[1] for w in caught) == [
        "predictions/link",
        "predictions/x/l.parquet",
    ]
    with pytest.raises(CorruptObject, match="'predictions/x/l.parquet' is a link"):
        store.read_path("predictions/x/l.parquet")
    with pytest.warns(UserWarning, match="skipped 'predictions/link'"):
        assert store.remove_tree("predictions/link") is False
    with pytest.raises(CorruptObject, match="'predictions/link' is a link.*Remove the link"):
        store.write_path("predictions/link/new.parquet", b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.parquet"]
    assert (outside / "secret.parquet").exists()


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/abs/path",
        "../escape",
        "predictions/../../escape",
        "predictions/./x",
        "predictions//x",
        "predictions\\x",
        "predictions/x\x00",
        "objects/ab/cd",
        "tmp/x",
        "verified.db",
        3,
    ],
)
def test_a_path_out_of_the_store_or_into_its_objects_is_refused(
    store: ArtifactStore, path: object
) -> None:
    for call in (
        lambda: store.write_path(path, b"x"),  # type: ignore[arg-type]
        lambda: store.list_paths(path),  # type: ignore[arg-type]
        lambda: store.read_path(path),  # type: ignore[arg-type]
        lambda: store.remove_tree(path),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInput, match="invalid store path"):
            call()
    with pytest.raises(InvalidInput):
        check_relative_path(path)  # type: ignore[arg-type]
