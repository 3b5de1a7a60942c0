"""A write that finds its object stored makes sure it is sound, and replaces it when not;
objects reach the disk before the write returns (or its batch ends); large files are
copied in the kernel and the copy is what is hashed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import blake3
import pytest

from loopml.errors import CorruptObject, InvalidInput, StoreError
from loopml.store import artifacts
from loopml.store.artifacts import FsspecArtifactStore, LocalArtifactStore


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "objects-root")
    import fsspec

    fsspec.filesystem("memory").store.clear()
    return FsspecArtifactStore(f"memory://bucket-{os.getpid()}/root")


def _damage(store, digest: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    """Replace the stored bytes of ``digest`` with ``data``, as a disk or a person might."""
    if isinstance(store, LocalArtifactStore):
        path = store.path(digest)
        os.chmod(path, 0o644)
        with open(path, "r+b") as fh:  # in place: the same inode
            fh.truncate(0)
            fh.write(data)
    else:
        store.fs.pipe_file(store.path(digest), data)


PAYLOADS = {"small": b"the same bytes, again" * 10, "large": os.urandom(300_000)}


@pytest.mark.parametrize("size", sorted(PAYLOADS))
def test_writing_bytes_over_a_truncated_object_replaces_it(store, size: str) -> None:  # type: ignore[no-untyped-def]
    data = PAYLOADS[size]
    digest = store.put_bytes(data).digest
    _damage(store, digest, data[:10])
    with pytest.raises(CorruptObject):
        store.get_bytes(digest)
    again = store.put_bytes(data)
    assert again.digest == digest and again.created
    assert store.get_bytes(digest) == data


@pytest.mark.parametrize("size", sorted(PAYLOADS))
def test_writing_a_file_over_an_altered_object_of_the_same_size_replaces_it(
    store, tmp_path: Path, size: str
) -> None:  # type: ignore[no-untyped-def]
    data = PAYLOADS[size]
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    digest = store.put_file(src).digest
    _damage(store, digest, bytes(len(data)))  # same size, other bytes
    again = store.put_file(src, digest=digest)  # the digest a stat cache would know
    assert again.digest == digest
    assert store.get_bytes(digest) == data
    assert store.check(digest) is None


def test_a_missing_object_with_a_known_digest_is_written_anew(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src.bin"
    src.write_bytes(b"gone and back")
    digest = store.put_file(src).digest
    store.delete(digest)
    assert store.put_file(src, digest=digest).created
    assert store.get_bytes(digest) == b"gone and back"


def test_an_unchanged_large_object_is_reused_without_hashing_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(500_000))
    digest = store.put_file(src).digest
    real = artifacts._hash_stored
    hashed: list[str] = []

    def spy(path, progress=None):  # type: ignore[no-untyped-def]
        hashed.append(str(path))
        return real(path, progress)

    monkeypatch.setattr(artifacts, "_hash_stored", spy)
    for _ in range(3):  # the record follows each refresh of the object's mtime
        assert not store.put_file(src, digest=digest).created
    assert hashed == []  # vouched for by its stat in verified.db

    path = store.path(digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:  # altered in place: its stat changes
        fh.write(b"\0" * 16)
    assert not store.verify(digest)
    store.put_file(src, digest=digest)
    assert hashed  # no longer vouched for: hashed, found corrupt, replaced
    assert store.verify(digest)


def test_a_small_object_is_hashed_again_whenever_it_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"tiny").digest
    real = artifacts._hash_stored
    hashed: list[str] = []

    def spy(path, progress=None):  # type: ignore[no-untyped-def]
        hashed.append(str(path))
        return real(path, progress)

    monkeypatch.setattr(artifacts, "_hash_stored", spy)
    store.put_bytes(b"tiny")
    assert hashed == [str(store.path(digest))]


def test_a_damaged_verified_record_is_started_afresh(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(200_000))
    digest = store.put_file(src).digest
    (tmp_path / "s" / "verified.db").write_bytes(b"not a database at all" * 100)
    fresh = LocalArtifactStore(tmp_path / "s")
    assert not fresh.put_file(src, digest=digest).created
    assert fresh.verify(digest)


# -- durability -----------------------------------------------------------------------


class _Syncs:
    """Which files and folders were flushed to the disk, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        monkeypatch.setattr(artifacts, "_sync_file", lambda p: self.events.append(("file", p)))
        monkeypatch.setattr(artifacts, "_sync_folder", lambda p: self.events.append(("folder", p)))

    def files(self) -> list[str]:
        return [p for kind, p in self.events if kind == "file"]

    def folders(self) -> list[str]:
        return [p for kind, p in self.events if kind == "folder"]


def test_an_object_and_its_folders_are_flushed_before_the_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _Syncs(monkeypatch)
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"durable").digest
    final = store.path(digest)
    assert syncs.files() == [str(final)]
    # its folder objects/xx, and the folders that were made for it
    assert str(final.parent) in syncs.folders()
    assert str(final.parent.parent) in syncs.folders()  # objects/, which gained xx
    assert str(tmp_path / "s") in syncs.folders()  # the store root, which gained objects/


def test_a_batch_flushes_its_objects_together_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _Syncs(monkeypatch)
    store = LocalArtifactStore(tmp_path / "s")
    with store.batch():
        digests = [store.put_bytes(f"object {i}".encode()).digest for i in range(20)]
        assert syncs.events == []  # nothing flushed one by one
    assert sorted(syncs.files()) == sorted(str(store.path(d)) for d in digests)
    folders = syncs.folders()
    assert len(folders) == len(set(folders))  # each folder once
    assert {str(store.path(d).parent) for d in digests} <= set(folders)


