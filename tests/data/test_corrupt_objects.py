"""A corrupt object is repaired, never propagated: by the next add of its bytes, by push
(what it uploads is checked; a wrong remote copy is replaced), and by ``fsck``."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from datahelp import make_folder

import loopml
from loopml.data import FsckReport, StoreSide, add_dataset, checkout, fsck, pull, push
from loopml.data._remote import SMALL_OBJECT
from loopml.errors import CorruptObject, StoreError
from loopml.store.artifacts import LocalArtifactStore


def _store(project: Path) -> LocalArtifactStore:
    return LocalArtifactStore(project / ".loopml" / "artifacts")


def _damage(path: Path, *, truncate: int | None = None, flip: bool = False) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        if truncate is not None:
            fh.truncate(truncate)
        if flip:
            first = fh.read(1)
            fh.seek(0)
            fh.write(bytes([first[0] ^ 0xFF]))


def _object_of(version_uri: str) -> str:
    return loopml.get_dataset(version_uri).files()[0].digest


def _fresh_clone(project: Path) -> None:
    """The project as a teammate's clone would have it: the lock, no local objects."""
    import loopml.context
    from loopml.data import _manifest

    shutil.rmtree(project / ".loopml" / "artifacts")
    shutil.rmtree(project / ".loopml" / "cache", ignore_errors=True)
    loopml.context.reset()
    _manifest._load_cached.cache_clear()


# -- add -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [100, 300_000, SMALL_OBJECT + 5])
def test_adding_the_same_bytes_again_repairs_a_truncated_object(project: Path, size: int) -> None:
    src = project / "data.bin"
    src.write_bytes(os.urandom(size))
    add_dataset(src, "first")
    digest = _object_of("first")
    _damage(_store(project).path(digest), truncate=10)
    with pytest.raises(CorruptObject):
        loopml.get_dataset("first@1").path  # noqa: B018

    second = add_dataset(src, "second")  # the same bytes under a new name
    assert _store(project).verify(digest)
    assert second.path.read_bytes() == src.read_bytes()
    assert loopml.get_dataset("first@1").path.read_bytes() == src.read_bytes()


def test_adding_the_same_bytes_again_repairs_an_object_altered_in_place(project: Path) -> None:
    src = project / "data.bin"
    src.write_bytes(os.urandom(300_000))
    add_dataset(src, "first")
    digest = _object_of("first")
    _damage(_store(project).path(digest), flip=True)  # same size, one byte changed
    add_dataset(src, "second")
    assert _store(project).verify(digest)


# -- push ------------------------------------------------------------------------------


def test_push_refuses_a_corrupt_large_object_and_uploads_nothing_of_it(
    project: Path, tmp_path: Path
) -> None:
    big = project / "big.bin"
    big.write_bytes(os.urandom(SMALL_OBJECT * 2))
    add_dataset(big, "big")
    digest = _object_of("big")
    _damage(_store(project).path(digest), flip=True)
    remote = tmp_path / "remote"
    with pytest.raises(CorruptObject, match=f"{digest}.*not pushed.*loopml fsck") as info:
        push(str(remote))
    assert "\n" not in str(info.value)
    leftovers = [p for p in remote.rglob("*") if p.is_file() and digest[2:] in p.name]
    assert leftovers == []


def test_push_refuses_a_corrupt_small_object(project: Path, tmp_path: Path) -> None:
    small = project / "small.txt"
    small.write_text("small and precious")
    add_dataset(small, "small")
    _damage(_store(project).path(_object_of("small")), flip=True)
    with pytest.raises(CorruptObject, match="not pushed"):
        push(str(tmp_path / "remote"))


