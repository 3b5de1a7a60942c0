"""Hostile and careless input meets a clear error, and secrets never reach a message,
a repr or a run record."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopml
from loopml.context import current
from loopml.errors import InvalidInput, MissingExtra, NotFound, StoreError

SECRET = "hunter2SECRET"


def test_settings_never_show_a_password(project: Path) -> None:
    settings = loopml.configure(
        tracking_uri=f"postgresql://me:{SECRET}@db.example/prod",
        artifact_uri=f"s3://KEYID:{SECRET}@bucket/x?token={SECRET}",
        data_remote=f"s3://bucket/remote?X-Amz-Signature={SECRET}",
    )
    for shown in (repr(settings), repr(settings.store), repr(settings.data)):
        assert SECRET not in shown
        assert "me:***@db.example" in repr(settings) or "***" in shown


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:SEC%ZZ{SECRET}@127.0.0.1:1/db",  # a bad percent-escape
        f"postgresql://u:{SECRET}@127.0.0.1:1/db",  # nobody listens on port 1
    ],
)
def test_a_database_that_cannot_be_reached_is_a_store_error_without_the_password(
    project: Path, url: str
) -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as err:
        current().metadata_at(url)
    assert SECRET not in str(err.value) and "u:***@127.0.0.1:1/db" in str(err.value)


def test_artifact_url_errors_do_not_show_keys(project: Path) -> None:
    from loopml.store.artifacts import open_artifact_store

    with pytest.raises(InvalidInput) as err:
        open_artifact_store(f"nosuchproto://u:{SECRET}@host/x")
    assert SECRET not in str(err.value)
    store = open_artifact_store(f"memory://u:{SECRET}@bucket/objects")
    assert SECRET not in repr(store)
    with pytest.raises(NotFound) as missing:
        store.get_bytes("0" * 64)
    assert SECRET not in str(missing.value)
    try:
        open_artifact_store(f"gs://u:{SECRET}@bucket/x")
    except MissingExtra as exc:  # gcsfs is not installed here
        assert SECRET not in str(exc)


def test_a_run_records_its_command_line_without_secrets(project: Path) -> None:
    code = "import loopml\nwith loopml.start_run('cli') as run:\n    pass\nprint(run.id)\n"
    argv = [f"postgresql://u:{SECRET}@h/db", "--password", SECRET, f"--api-key={SECRET}"]
    out = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")},
    )
    run = loopml.get_run(out.stdout.strip())
    assert run.command is not None and SECRET not in run.command
    assert "u:***@h/db" in run.command and "--password '***'" in run.command.replace('"', "'")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[store]\ntracking_uri = '\xff\xfe'\n", "not valid TOML"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "too deeply|not valid TOML|unknown"),
        (b"[tracking]\nflush_interval = 1e-300\n", "flush_interval"),
        (b"[store]\ntracking_uri = 'sqlite:x.db'\n", "malformed tracking URI"),
    ],
)
def test_a_bad_loopml_toml_is_a_clear_error(project: Path, content: bytes, message: str) -> None:
    (project / "loopml.toml").write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        current().settings  # noqa: B018


def test_a_tilde_in_a_tracking_path_means_home(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(project / "home"))
    loopml.configure(tracking_uri="~/runs.db")
    assert current().settings.tracking_uri == f"sqlite:///{project / 'home' / 'runs.db'}"


def test_values_no_database_can_store_are_refused_alike(project: Path) -> None:
    with loopml.start_run("nul") as run:
        with pytest.raises(InvalidInput, match="NUL"):
            run.log_param("p", "a\x00b")
        with pytest.raises(InvalidInput, match="NUL"):
            run.set_tag("t", "a\x00b")
    with pytest.raises(InvalidInput, match="NUL"):
        loopml.start_run("nul", run_name="a\x00b")
    (project / "d.csv").write_text("x\n1\n")
    with pytest.raises(InvalidInput, match="NUL"):
        loopml.add_dataset(project / "d.csv", "d", message="a\x00b")
    with pytest.raises(InvalidInput, match="version"):
        loopml.get_dataset("data:/d@99999999999999999999999")


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ("(" * 3000 + "status = 'RUNNING'" + ")" * 3000, "too deeply"),
        ("not " * 3000 + "status = 'RUNNING'", "too deeply"),
        ("name LIKE 'a" + "\\\\" + "'", "ends in an escaping"),
        ("name LIKE '" + "a" * 2000 + "'", "at most 1000"),
    ],
)
def test_filters_built_to_break_the_parser_or_the_database_are_refused(
    backend: str, filter: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        loopml.search_runs(filter)


def test_a_damaged_stat_cache_is_rebuilt_not_fatal(project: Path) -> None:
    data = project / "data"
    data.mkdir()
    for i in range(3):
        (data / f"{i}.txt").write_text(str(i))
    loopml.add_dataset(data, "d")
    stat_db = project / ".loopml" / "cache" / "stat.db"
    blob = bytearray(stat_db.read_bytes())
    blob[100:4096] = b"\xff" * (4096 - 100)  # a torn header and first page
    stat_db.write_bytes(bytes(blob))
    assert [s.state for s in loopml.data.status()] == ["unchanged"]
    (data / "3.txt").write_text("3")
    assert loopml.add_dataset(data, "d").version == 2
    assert [s.state for s in loopml.data.status()] == ["unchanged"]


def test_gc_ignores_links_and_folders_planted_among_the_objects(project: Path) -> None:
    (project / "d.csv").write_text("x\n1\n")
    loopml.add_dataset(project / "d.csv", "d")
    objects = project / ".loopml" / "artifacts" / "objects" / "ab"
    objects.mkdir(parents=True, exist_ok=True)
    (objects / ("c" * 62)).symlink_to(project / "nowhere")
    (objects / ("d" * 62)).mkdir()
    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert report.removed == [] and report.kept >= 2
    assert (objects / ("d" * 62)).is_dir()


def test_a_pipeline_target_outside_the_project_is_refused(project: Path) -> None:
    with pytest.raises(InvalidInput, match="module:function"):
        loopml.load_pipeline("../escape:run")


def test_db_commands_print_the_database_without_its_password(project: Path) -> None:
    from tests.conftest import PG_ENV, require_service
    from typer.testing import CliRunner

    from loopml.cli import app

    base = require_service(PG_ENV, "PostgreSQL")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}password={SECRET}"  # trust auth ignores it; it must still be hidden
    result = CliRunner().invoke(app, ["db", "upgrade", "--tracking-uri", url])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "password=***" in result.output


def _non_utf8_folder(root: Path) -> Path:
    folder = root / "d"
    folder.mkdir()
    (folder / "ok.csv").write_text("a\n1\n")
    with open(os.fsencode(folder) + b"/\xff.csv", "wb") as f:
        f.write(b"a\n2\n")
    return folder


def test_a_file_name_that_is_not_utf8_is_named_not_a_traceback(project: Path) -> None:
    folder = _non_utf8_folder(project)
    for profile in (True, False):
        with pytest.raises(InvalidInput, match=r"'\\xff\.csv', whose name is not valid UTF-8"):
            loopml.add_dataset(folder, "d", profile=profile)
    assert not _known("d")  # nothing recorded
    with loopml.start_run("e") as run, pytest.raises(InvalidInput, match="not valid UTF-8"):
        run.log_artifact(folder)
    assert loopml.tracking.list_artifacts(run.id) == []


def _known(name: str) -> bool:
    try:
        loopml.data.dataset_versions(name)
    except NotFound:
        return False
    return True


def test_text_with_a_lone_surrogate_is_refused_before_it_reaches_a_store(
    project: Path,
) -> None:
    with loopml.start_run("e") as run:
        with pytest.raises(InvalidInput, match="surrogate"):
            run.log_dict({"k": "\ud800"}, "x.json")
        with pytest.raises(InvalidInput, match="surrogate"):
            run.log_dict({"\udcff": 1}, "x.yaml")
        with pytest.raises(InvalidInput, match="not valid Unicode"):
            run.log_dict({"k": 1}, "\ud800.json")
        with pytest.raises(InvalidInput, match="not valid Unicode"):
            run.set_tag("t", "\ud800")
        with pytest.raises(InvalidInput, match="must be strings, got list"):
            run.log_param(["a"], 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="must be strings, got list"):
            run.log_metric(["a"], 1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        loopml.start_run("e", run_name="\ud800")
    assert loopml.tracking.list_artifacts(run.id) == []


def test_a_name_longer_than_the_limit_is_refused_with_a_short_message(project: Path) -> None:
    (project / "d.csv").write_text("a\n1\n")
    with pytest.raises(InvalidInput) as err:
        loopml.add_dataset(project / "d.csv", "x" * 300)
    assert "300 characters long; the limit is 255" in str(err.value)
    assert len(str(err.value)) < 200
    with pytest.raises(InvalidInput, match="limit is 255"):
        loopml.get_dataset("data:/" + "x" * 300 + "@1")


def test_wrong_types_at_the_doors_name_the_argument(project: Path) -> None:
    cases = [
        (lambda: loopml.search_runs("", experiment=[1]), "each of experiment must be text"),
        (lambda: loopml.search_runs("", max_results=2**70), "max_results"),
        (lambda: loopml.tracking.list_artifacts("0" * 32, 5), "artifact prefix must be text"),
        (lambda: loopml.tracking.child_runs("0" * 32, ["step"]), "kind must be text"),
        (lambda: loopml.load_study(["s"]), "study name must be text"),
        (lambda: loopml.add_dataset(3, "d"), "dataset path must be a path"),
        (lambda: loopml.data.status(3), "names must be text or a list"),
        (lambda: loopml.data.push(3), "remote URL must be text"),
        (lambda: loopml.Client(["."]), "project_root must be a path"),
        (lambda: loopml.Client(".", tracking_uri="a\x00b"), "NUL"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidInput, match=message):
            call()


def test_a_suite_file_that_cannot_be_read_is_a_clear_error(project: Path) -> None:
    from loopml.validation import Suite

    (project / "folder.yaml").mkdir()
    (project / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput, match="cannot read the suite file"):
        Suite.load(project / "folder.yaml")
    with pytest.raises(InvalidInput, match="not UTF-8 text"):
        Suite.load(project / "binary.json")
    with pytest.raises(InvalidInput, match="longer than the OS allows"):
        Suite.load("x" * 300 + ".yaml")


def test_saving_a_suite_replaces_the_file_whole(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.validation import Suite

    suite = loopml.infer_suite(_frame())
    target = project / "suite.yaml"
    target.write_text("name: old\nchecks: []\n")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(StoreError, match="cannot write the suite .*No space left"):
        suite.save(target)
    monkeypatch.undo()
    assert target.read_text() == "name: old\nchecks: []\n"  # untouched, not half-written
    assert [p.name for p in project.iterdir() if p.name.startswith(".suite")] == []
    suite.save(target)
    assert Suite.load(target).to_dict() == suite.to_dict()


def _frame() -> object:
    import pandas as pd

    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})


def test_an_artifact_store_that_cannot_be_reached_is_unavailable(project: Path) -> None:
    from loopml.errors import Unavailable
    from loopml.store.artifacts import FsspecArtifactStore

    with pytest.raises(Unavailable, match=r"cannot reach the artifact store 'ftp://u:\*\*\*@"):
        FsspecArtifactStore(f"ftp://u:{SECRET}@host.invalid/x")
