"""push and pull: a local folder remote and an S3 remote (moto's server), with packs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from datahelp import make_folder, object_files

from loopml.data import add_dataset, checkout, pull, push, read_lock
from loopml.data._remote import SMALL_OBJECT, open_remote
from loopml.errors import CorruptObject, InvalidInput, MissingExtra, NotFound


def _remote_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _wipe_local(project: Path) -> None:
    import loopml.context

    shutil.rmtree(project / ".loopml" / "artifacts")
    shutil.rmtree(project / ".loopml" / "cache", ignore_errors=True)
    loopml.context.reset()
    from loopml.data import _manifest

    _manifest._load_cached.cache_clear()


def test_push_packs_small_files_and_pull_restores_everything(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    folder = make_folder(project / "data" / "docs", 120)
    big = project / "data" / "big.bin"
    big.write_bytes(os.urandom(SMALL_OBJECT + 10))
    add_dataset(folder, "docs")
    add_dataset(big, "big")

    report = push(str(remote))
    assert report.transferred == report.wanted == 120 + 2 + 1  # files + manifests + big file
    assert report.single == 1 and report.packs == 1
    files = _remote_files(remote)
    assert len(files) == 3  # one pack, its index and the large object
    assert len(list((remote / "objects").glob("*/*"))) == 1

    again = push(str(remote))
    assert again.transferred == 0 and again.wanted == 123

    original = {p: p.read_bytes() for p in folder.rglob("*.txt")}
    _wipe_local(project)
    shutil.rmtree(folder)
    big.unlink()

    got = pull(str(remote))
    assert got.transferred == 123
    assert len(object_files(project)) == 123
    checkout()
    assert {p: p.read_bytes() for p in folder.rglob("*.txt")} == original
    assert big.stat().st_size == SMALL_OBJECT + 10

    assert pull(str(remote)).transferred == 0


def test_push_sends_only_new_objects_in_a_new_pack(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    folder = make_folder(project / "data" / "docs", 50)
    add_dataset(folder, "docs")
    push(str(remote))
    (folder / "more.txt").write_text("one more")
    add_dataset(folder, "docs")
    report = push(str(remote))
    assert report.transferred == 2  # the new file and the new manifest
    assert len(list((remote / "packs").glob("*.pack"))) == 2


def test_push_and_pull_of_named_versions_only(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    a, b = project / "a.txt", project / "b.txt"
    a.write_text("a")
    b.write_text("b")
    add_dataset(a, "a")
    add_dataset(b, "b")
    assert push(str(remote), ["a@1"]).transferred == 2
    assert push(str(remote), ["data:/b@latest"]).transferred == 2


def test_checkout_pulls_missing_objects_from_the_configured_remote(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "remote"
    folder = make_folder(project / "data" / "docs", 20)
    add_dataset(folder, "docs")
    push(str(remote))
    original = {p: p.read_bytes() for p in folder.rglob("*.txt")}
    _wipe_local(project)
    shutil.rmtree(folder)
    monkeypatch.setenv("LOOPML_DATA_REMOTE", str(remote))
    checkout()
    assert {p: p.read_bytes() for p in folder.rglob("*.txt")} == original


def test_no_remote_configured_tells_how_to_set_one(project: Path, iris_csv: Path) -> None:
    add_dataset(iris_csv, "iris")
    with pytest.raises(InvalidInput, match=r"(?s)--remote.*\[data\]\nremote ="):
        push()


def test_remote_backend_not_installed_names_the_extra(project: Path, iris_csv: Path) -> None:
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("gcsfs is installed here")
    add_dataset(iris_csv, "iris")
    before = object_files(project)
    with pytest.raises(MissingExtra, match=r"pip install 'loopml\[gcs\]'"):
        push("gs://bucket/prefix")
    assert object_files(project) == before


def test_unknown_protocol_is_invalid_input(project: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown storage protocol"):
        open_remote("nosuchproto://x/y")


def test_pull_refuses_a_corrupt_pack_and_stores_nothing(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    folder = make_folder(project / "data" / "docs", 10)
    add_dataset(folder, "docs")
    push(str(remote))
    (pack,) = (remote / "packs").glob("*.pack")
    data = bytearray(pack.read_bytes())
    data[-1] ^= 0xFF
    pack.write_bytes(bytes(data))

    _wipe_local(project)
    with pytest.raises(CorruptObject, match=r"on the remote .* is corrupt.*Nothing was stored"):
        pull(str(remote))
    assert object_files(project) == set()
    assert not list((project / ".loopml" / "cache" / "tmp").glob("*"))


def test_pull_of_objects_the_remote_lacks_is_not_found(project: Path, tmp_path: Path) -> None:
    (project / "x.txt").write_text("x")
    add_dataset(project / "x.txt", "x")
    (tmp_path / "empty").mkdir()
    _wipe_local(project)
    with pytest.raises(NotFound, match="neither in the local store nor on the remote"):
        pull(str(tmp_path / "empty"))


# -- S3 through moto's server -------------------------------------------------------------


@pytest.fixture
def s3_remote(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a moto S3 server on 127.0.0.1, reached through s3fs."""
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import fsspec
    from fsspec.config import conf

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setitem(conf, "s3", {"client_kwargs": {"endpoint_url": endpoint}})
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir("loopml-test")
    try:
        yield "s3://loopml-test/data"
    finally:
        server.stop()
        fsspec.filesystem("s3").clear_instance_cache()


def test_push_and_pull_through_s3_use_few_remote_files(project: Path, s3_remote: str) -> None:
    import fsspec

    folder = make_folder(project / "data" / "docs", 150)
    big = project / "data" / "big.bin"
    big.write_bytes(os.urandom(SMALL_OBJECT * 2))
    add_dataset(folder, "docs")
    add_dataset(big, "big")
    report = push(s3_remote)
    assert report.transferred == 153

    fs = fsspec.filesystem("s3")
    remote_files = fs.find("loopml-test/data")
    assert len(remote_files) == 3  # one pack + index for 152 small objects, one large object
    assert push(s3_remote).transferred == 0

    original = {p: p.read_bytes() for p in folder.rglob("*.txt")}
    big_bytes = big.read_bytes()
    _wipe_local(project)
    shutil.rmtree(folder)
    big.unlink()
    assert pull(s3_remote).transferred == 153
    checkout()
    assert {p: p.read_bytes() for p in folder.rglob("*.txt")} == original
    assert big.read_bytes() == big_bytes
    assert read_lock(project / "loopml.lock").keys() == {"big", "docs"}
