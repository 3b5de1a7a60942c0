"""Adding dataset versions: storage, dedup, numbering, stat cache, lineage, bad input."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from datahelp import make_folder, object_files, snapshot

import loopml
from loopml import lineage
from loopml.context import active_runs, current
from loopml.data import add_dataset, get_dataset
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.store.artifacts import hash_file


def test_add_file_records_a_version_with_manifest_and_profile(backend: str, iris_csv: Path) -> None:
    v = add_dataset(iris_csv, "iris", message="first cut")
    assert (v.name, v.version, v.uri, v.kind) == ("iris", 1, "data:/iris@1", "file")
    assert v.n_files == 1 and v.total_bytes == iris_csv.stat().st_size
    assert v.source_path == "data/iris.csv"
    assert v.message == "first cut"
    assert v.created_at.tzinfo is not None
    assert v.schema is not None and v.schema["target"] == "int64"
    assert [e.path for e in v.files()] == ["iris.csv"]
    assert v.files()[0].digest == hash_file(iris_csv)[0]
    assert get_dataset("iris") == v


def test_top_level_names_map_to_the_data_package(project: Path, iris_csv: Path) -> None:
    v = loopml.add_dataset(iris_csv, name="iris")
    assert isinstance(v, loopml.DatasetVersion)
    assert loopml.get_dataset("data:/iris@1").uri == v.uri
    assert [d.uri for d in loopml.list_datasets()] == ["data:/iris@1"]


def test_same_bytes_are_stored_once_and_unchanged_folder_returns_same_version(
    backend: str, project: Path
) -> None:
    folder = make_folder(project / "data" / "docs", 20)
    (folder / "dup-a.txt").write_bytes(b"same bytes")
    (folder / "dup-b.txt").write_bytes(b"same bytes")
    v1 = add_dataset(folder, "docs")
    objects = object_files(project)
    assert len(objects) == 21 + 1  # 21 distinct files + the manifest

    assert v1.is_new is True
    again = add_dataset(folder, "docs")
    assert again.version == 1 and again.manifest_digest == v1.manifest_digest
    assert again.is_new is False
    assert again == v1
    assert object_files(project) == objects

    (folder / "new.txt").write_text("hello")
    v2 = add_dataset(folder, "docs")
    assert v2.version == 2 and v2.is_new is True
    assert len(object_files(project) - objects) == 2  # the new file and the new manifest


def test_is_new_tells_whether_add_made_a_version(backend: str, project: Path) -> None:
    path = project / "x.txt"
    path.write_text("one")
    first = add_dataset(path, "x")
    assert (first.version, first.is_new) == (1, True)
    same = add_dataset(path, "x")  # identical bytes: the same version, nothing new
    assert (same.version, same.is_new) == (1, False)
    path.write_text("two")
    changed = add_dataset(path, "x")
    assert (changed.version, changed.is_new) == (2, True)
    path.write_text("one")  # back to version 1's bytes: a new version, since 2 is newest
    back = add_dataset(path, "x")
    assert (back.version, back.is_new) == (3, True)
    assert back.manifest_digest == first.manifest_digest
    assert [v.version for v in loopml.data.dataset_versions("x")] == [1, 2, 3]


def test_equal_folders_have_equal_manifest_digests(project: Path) -> None:
    a = make_folder(project / "a", 10)
    b = make_folder(project / "b", 10)
    assert add_dataset(a, "one").manifest_digest == add_dataset(b, "two").manifest_digest


def test_versions_count_up_per_dataset(backend: str, project: Path) -> None:
    path = project / "x.txt"
    for i in range(3):
        path.write_text(f"v{i}")
        assert add_dataset(path, "x").version == i + 1
    path.write_text("other")
    assert add_dataset(path, "y").version == 1
    assert [v.version for v in loopml.data.dataset_versions("x")] == [1, 2, 3]


def test_concurrent_adders_get_distinct_version_numbers(backend: str, project: Path) -> None:
    paths = []
    for i in range(6):
        p = project / f"part{i}.txt"
        p.write_text(f"content {i}")
        paths.append(p)
    barrier = threading.Barrier(len(paths))

    def add(p: Path) -> int:
        barrier.wait()
        return add_dataset(p, "shared", profile=False).version

    with ThreadPoolExecutor(len(paths)) as pool:
        numbers = sorted(pool.map(add, paths))
    assert numbers == [1, 2, 3, 4, 5, 6]


def test_stat_cache_avoids_rehashing_unchanged_files(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.store import artifacts

    folder = make_folder(project / "data" / "many", 40)
    calls: list[int] = []
    real = artifacts._hash_and_copy

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(artifacts, "_hash_and_copy", spy)
    add_dataset(folder, "many")
    assert len(calls) == 40
    assert (project / ".loopml" / "cache" / "stat.db").is_file()

    calls.clear()
    assert add_dataset(folder, "many").version == 1
    assert calls == []  # every file known by its stat: no read at all

    target = folder / "part1" / "f00001.txt"
    target.write_bytes(b"changed")
    assert add_dataset(folder, "many").version == 2
    assert len(calls) == 1


def test_known_digest_whose_object_was_removed_is_stored_again(project: Path) -> None:
    path = project / "a.bin"
    path.write_bytes(b"abc" * 1000)
    v = add_dataset(path, "a")
    digest = v.files()[0].digest
    current().artifacts.delete(digest)
    path.write_bytes(b"abc" * 1000)  # same bytes, so the same version
    assert add_dataset(path, "a").version == 1
    assert current().artifacts.exists(digest)


def test_active_run_records_lineage_and_run_id(
    backend: str, iris_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = SimpleNamespace(id="ab" * 16, tracking_uri=current().metadata.uri)
    monkeypatch.setattr(active_runs(), "current", lambda: run)
    v = add_dataset(iris_csv, "iris")
    assert v.run_id == run.id
    edges = lineage.upstream("data:/iris@1")
    assert [(e.src, e.relation) for e in edges] == [(f"runs:/{run.id}", "output")]


def test_a_run_of_another_store_is_not_recorded_as_the_producer(
    project: Path, iris_csv: Path, tmp_path: Path
) -> None:
    other = loopml.Client(tmp_path / "other")
    with other.start_run(experiment="elsewhere"):
        v = add_dataset(iris_csv, "iris")  # the default project's store, not the run's
    assert v.run_id is None
    assert lineage.upstream(v.uri) == []


def test_object_refs_are_recorded_for_the_version(backend: str, project: Path) -> None:
    folder = make_folder(project / "d", 5)
    v = add_dataset(folder, "d")
    with current().metadata.read() as conn:
        referenced = set(conn.column("SELECT DISTINCT digest FROM object_refs"))
    assert referenced == {v.manifest_digest} | {e.digest for e in v.files()}


def test_missing_path_is_not_found_and_stores_nothing(backend: str, project: Path) -> None:
    before = snapshot(project)
    with pytest.raises(NotFound, match=r"no file or folder at nope\.csv"):
        add_dataset("nope.csv", "iris")
    assert snapshot(project) == before


@pytest.mark.parametrize("name", ["", "-dash", "has space", "a/b", "é"])
def test_invalid_dataset_name_is_refused(project: Path, iris_csv: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        add_dataset(iris_csv, name)
    assert object_files(project) == set()
    assert not (project / "loopml.lock").exists()


def test_unreadable_csv_names_the_file_and_leaves_the_store_untouched(
    backend: str, project: Path, iris_csv: Path
) -> None:
    add_dataset(iris_csv, "iris")
    bad = project / "data" / "bad" / "broken.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text('a,b\n1,2\n3,4,5\n"unterminated\n')
    before = snapshot(project)
    with pytest.raises(InvalidInput) as info:
        add_dataset(bad.parent, "bad")
    message = str(info.value)
    assert "broken.csv" in message and "CSV" in message
    assert "profile=False" in message and "--no-profile" in message
    assert snapshot(project) == before

    v = add_dataset(bad.parent, "bad", profile=False)
    assert v.profile is None and v.version == 1


def test_adding_the_project_folder_itself_is_refused(project: Path) -> None:
    with pytest.raises(InvalidInput, match="project folder"):
        add_dataset(project, "everything")


def test_source_outside_the_project_is_recorded_absolute(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    v = add_dataset(outside, "outside")
    assert v.source_path == outside.as_posix()


def test_version_path_holds_exactly_the_bytes(project: Path, iris_csv: Path) -> None:
    folder = make_folder(project / "data" / "f", 6)
    v = add_dataset(folder, "f")
    local = v.path
    assert local.is_dir() and local != folder
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == [
        e.path for e in v.files()
    ]
    for e in v.files():
        assert hash_file(local / e.path)[0] == e.digest
    assert v.path == local  # re-used

    f = add_dataset(iris_csv, "iris")
    assert f.path.name == "iris.csv" and f.path.read_bytes() == iris_csv.read_bytes()


def test_progress_is_off_for_small_data_and_without_a_terminal() -> None:
    from loopml.data._progress import LARGE_BYTES, wants_progress

    assert wants_progress(None, 10, 1) is False
    assert wants_progress(None, LARGE_BYTES + 1, 1) is False  # stderr is not a terminal here
    assert wants_progress(True, 10, 1) is True
    assert wants_progress(False, LARGE_BYTES + 1, 5000) is False


def test_progress_bar_counts_every_byte(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.data import _datasets

    seen: list[int] = []

    class Recorder:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self):  # type: ignore[no-untyped-def]
            return seen.append

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(_datasets, "byte_progress", Recorder)
    folder = make_folder(project / "d", 5, size=3000)
    add_dataset(folder, "d")
    assert sum(seen) == 5 * 3000
    seen.clear()
    add_dataset(folder, "d")  # known hashes: the bar still completes
    assert sum(seen) == 5 * 3000


def test_an_unreadable_file_is_invalid_input(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.store.artifacts import LocalArtifactStore

    def refuse(self: object, path: str, digest: str | None = None, progress: object = None):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(LocalArtifactStore, "put_file", refuse)
    folder = make_folder(project / "d", 2)
    with pytest.raises(InvalidInput, match=r"cannot read .*f00000\.txt: Permission denied"):
        add_dataset(folder, "d")


def test_adding_inside_a_real_run_links_the_run_and_the_version(
    project: Path, iris_csv: Path
) -> None:
    tracking = pytest.importorskip("loopml.tracking")
    if not hasattr(tracking, "start_run"):
        pytest.skip("loopml.tracking has no start_run yet")
    with loopml.start_run(experiment="data-test") as run:
        v = add_dataset(iris_csv, "iris")
        used = run.use_dataset("iris@1")
    assert v.run_id == run.id and used.uri == v.uri
    assert (f"runs:/{run.id}", "output") in {(e.src, e.relation) for e in lineage.upstream(v.uri)}
    assert (f"runs:/{run.id}", "input") in {(e.dst, e.relation) for e in lineage.downstream(v.uri)}


# -- a message on unchanged data is recorded or refused, never dropped --------------------


def test_a_message_on_unchanged_data_is_recorded_when_the_version_has_none(
    backend: str, iris_csv: Path
) -> None:
    add_dataset(iris_csv, "iris")
    again = add_dataset(iris_csv, "iris", message="the classic")
    assert not again.is_new and again.version == 1
    assert again.message == "the classic"
    assert get_dataset("iris@1").message == "the classic"
    same = add_dataset(iris_csv, "iris", message="the classic")  # idempotent
    assert not same.is_new and same.message == "the classic"


def test_another_message_on_unchanged_data_is_refused_and_changes_nothing(
    backend: str, project: Path, iris_csv: Path
) -> None:
    add_dataset(iris_csv, "iris", message="first words")
    before = snapshot(project)
    with pytest.raises(Conflict) as err:
        add_dataset(iris_csv, "iris", message="second words")
    message = str(err.value)
    assert "same bytes as data:/iris@1" in message
    assert "'first words'" in message and "'second words' was not recorded" in message
    assert snapshot(project) == before
    assert get_dataset("iris@1").message == "first words"
