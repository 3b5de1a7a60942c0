from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from loopml.errors import CorruptObject, InvalidInput, MissingExtra, NotFound
from loopml.store.artifacts import (
    FsspecArtifactStore,
    LocalArtifactStore,
    hash_file,
    open_artifact_store,
)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "objects-root")
    import fsspec

    fsspec.filesystem("memory").store.clear()
    return FsspecArtifactStore(f"memory://bucket-{os.getpid()}/root")


def test_bytes_are_stored_once_under_their_blake3_hash(store) -> None:  # type: ignore[no-untyped-def]
    first = store.put_bytes(b"hello")
    second = store.put_bytes(b"hello")
    assert first.digest == blake3.blake3(b"hello").hexdigest()
    assert first.created and not second.created
    assert store.get_bytes(first.digest) == b"hello"
    assert [d for d, _, _ in store.iter_objects()] == [first.digest]


def test_file_round_trip_with_multi_chunk_content(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "big.bin"
    payload = os.urandom(20 << 20) + b"tail"
    src.write_bytes(payload)
    info = store.put_file(src)
    assert info.size == len(payload)
    assert info.digest == blake3.blake3(payload).hexdigest() == hash_file(src)[0]
    dest = tmp_path / "out" / "copy.bin"
    store.get_file(info.digest, dest)
    assert dest.read_bytes() == payload


def test_known_digest_of_a_stored_object_skips_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.store import artifacts

    store = LocalArtifactStore(tmp_path / "s")
    src = tmp_path / "f"
    src.write_bytes(b"abc")
    digest = store.put_file(src).digest

    def no_reading(*args: object) -> None:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(artifacts, "_hash_and_copy", no_reading)
    again = store.put_file(src, digest=digest)
    assert again.digest == digest and not again.created


def test_tampered_object_is_refused(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"original content").digest
    path = store.path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"original c0ntent")
    with pytest.raises(CorruptObject, match=digest):
        store.get_bytes(digest)
    with pytest.raises(CorruptObject):
        store.get_file(digest, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not store.verify(digest)


def test_truncated_object_is_refused(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"x" * 1000).digest
    path = store.path(digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.truncate(10)
    with pytest.raises(CorruptObject, match="10 bytes"):
        store.get_bytes(digest)


def test_missing_object_and_bad_digest_are_clear_errors(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="not in the artifact store"):
        store.get_bytes("0" * 64)
    with pytest.raises(InvalidInput, match="64 lowercase hexadecimal"):
        store.get_bytes("../../etc/passwd")


def test_stored_objects_are_read_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"data").digest
    assert store.path(digest).stat().st_mode & 0o222 == 0


def test_unknown_remote_protocol_names_the_extra() -> None:
    with pytest.raises(MissingExtra, match=r"loopml\[gcs\]"):
        open_artifact_store("gs://bucket/prefix")


def test_stale_object_is_deleted_but_a_just_reused_one_is_kept(tmp_path: Path) -> None:
    import time

    store = LocalArtifactStore(tmp_path / "s")
    old = store.put_bytes(b"old").digest
    reused = store.put_bytes(b"reused").digest
    past = time.time() - 7200
    for d in (old, reused):
        os.utime(store.path(d), (past, past))
    store.put_bytes(b"reused")  # a writer re-uses it: mtime refreshed
    cutoff = time.time() - 3600
    assert store.delete_if_stale(old, cutoff)
    assert not store.delete_if_stale(reused, cutoff)
    assert not store.exists(old) and store.exists(reused)


def test_a_filesystem_that_clones_files_stores_without_copying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.store import artifacts

    def clone(fin, fout) -> bool:  # type: ignore[no-untyped-def]
        fout.write(fin.read())  # what FICLONE does, in effect, on btrfs or XFS
        return True

    def no_copy(*args: object) -> None:
        raise AssertionError("bytes were copied although the filesystem can clone")

    monkeypatch.setattr(artifacts, "_reflink", clone)
    monkeypatch.setattr(artifacts, "_hash_and_copy", no_copy)
    store = LocalArtifactStore(tmp_path / "s")
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 3_000_000)
    info = store.put_file(src)
    assert info.digest == blake3.blake3(b"x" * 3_000_000).hexdigest()
    assert store.get_bytes(info.digest) == src.read_bytes()


def test_a_folder_or_file_url_opens_a_local_store_and_a_registered_backend_wins(
    tmp_path: Path,
) -> None:
    assert isinstance(open_artifact_store(str(tmp_path / "a")), LocalArtifactStore)
    assert isinstance(open_artifact_store(f"file://{tmp_path / 'b'}"), LocalArtifactStore)
    assert isinstance(open_artifact_store("memory://bucket/x"), FsspecArtifactStore)
    mine = LocalArtifactStore(tmp_path / "mine")
    assert open_artifact_store("gs://bucket/prefix", {"gs": lambda url: mine}) is mine


def test_check_tells_an_intact_object_from_a_missing_or_corrupt_one(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"original content").digest
    assert store.check(digest) is None
    assert store.local_file(digest) == store.path(digest)
    assert store.check("0" * 64) == "missing"
    path = store.path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"original c0ntent")
    assert store.check(digest) == "corrupt"


def test_a_remote_store_has_no_local_file(store) -> None:  # type: ignore[no-untyped-def]
    digest = store.put_bytes(b"x").digest
    assert store.check(digest) is None
    if isinstance(store, FsspecArtifactStore):
        assert store.local_file(digest) is None
    else:
        assert store.local_file(digest) == store.path(digest)