def test_push_replaces_a_truncated_remote_copy_so_a_teammate_can_pull(
    project: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    big = project / "big.bin"
    payload = os.urandom(SMALL_OBJECT * 2)
    big.write_bytes(payload)
    docs = make_folder(project / "docs", 5)
    add_dataset(big, "big")
    add_dataset(docs, "docs")
    push(str(remote))
    digest = _object_of("big")
    remote_copy = remote / "objects" / digest[:2] / digest[2:]
    _damage(remote_copy, truncate=1000)
    pack = next((remote / "packs").glob("*.pack"))
    _damage(pack, truncate=pack.stat().st_size // 2)  # the tail of the pack is gone

    again = push(str(remote))
    assert again.single == 1 and again.packs == 1  # both sent again
    assert remote_copy.stat().st_size == len(payload)

    _fresh_clone(project)
    big.unlink()
    shutil.rmtree(docs)
    pull(str(remote))
    checkout()
    assert big.read_bytes() == payload
    assert len(list(docs.rglob("*.txt"))) == 5


def test_pull_of_a_corrupt_remote_object_says_how_to_repair_the_remote(
    project: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    big = project / "big.bin"
    big.write_bytes(os.urandom(SMALL_OBJECT * 2))
    add_dataset(big, "big")
    push(str(remote))
    digest = _object_of("big")
    _damage(remote / "objects" / digest[:2] / digest[2:], flip=True)
    _fresh_clone(project)
    with pytest.raises(CorruptObject, match=rf"fsck --remote {remote} --repair"):
        pull(str(remote))


def test_push_to_a_destination_that_cannot_be_written_is_a_one_line_error(
    project: Path, tmp_path: Path
) -> None:
    (project / "a.txt").write_text("a")
    add_dataset(project / "a.txt", "a")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the remote's folder should be")
    with pytest.raises(StoreError, match="cannot write to the remote") as info:
        push(str(blocker / "remote"))
    assert "\n" not in str(info.value)


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on a moto S3 server on 127.0.0.1, reached through s3fs."""
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import fsspec
    from fsspec.config import conf

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setitem(conf, "s3", {"client_kwargs": {"endpoint_url": f"http://{host}:{port}"}})
    bucket = f"loopml-repair-{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(bucket)
    try:
        yield bucket
    finally:
        server.stop()
        fsspec.filesystem("s3").clear_instance_cache()


def test_push_through_s3_streams_large_objects_and_replaces_a_truncated_copy(
    project: Path, s3_bucket: str
) -> None:
    import fsspec

    big = project / "big.bin"
    payload = os.urandom(SMALL_OBJECT * 3)
    big.write_bytes(payload)
    add_dataset(big, "big")
    s3_remote = f"s3://{s3_bucket}/data"
    push(s3_remote)
    digest = _object_of("big")
    fs = fsspec.filesystem("s3")
    key = f"{s3_bucket}/data/objects/{digest[:2]}/{digest[2:]}"
    fs.pipe_file(key, payload[:100])
    assert push(s3_remote).single == 1
    fs.invalidate_cache()
    assert fs.cat_file(key) == payload


# -- fsck ------------------------------------------------------------------------------


def _two_sided(project: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A remote with one large single object and a pack; their digests."""
    remote = tmp_path / "remote"
    big = project / "big.bin"
    big.write_bytes(os.urandom(SMALL_OBJECT + 100))
    small = project / "small.txt"
    small.write_text("small but vital")
    add_dataset(big, "big")
    add_dataset(small, "small")
    push(str(remote))
    return remote, _object_of("big"), _object_of("small")


def test_fsck_of_a_sound_store_reports_every_object_checked(project: Path, tmp_path: Path) -> None:
    remote, _, _ = _two_sided(project, tmp_path)
    report = fsck(str(remote))
    assert isinstance(report, FsckReport) and report.ok and report.problems == []
    assert report.checked == 4  # two files, two manifests
    assert report.remote_checked == 4
    assert report.checked_bytes == report.remote_checked_bytes > SMALL_OBJECT


def test_fsck_finds_corrupt_local_objects_and_says_what_to_do_without_a_remote(
    project: Path, tmp_path: Path
) -> None:
    _, big, small = _two_sided(project, tmp_path)
    _damage(_store(project).path(big), flip=True)
    _damage(_store(project).path(small), truncate=2)
    report = fsck()
    assert not report.ok
    assert {(p.digest, p.where) for p in report.problems} == {
        (big, StoreSide.LOCAL),
        (small, StoreSide.LOCAL),
    }
    assert all("fsck --remote URL --repair" in p.advice for p in report.unrepaired)
    assert not _store(project).verify(big)  # nothing was changed without --repair


def test_fsck_repair_restores_corrupt_local_objects_from_the_remote(
    project: Path, tmp_path: Path
) -> None:
    remote, big, small = _two_sided(project, tmp_path)
    _damage(_store(project).path(big), flip=True)
    _damage(_store(project).path(small), truncate=2)
    seen = fsck(str(remote))
    assert len(seen.problems) == 2 and all("--repair" in p.advice for p in seen.problems)
    report = fsck(str(remote), repair=True)
    assert report.ok and {p.repaired_from for p in report.repaired} == {StoreSide.REMOTE}
    assert _store(project).verify(big) and _store(project).verify(small)
    assert fsck(str(remote)).problems == []


def test_fsck_repair_replaces_corrupt_remote_objects_from_the_local_store(
    project: Path, tmp_path: Path
) -> None:
    remote, big, small = _two_sided(project, tmp_path)
    _damage(remote / "objects" / big[:2] / big[2:], flip=True)
    pack = next((remote / "packs").glob("*.pack"))
    data = bytearray(pack.read_bytes())
    at = data.find(b"small but vital")
    data[at] ^= 0xFF  # same length: only a full check can tell
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    assert push(str(remote)).transferred == 0  # sizes are right: push cannot tell

    seen = fsck(str(remote))
    assert {(p.digest, p.where) for p in seen.problems} == {
        (big, StoreSide.REMOTE),
        (small, StoreSide.REMOTE),
    }
    report = fsck(str(remote), repair=True)
    assert report.ok and {p.repaired_from for p in report.repaired} == {StoreSide.LOCAL}
    assert fsck(str(remote)).problems == []

    _fresh_clone(project)
    (project / "big.bin").unlink()
    (project / "small.txt").unlink()
    pull(str(remote))
    checkout()
    assert (project / "small.txt").read_text() == "small but vital"


def test_fsck_leaves_an_object_corrupt_on_both_sides_and_says_so(
    project: Path, tmp_path: Path
) -> None:
    remote, big, _ = _two_sided(project, tmp_path)
    _damage(_store(project).path(big), flip=True)
    _damage(remote / "objects" / big[:2] / big[2:], truncate=5)
    report = fsck(str(remote), repair=True)
    assert not report.ok
    assert {(p.digest, p.where) for p in report.unrepaired} == {
        (big, StoreSide.LOCAL),
        (big, StoreSide.REMOTE),
    }
    assert any("add the data again" in p.advice for p in report.unrepaired)
    assert any("intact" in p.advice for p in report.unrepaired)


def test_fsck_is_a_client_verb(project: Path) -> None:
    (project / "a.txt").write_text("a")
    client = loopml.Client(project)
    client.add_dataset(project / "a.txt", "a")
    assert client.fsck().ok
    assert loopml.fsck().checked == 2


def test_fsck_moves_a_progress_bar_over_every_byte_it_checks(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from loopml.data import _fsck

    remote, _, _ = _two_sided(project, tmp_path)
    seen: dict[str, object] = {"advanced": 0}

    @contextlib.contextmanager
    def bar(description, total, n_files, progress):  # type: ignore[no-untyped-def]
        seen.update(description=description, total=total, progress=progress)

        def advance(n: int) -> None:
            seen["advanced"] = int(seen["advanced"]) + n  # type: ignore[call-overload]

        yield advance

    monkeypatch.setattr(_fsck, "byte_progress", bar)
    report = fsck(str(remote), progress=True)
    assert seen["description"] == "checking" and seen["progress"] is True
    assert seen["advanced"] == seen["total"] == report.checked_bytes + report.remote_checked_bytes
