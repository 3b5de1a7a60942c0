"""``loopml data remove / list / log / show / diff / validate``, ``gc --remote`` and
``db migrate`` at 80 columns: what they do to the stores, and what people read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.errors import Conflict, InvalidInput, NotFound

runner = CliRunner()


def _run(*args: str, width: bool = True) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    if width:
        _reads_at_80(result.output)
    return result.output


def _reads_at_80(out: str) -> None:
    """Every line but the table's notes (which the terminal wraps) fits 80 columns."""
    for line in out.splitlines():
        if not line.startswith("("):
            assert len(line.rstrip()) <= 80, line


def _csv(project: Path, rows: int = 2) -> Path:
    path = project / "data" / "iris.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(rows)))
    return path


# -- add: default name and .gitignore ---------------------------------------------------


def test_add_names_the_dataset_after_the_file_and_ignores_it_in_git(project: Path) -> None:
    _csv(project)
    out = _run("data", "add", "data/iris.csv")
    assert "added data:/iris@1" in out
    assert "added /data/iris.csv to .gitignore" in out
    assert (project / ".gitignore").read_text() == "/data/iris.csv\n"
    (project / "data" / "iris.csv").write_text("a,b\n9,9\n")
    out = _run("data", "add", "data/iris.csv", "-m", "second")
    assert "added data:/iris@2" in out and ".gitignore" not in out
    assert (project / ".gitignore").read_text() == "/data/iris.csv\n"  # listed once


def test_a_folder_is_named_after_itself_and_an_ignored_parent_is_respected(
    project: Path,
) -> None:
    (project / ".gitignore").write_text("# mine\n/raw/\n")
    images = project / "raw" / "images"
    images.mkdir(parents=True)
    (images / "1.txt").write_text("one")
    out = _run("data", "add", "raw/images")
    assert "added data:/images@1" in out and ".gitignore" not in out
    assert (project / ".gitignore").read_text() == "# mine\n/raw/\n"


def test_a_path_whose_name_is_no_dataset_name_asks_for_name(project: Path) -> None:
    bad = project / "_hidden.csv"
    bad.write_text("a\n1\n")
    with pytest.raises(InvalidInput, match=r"'_hidden' is not a valid dataset name.*--name"):
        loopml.add_dataset(bad)
    assert loopml.add_dataset(bad, "hidden").uri == "data:/hidden@1"


