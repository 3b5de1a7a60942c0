"""Hostile files and arguments found by trying to break loopml: each is one clear error
line (InvalidInput naming the file or argument), and nothing stored is lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopml.data import read_lock
from loopml.errors import InvalidInput

DIGEST = "a" * 64


def _lock(version: str = "1", name: str = "d", path: str = '"d"') -> str:
    return (
        f"format = 1\n[datasets.{name}]\nversion = {version}\npath = {path}\n"
        f'kind = "folder"\nmanifest = "{DIGEST}"\n'
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("format = 1\ndatasets = 1\n", "'datasets' is 1, not a table"),
        ("format = 1\ndatasets = [1]\n", "not a table"),
        ('format = 1\n[datasets]\nd = "x"\n', "dataset 'd' is 'x', not a table"),
        ("format = true\n", "format True"),
        (_lock("-1"), "version of 'd' is -1"),
        (_lock("0"), "version of 'd' is 0"),
        (_lock("1.5"), "version of 'd' is 1.5"),
        (_lock("true"), "version of 'd' is True"),
        (_lock('"1"'), "version of 'd' is '1'"),
        (_lock("9223372036854775808"), "version of 'd' is 9223372036854775808"),
        (_lock(name='"../x"'), "dataset name '../x'"),
        (_lock(name='"a\\u0000b"'), r"dataset name 'a\x00b'"),
        (_lock(name='""'), "dataset name ''"),
        (_lock(name='"a/b"'), "dataset name 'a/b'"),
        (_lock(path="1"), "path of 'd' is 1"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nests tables or arrays too deeply"),
    ],
)
def test_hostile_lock_is_one_invalid_input_line(project: Path, text: str, says: str) -> None:
    lock = project / "loopml.lock"
    lock.write_text(text)
    with pytest.raises(InvalidInput, match="git checkout -- loopml.lock") as info:
        read_lock(lock)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_lock_that_is_not_a_regular_file_is_refused_without_blocking(
    project: Path, kind: str
) -> None:
    lock = project / "loopml.lock"
    if kind == "folder":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)  # opening it for reading would wait for a writer forever
    else:
        lock.symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(InvalidInput, match="is not a regular file"):
        read_lock(lock)


def test_huge_lock_is_refused_without_reading_it_all(project: Path) -> None:
    from loopml import _files

    lock = project / "loopml.lock"
    lock.write_bytes(b"# " + b"x" * 2000 + b"\n")
    with pytest.raises(InvalidInput, match="is over 0 MiB"):
        _files.read_small(lock, "lock file", limit=1000)


def test_params_yaml_that_is_not_yaml_is_one_error_line(project: Path) -> None:
    from loopml.pipelines._params import read_params_yaml

    path = project / "params.yaml"
    path.write_text("k: [1,\n")
    with pytest.raises(InvalidInput, match=r"params.yaml, line 2: not valid YAML"):
        read_params_yaml(path)
    path.write_bytes(b"k: \xff\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_params_yaml(path)
    path.write_text("1: 3\n")
    with pytest.raises(InvalidInput, match="the key 1 is not text"):
        read_params_yaml(path)
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_params_yaml(path)


def test_params_yaml_aliases_cannot_expand_without_bound(project: Path) -> None:
    from loopml.pipelines._params import read_params_yaml

    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = project / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput, match="expands to more than 1,000,000 values"):
        read_params_yaml(path)


# -- the local object store: something other than a file where an object should be ---------


def _plant(path: Path, kind: str) -> None:
    os.chmod(path, 0o644)
    path.unlink()
    if kind == "link-to-device":
        path.symlink_to("/dev/zero")  # a read would never end
    elif kind == "link-to-copy":
        copy = path.parent.parent.parent / "elsewhere"
        copy.write_bytes(b"sound bytes, reached through a link")
        path.symlink_to(copy)
    elif kind == "fifo":
        os.mkfifo(path)  # a read would wait for a writer forever
    else:
        path.mkdir()
        (path / "x").write_text("x")


PLANTED = ["link-to-device", "link-to-copy", "fifo", "folder"]


@pytest.mark.parametrize("kind", PLANTED)
def test_planted_object_is_refused_on_read_and_reported_by_check(tmp_path: Path, kind: str) -> None:
    from loopml.errors import CorruptObject, StoreError
    from loopml.store.artifacts import LocalArtifactStore

    store = LocalArtifactStore(tmp_path / "store")
    data = b"sound bytes, reached through a link"
    digest = store.put_bytes(data).digest
    _plant(store.path(digest), kind)
    with pytest.raises(CorruptObject, match="not a regular file"):
        store.get_bytes(digest)
    with pytest.raises(CorruptObject, match="not a regular file"):
        store.get_file(digest, tmp_path / "out")
    with pytest.raises(CorruptObject, match="not a regular file"):
        store.local_file(digest)
    assert not (tmp_path / "out").exists()
    assert not store.exists(digest)
    assert store.check(digest) == "corrupt"
    assert [d for d, _, _ in store.iter_objects()] == []  # gc leaves it alone
    assert [d for d, _, _ in store.iter_planted()] == [digest]  # fsck reports it
    if kind == "folder":  # not ours to remove: the write says what to do
        with pytest.raises(StoreError, match="a folder stands where the object"):
            store.put_bytes(data)
        assert (store.path(digest) / "x").exists()
        return
    assert store.put_bytes(data).created  # the link or FIFO is replaced, not its target
    assert store.get_bytes(digest) == data
    assert store.path(digest).is_file() and not store.path(digest).is_symlink()


def test_gc_leaves_planted_entries_and_planted_folders_in_tmp(tmp_path: Path) -> None:
    from loopml.store.artifacts import LocalArtifactStore

    store = LocalArtifactStore(tmp_path / "store")
    digest = store.put_bytes(b"x").digest
    _plant(store.path(digest), "folder")
    (tmp_path / "store" / "tmp" / "a-folder").mkdir()
    store.delete(digest)
    assert store.clean_tmp(older_than=-10) == 0
    assert (store.path(digest) / "x").exists()
    assert (tmp_path / "store" / "tmp" / "a-folder").is_dir()


def test_stray_files_among_objects_are_not_objects(tmp_path: Path) -> None:
    from loopml.store.artifacts import LocalArtifactStore

    store = LocalArtifactStore(tmp_path / "store")
    digest = store.put_bytes(b"x").digest
    objects = tmp_path / "store" / "objects"
    (objects / "zz").mkdir()
    (objects / "zz" / ("Q" * 62)).write_text("not an object")
    (objects / digest[:2] / ("A" * 62)).write_text("not an object")
    (objects / "ab").write_text("a file, not a folder")
    assert [d for d, _, _ in store.iter_objects()] == [digest]


def test_fsck_reports_and_repairs_a_planted_object(project: Path) -> None:
    import loopml
    from loopml.context import current

    (project / "d").mkdir()
    (project / "d" / "a.txt").write_text("a\n")
    version = loopml.add_dataset(project / "d", "d")
    remote = project.parent / "remote"
    loopml.data.push(remote=str(remote))
    path = current().artifacts.path(version.manifest_digest)
    _plant(path, "link-to-device")
    report = loopml.fsck()
    assert not report.ok
    assert [p.digest for p in report.problems] == [version.manifest_digest]
    report = loopml.fsck(remote=str(remote), repair=True)
    assert report.ok, report.problems
    assert path.is_file() and not path.is_symlink()
    assert loopml.fsck().ok


# -- secrets in storage URLs, errors of storage libraries ---------------------------------


class _LibraryError(Exception):
    """What a storage library raises that is no OSError (botocore's NoCredentialsError...)."""


def _register_refusing_fs(said: str) -> None:
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class RefusingFileSystem(MemoryFileSystem):
        protocol = "refusing"
        root_marker = ""

        def find(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise _LibraryError(f"{said} (listing {path})")

        def _open(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise _LibraryError(said)

    fsspec.register_implementation("refusing", RefusingFileSystem, clobber=True)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("refusing://key:S3CRETpw@bucket/x", 'Invalid bucket name "key:S3CRETpw@bucket"'),
        ("refusing://bucket/x?token=tok%2FS3CRET", "the token tok/S3CRET is expired"),
    ],
)
def test_storage_library_errors_are_one_line_without_the_secret(
    project: Path, url: str, said: str
) -> None:
    import loopml
    from loopml.errors import Unavailable

    _register_refusing_fs(said)
    (project / "d").mkdir()
    (project / "d" / "a.txt").write_text("a\n")
    loopml.add_dataset(project / "d", "d")
    for call in (
        lambda: loopml.data.push(remote=url),
        lambda: loopml.data.pull(remote=url),
        lambda: loopml.fsck(remote=url),
    ):
        with pytest.raises(Unavailable, match="refused the request: _LibraryError") as info:
            call()
        assert "S3CRET" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_scrub_blanks_secret_query_values_raw_and_decoded() -> None:
    from loopml.uri import scrub

    url = "s3://bucket/x?token=tok%2FS3CRET&region=eu"
    text = f"failed for {url}: token tok/S3CRET refused (raw tok%2FS3CRET)"
    assert "S3CRET" not in scrub(text, url)
    assert "region=eu" in scrub(text, url)


def test_missing_package_of_a_protocol_without_an_extra_names_the_package() -> None:
    from loopml.errors import MissingExtra
    from loopml.store.artifacts import FsspecArtifactStore

    pytest.importorskip("fsspec")
    try:
        import paramiko  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtra, match=r"pip install 'paramiko'") as info:
            FsspecArtifactStore("sftp://user:S3CRETpw@host/x")
        assert "loopml[" not in str(info.value) and "S3CRET" not in str(info.value)
    else:  # pragma: no cover
        pytest.skip("paramiko is installed")


# -- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", ["x"], {"a": 1}, -1, object()])
def test_read_lock_path_of_the_wrong_kind_is_invalid_input(project: Path, bad: object) -> None:
    with pytest.raises(InvalidInput, match="path"):
        read_lock(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [123, 1.5, object()])
def test_mentioned_keys_order_by_of_the_wrong_type_is_invalid_input(bad: object) -> None:
    from loopml.tracking import mentioned_keys

    with pytest.raises(InvalidInput, match="order_by"):
        mentioned_keys("", bad)  # type: ignore[arg-type]


def test_mentioned_keys_takes_one_order_by_as_text() -> None:
    from loopml.tracking import mentioned_keys

    assert mentioned_keys("", "metrics.loss").metrics == ("loss",)


def test_a_remote_store_still_pickles_for_other_processes() -> None:
    import pickle

    from loopml.store.artifacts import FsspecArtifactStore

    store = FsspecArtifactStore(f"memory://pickled-{os.getpid()}/x")
    digest = store.put_bytes(b"abc").digest
    copy = pickle.loads(pickle.dumps(store))
    assert copy.get_bytes(digest) == b"abc"
