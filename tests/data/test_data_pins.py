"""Going back in git goes back in data: a bare dataset name means the version loopml.lock pins.

Each test plays the same story: version 1 is added (and pinned), the lock of that moment
is kept as "the old commit's loopml.lock", version 2 is added (and pinned), then the old
lock is put back, as ``git checkout <old commit>`` does.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import loopml
from loopml.data import add_dataset, checkout, get_dataset, read_lock
from loopml.errors import NotFound

V1 = "x,y\n1,10\n2,20\n"
V2 = "x,y\n1,10\n2,20\n3,30\n"


@dataclass
class Story:
    root: Path
    csv: Path
    old_lock: bytes
    new_lock: bytes

    def back_to_the_old_commit(self) -> None:
        (self.root / "loopml.lock").write_bytes(self.old_lock)


@pytest.fixture
def story(backend: str, project: Path) -> Iterator[Story]:
    csv = project / "data" / "points.csv"
    csv.parent.mkdir()
    csv.write_text(V1)
    assert add_dataset(csv, "points").version == 1
    old = (project / "loopml.lock").read_bytes()
    csv.write_text(V2)
    assert add_dataset(csv, "points").version == 2
    yield Story(project, csv, old, (project / "loopml.lock").read_bytes())


def _rows(uri: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return len(get_dataset(uri).to_pandas())


def test_after_going_back_a_bare_name_reads_the_pinned_bytes_not_the_newest(story: Story) -> None:
    story.back_to_the_old_commit()
    checkout()
    assert story.csv.read_text() == V1  # the working copy is back ...
    for ref in ("data:/points", "points"):  # ... and so is what the code reads
        assert _rows(ref) == 2
    assert _rows("data:/points@latest") == 3  # @latest stays the newest, explicitly


def test_latest_is_the_newest_and_says_what_the_lock_pins(story: Story) -> None:
    story.back_to_the_old_commit()
    with pytest.warns(UserWarning) as caught:
        assert get_dataset("data:/points@latest").version == 2
    (notice,) = [str(w.message) for w in caught]
    assert notice == (
        "data:/points@latest means data:/points@2, the newest version; "
        "loopml.lock pins data:/points@1."
    )


def test_a_pin_older_than_the_newest_is_used_with_a_notice_naming_both(story: Story) -> None:
    story.back_to_the_old_commit()
    with pytest.warns(loopml.DatasetNotice) as caught:
        get_dataset("points")
    (notice,) = [str(w.message) for w in caught]
    assert notice.startswith("data:/points means data:/points@1, the version loopml.lock pins")
    assert "the newest is data:/points@2" in notice and "data:/points@latest" in notice
    assert "\n" not in notice
    assert caught[0].filename == __file__  # it points at the line that asked for the data


def test_no_notice_when_the_lock_pins_the_newest_or_a_version_is_named(story: Story) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_dataset("data:/points").version == 2
        assert get_dataset("data:/points@latest").version == 2
        story.back_to_the_old_commit()
        assert get_dataset("data:/points@2").version == 2
        assert get_dataset("points@1").version == 1


@pytest.mark.parametrize("lock", ["other dataset", "no lock"])
def test_an_unpinned_dataset_resolves_to_the_newest_with_a_one_line_notice(
    story: Story, lock: str
) -> None:
    path = story.root / "loopml.lock"
    if lock == "no lock":
        path.unlink()
        why = "there is no loopml.lock"
    else:
        other = story.root / "other.csv"
        other.write_text("a\n1\n")
        path.unlink()
        add_dataset(other, "other")
        why = "loopml.lock does not pin 'points'"
    with pytest.warns(loopml.DatasetNotice) as caught:
        assert get_dataset("data:/points").version == 2
    (notice,) = [str(w.message) for w in caught]
    assert notice.startswith(f"data:/points means the newest version, data:/points@2, as {why}")
    assert "loopml data checkout points@2" in notice and "\n" not in notice


def test_resolve_dataset_tells_the_pinned_and_the_newest_version(story: Story) -> None:
    story.back_to_the_old_commit()
    found = loopml.data.resolve_dataset("points", notify=False)
    assert (found.uri, found.pinned, found.newest) == ("data:/points@1", 1, 2)
    assert found.notice is not None and "data:/points@1" in found.notice
    latest = loopml.data.resolve_dataset("points@latest", notify=False)
    assert (latest.uri, latest.pinned, latest.newest) == ("data:/points@2", 1, 2)


def _object(root: Path, digest: str) -> Path:
    return root / ".loopml" / "artifacts" / "objects" / digest[:2] / digest[2:]


def test_a_pinned_version_whose_file_objects_are_missing_names_data_pull(story: Story) -> None:
    story.back_to_the_old_commit()
    from loopml.data._manifest import load_manifest

    (entry,) = load_manifest(read_lock()["points"].manifest).entries
    _object(story.root, entry.digest).unlink()
    with pytest.warns(loopml.DatasetNotice):
        version = get_dataset("data:/points")  # a cached step would not read the files
    with pytest.raises(NotFound) as err:
        version.to_pandas()
    message = str(err.value)
    assert "data:/points@1 is not complete in the local store: 'points.csv'" in message
    assert "'loopml data pull'" in message


def test_a_pinned_version_whose_manifest_is_missing_is_not_found_naming_data_pull(
    story: Story,
) -> None:
    story.back_to_the_old_commit()
    _object(story.root, read_lock()["points"].manifest).unlink()
    with pytest.raises(NotFound) as err:
        get_dataset("data:/points")
    message = str(err.value)
    assert "data:/points@1, pinned in loopml.lock, is not in the local store" in message
    assert "'loopml data pull'" in message


def test_a_lock_pinning_what_this_database_does_not_hold_is_not_found(story: Story) -> None:
    lock = story.root / "loopml.lock"
    text = lock.read_text()
    lock.write_text(text.replace("version = 2", "version = 7"))
    with pytest.raises(NotFound, match=r"pins data:/points@7 .* which the metadata database"):
        get_dataset("points")
    # a lock written against another database: its version 1 holds this one's version 2
    lock.write_text(story.new_lock.decode().replace("version = 2", "version = 1"))
    with pytest.raises(NotFound, match=r"written against another database"):
        get_dataset("points")


def test_every_reader_of_data_follows_the_same_rule(story: Story) -> None:
    story.back_to_the_old_commit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert loopml.lineage.resolve("data:/points").uri == "data:/points@1"
        assert loopml.lineage.resolve("data:/points@latest").uri == "data:/points@2"
        with loopml.start_run() as run:
            assert run.use_dataset("data:/points").uri == "data:/points@1"
        assert loopml.tracking.datasets_read(run.id) == ["data:/points@1"]
        checked = loopml.validate("points", reference="points@2", store=False)
        assert checked.source == "data:/points@1"
        assert loopml.infer_suite("data:/points").name == "data:/points@1"
        diff = loopml.data.diff_versions("points", "points@latest")
        assert (diff.a, diff.b) == ("data:/points@1", "data:/points@2")
        assert [r.version for r in checkout("points")] == [1]
        assert read_lock()["points"].version == 1
        assert [r.version for r in checkout("points@latest")] == [2]  # @latest: the newest
        assert read_lock()["points"].version == 2 and story.csv.read_text() == V2


def test_the_rule_holds_in_a_client_of_another_project(
    backend: str, story: Story, tmp_path: Path
) -> None:
    story.back_to_the_old_commit()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(story.root, elsewhere)
    (elsewhere / "loopml.lock").write_bytes(story.new_lock)
    client = loopml.Client(elsewhere, tracking_uri=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert client.get_dataset("points").version == 2  # that project's lock pins 2
    with pytest.warns(loopml.DatasetNotice):
        assert loopml.get_dataset("points").version == 1  # this one's pins 1


def test_a_named_version_resolves_without_reading_the_lock(story: Story) -> None:
    (story.root / "loopml.lock").write_text("this is not TOML [")
    found = loopml.data.resolve_dataset("points@1")
    assert (found.uri, found.pinned, found.newest, found.notice) == (
        "data:/points@1",
        None,
        None,
        None,
    )
    with pytest.raises(loopml.InvalidInput, match="is not a valid loopml lock file"):
        get_dataset("points")  # a bare name needs the lock: a broken one is an error