def test_data_outside_the_project_is_not_put_in_gitignore(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("a\n1\n")
    v = loopml.add_dataset(outside)
    assert v.name == "elsewhere" and v.gitignored is None
    assert not (project / ".gitignore").exists()


# -- remove ------------------------------------------------------------------------------


def test_remove_unpins_hides_and_keeps_the_data_until_gc(project: Path) -> None:
    path = _csv(project)
    loopml.add_dataset(path)
    path.write_text("a,b\n5,5\n")
    loopml.add_dataset(path)
    out = _run("data", "remove", "iris")
    assert "removed dataset iris (2 version(s))" in out
    assert "iris" not in loopml.data.read_lock()
    assert loopml.list_datasets() == []
    assert "No datasets yet" in _run("data", "list")
    with pytest.raises(NotFound, match="it was removed"):
        loopml.get_dataset("iris@1")
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        loopml.data.remove_dataset("nope")
    err = runner.invoke(app, ["data", "remove", "nope"]).exception
    assert isinstance(err, NotFound) and "'nope'" in str(err)

    # the dry run changes nothing; --force purges the versions and their objects
    objects = len(list(loopml.Client(project).artifacts.iter_objects()))
    report = loopml.gc(dry_run=True, grace_seconds=0)
    assert report.purged == ["data:/iris@1", "data:/iris@2"]
    assert len(report.removed) == objects
    assert len(list(loopml.Client(project).artifacts.iter_objects())) == objects
    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert report.purged == ["data:/iris@1", "data:/iris@2"]
    assert list(loopml.Client(project).artifacts.iter_objects()) == []
    assert loopml.gc(dry_run=True).purged == []
    assert loopml.add_dataset(path).uri == "data:/iris@1"  # purged: numbering starts anew


def test_adding_a_removed_name_again_continues_its_numbering(project: Path) -> None:
    path = _csv(project)
    loopml.add_dataset(path)
    loopml.data.remove_dataset("iris")
    path.write_text("a,b\n7,7\n")
    v = loopml.add_dataset(path)
    assert v.uri == "data:/iris@2" and v.is_new
    assert [x.version for x in loopml.data.dataset_versions("iris")] == [1, 2]
    assert loopml.data.read_lock()["iris"].version == 2


# -- tables ----------------------------------------------------------------------------------


def test_list_and_log_show_the_pinned_version(project: Path) -> None:
    path = _csv(project)
    loopml.add_dataset(path, message="first")
    path.write_text("a,b\n1,1\n2,2\n3,3\n")
    loopml.add_dataset(path, message="second")
    loopml.data.checkout("iris@1")
    out = _run("data", "list")
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["name", "latest", "pinned"]
    assert row.split()[:3] == ["iris", "2", "1"]
    rows = json.loads(_run("data", "list", "--format", "json"))
    assert rows[0]["latest"] == 2 and rows[0]["pinned"] == 1 and rows[0]["uri"] == "data:/iris@2"
    assert (
        _run("data", "list", "--format", "csv", "--columns", "name,pinned")
        == "name,pinned\niris,1\n"
    )
    log = _run("data", "log", "iris").splitlines()
    assert log[1].split()[:2] == ["2", "1"] and "second" in log[1]
    assert log[2].split()[:2] == ["1", "pinned"] and "first" in log[2]


def test_show_and_diff_take_every_reference_form_and_fit_80_columns(project: Path) -> None:
    path = project / "wide.csv"
    path.write_text("a_rather_long_column_name,b\n1234567.5,x\n2,y\n")
    loopml.add_dataset(path)
    path.write_text("a_rather_long_column_name,b,c\n1234567.5,x,1\n2,y,2\n3,z,3\n")
    loopml.add_dataset(path)
    for ref in ("wide", "wide@2", "data:/wide@2"):
        out = _run("data", "show", ref)
        assert "data:/wide@2" in out and "wide.csv: 3 rows" in out
    assert "1234568" in _run("data", "show", "wide@1")  # numbers whole
    files = json.loads(_run("data", "show", "wide@1", "--format", "json"))
    assert files[0]["path"] == "wide.csv" and len(files[0]["hash"]) == 64
    out = _run("data", "diff", "wide@1", "data:/wide@2")
    assert re.search(r"modified\s+wide\.csv", out)
    assert "rows: 2 → 3 (+1)" in out and "+ column c" in out
    changes = json.loads(_run("data", "diff", "wide@1", "wide@2", "--format", "json"))
    assert [c["change"] for c in changes] == ["modified", "column added"]


def test_lineage_takes_a_bare_dataset_reference(project: Path) -> None:
    loopml.add_dataset(_csv(project))
    out = _run("lineage", "iris@1")
    assert "data:/iris@1" in out
    assert loopml.get_lineage("iris").uri == "data:/iris@1"


def test_validate_takes_a_plain_file(project: Path) -> None:
    loopml.add_dataset(_csv(project, rows=5))
    fresh = project / "incoming.csv"
    fresh.write_text("a,b\n1,2\n500,4\n")
    out = runner.invoke(
        app,
        ["data", "validate", str(fresh), "--reference", "iris@1"],
        env={"COLUMNS": "80"},
        terminal_width=80,
    )
    assert out.exit_code == 1, out.output
    _reads_at_80(out.output)
    assert re.search(r"failed\s+a in \[0, 5\]\s+error\s+1\s+500", out.output)
    assert "stored as" not in out.output  # a plain file's result is not stored
    ok = _run("data", "validate", "iris@1", "--reference", str(project / "data" / "iris.csv"))
    assert "passed" in ok
    with pytest.raises(InvalidInput, match="not a table loopml can read"):
        (project / "notes.txt").write_text("hi")
        loopml.data.read_tabular_file(project / "notes.txt")


# -- gc --remote -------------------------------------------------------------------------------


def test_gc_remote_removes_only_what_no_version_references(project: Path) -> None:
    remote = project.parent / "remote"
    small = _csv(project)
    big = project / "big.bin"
    big.write_bytes(bytes(range(256)) * 5000)  # over 1 MiB: a single object on the remote
    loopml.add_dataset(small)
    loopml.add_dataset(big)
    loopml.data.push(str(remote))
    small.write_text("a,b\n8,8\n")
    loopml.add_dataset(small)
    loopml.data.push(str(remote))
    loopml.data.remove_dataset("big")

    # a removed dataset's objects are kept until gc purges it
    assert loopml.data.gc_remote(str(remote), grace_seconds=0).removed == []
    loopml.gc(dry_run=False, grace_seconds=0)
    singles = sorted(p.name for p in (remote / "objects").rglob("*") if p.is_file())

    young = loopml.data.gc_remote(str(remote))  # an hour's grace: nothing is old enough
    assert young.removed == [] and young.young == 2

    dry = loopml.data.gc_remote(str(remote), grace_seconds=0)
    assert len(dry.removed) == 2 and dry.removed_bytes > 1_000_000 and dry.repacked == 1
    assert sorted(p.name for p in (remote / "objects").rglob("*") if p.is_file()) == singles

    out = _run("gc", "--remote", str(remote), "--grace", "0", "--force")
    assert "removed 2 objects (1.2 MiB)" in " ".join(out.split())
    assert not any(p.is_file() for p in (remote / "objects").rglob("*"))
    assert loopml.data.gc_remote(str(remote), grace_seconds=0).removed == []
    assert loopml.fsck(remote=str(remote)).ok

    # every live object still comes back from the remote
    import shutil

    shutil.rmtree(project / ".loopml" / "artifacts")
    assert loopml.data.pull(str(remote)).transferred == 2  # iris@2, pinned: manifest, file
    loopml.data.checkout()
    assert small.read_text() == "a,b\n8,8\n"


def test_gc_remote_refuses_when_a_manifest_is_nowhere(project: Path) -> None:
    loopml.add_dataset(_csv(project))
    remote = project.parent / "empty-remote"
    remote.mkdir()
    import shutil

    shutil.rmtree(project / ".loopml" / "artifacts")
    with pytest.raises(NotFound, match="nothing was removed"):
        loopml.data.gc_remote(str(remote), grace_seconds=0)


# -- db migrate ------------------------------------------------------------------------------


@pytest.fixture
def pg_target() -> object:
    from tests.conftest import PG_ENV, postgres_schema_url, require_service

    yield from postgres_schema_url(require_service(PG_ENV, "PostgreSQL"))


def test_db_migrate_copies_every_table_into_an_empty_postgres(
    project: Path, pg_target: str
) -> None:
    loopml.add_dataset(_csv(project), message="m")
    with loopml.start_run(experiment="e") as parent:
        parent.log_metric("f1", 0.5)
        parent.log_param("user", "x")
        with loopml.start_run(experiment="e", nested=True) as child:
            child.set_tag("k", "v")
    secret = pg_target.replace("postgres@", "postgres:hunter2@", 1)
    out = _run("db", "migrate", "--to", secret, width=False)  # a long URL is folded
    assert "hunter2" not in out and "postgres:***@" in out
    assert "row counts match" in " ".join(out.split())

    pg = loopml.Client(project, tracking_uri=pg_target)
    assert pg.schema_revision() == loopml.Client(project).schema_revision()
    assert {r.id for r in pg.search_runs()} == {parent.id, child.id}
    assert pg.get_run(child.id).parent_id == parent.id
    assert pg.get_dataset("iris@1").message == "m"
    with pg.start_run(experiment="later") as later:  # the sequences moved past the copy
        pass
    assert pg.get_run(later.id).experiment == "later"

    with pytest.raises(Conflict, match="is not empty"):
        loopml.migrate_metadata(pg_target)
    result = runner.invoke(app, ["db", "migrate", "--to", secret])
    assert isinstance(result.exception, Conflict) and "hunter2" not in str(result.exception)


def test_db_migrate_refuses_a_target_that_is_not_postgres(project: Path) -> None:
    loopml.add_dataset(_csv(project))
    with pytest.raises(InvalidInput, match="expected a PostgreSQL URL"):
        loopml.migrate_metadata(f"sqlite:///{project / 'other.db'}")