def test_a_batch_that_fails_flushes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _Syncs(monkeypatch)
    store = LocalArtifactStore(tmp_path / "s")
    with pytest.raises(RuntimeError), store.batch():
        store.put_bytes(b"never referenced")
        raise RuntimeError("the caller failed before recording anything")
    assert syncs.events == []


def test_a_dataset_version_is_recorded_only_after_its_objects_are_flushed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.data import _repository, add_dataset

    syncs = _Syncs(monkeypatch)
    flushed_at_record: list[int] = []
    real = _repository.record_version

    def record(*args, **kwargs):  # type: ignore[no-untyped-def]
        flushed_at_record.append(len(syncs.files()))
        return real(*args, **kwargs)

    monkeypatch.setattr(_repository, "record_version", record)
    folder = project / "data"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.txt").write_text(f"file {i}")
    add_dataset(folder, "five")
    assert flushed_at_record == [6]  # five files and the manifest, before the row


def test_an_artifact_row_is_recorded_only_after_its_object_is_flushed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml
    from loopml.tracking import _repository

    syncs = _Syncs(monkeypatch)
    flushed_at_record: list[int] = []
    real = _repository.log_artifacts

    def record(*args, **kwargs):  # type: ignore[no-untyped-def]
        flushed_at_record.append(len(syncs.files()))
        return real(*args, **kwargs)

    monkeypatch.setattr(_repository, "log_artifacts", record)
    (project / "model.bin").write_bytes(b"weights")
    with loopml.start_run("durable") as run:
        run.log_artifact(project / "model.bin")
        run.log_dict({"a": 1}, "params.json")
    assert flushed_at_record == [1, 2]


# -- the copy of a large file ----------------------------------------------------------


def test_a_large_file_is_copied_in_the_kernel_and_its_copy_is_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.copy_file_range

    def spy(src: int, dst: int, count: int, *offsets: int) -> int:
        calls.append(count)
        return real(src, dst, count, *offsets)

    monkeypatch.setattr(os, "copy_file_range", spy)
    monkeypatch.setattr(artifacts, "_SLICE", 1 << 20)  # several slices
    store = LocalArtifactStore(tmp_path / "s")
    store._reflinks = False
    src = tmp_path / "big.bin"
    payload = os.urandom((5 << 20) + 12345)
    src.write_bytes(payload)
    info = store.put_file(src)
    assert calls  # copied by the kernel
    assert info.digest == blake3.blake3(payload).hexdigest() and info.size == len(payload)
    assert store.path(info.digest).read_bytes() == payload


def test_a_kernel_that_cannot_copy_falls_back_to_a_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    store = LocalArtifactStore(tmp_path / "s")
    store._reflinks = False
    src = tmp_path / "big.bin"
    payload = os.urandom(3 << 20)
    src.write_bytes(payload)
    info = store.put_file(src)
    assert info.digest == blake3.blake3(payload).hexdigest()
    assert store.get_bytes(info.digest) == payload


def test_the_bytes_stored_are_the_bytes_hashed_even_if_the_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash is taken from the store's own copy, so a source rewritten during the add
    cannot give the object the hash of other bytes."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 << 20))
    real = artifacts._copy_slice
    writer = os.open(src, os.O_WRONLY)

    def copy_then_change_source(src_fd, dst_fd, offset, count, kernel):  # type: ignore[no-untyped-def]
        n = real(src_fd, dst_fd, offset, count, kernel)
        os.pwrite(writer, b"changed!" * 1000, 0)  # before and after what is copied
        os.pwrite(writer, b"changed!" * 1000, 2 << 20)
        return n

    monkeypatch.setattr(artifacts, "_copy_slice", copy_then_change_source)
    monkeypatch.setattr(artifacts, "_SLICE", 1 << 20)
    store = LocalArtifactStore(tmp_path / "s")
    store._reflinks = False
    try:
        info = store.put_file(src)
    finally:
        os.close(writer)
    stored = store.path(info.digest).read_bytes()
    assert blake3.blake3(stored).hexdigest() == info.digest


# -- writes that cannot happen -----------------------------------------------------------


def test_a_store_that_cannot_be_written_is_a_one_line_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store's folder should be")
    with pytest.raises(StoreError, match="cannot write") as info:
        LocalArtifactStore(blocker / "store").put_bytes(b"x")
    assert "\n" not in str(info.value)


def test_an_unwritable_destination_is_a_one_line_error(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "s")
    digest = store.put_bytes(b"payload").digest
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(InvalidInput, match="cannot write") as info:
        store.get_file(digest, blocker / "sub" / "out.bin")
    assert "\n" not in str(info.value)


def test_an_upload_whose_bytes_do_not_match_the_digest_is_refused(tmp_path: Path) -> None:
    import fsspec

    fsspec.filesystem("memory").store.clear()
    store = FsspecArtifactStore(f"memory://bucket-{os.getpid()}/up")
    src = tmp_path / "f.bin"
    src.write_bytes(b"actual bytes")
    wrong = blake3.blake3(b"claimed bytes").hexdigest()
    with pytest.raises(CorruptObject, match="nothing was stored"):
        store.put_file(src, digest=wrong)
    assert not store.exists(wrong)
