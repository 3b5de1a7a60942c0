"""``loopml fsck``: what it checked, what it found and repaired, and what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
import loopml.context
from loopml.cli import app
from loopml.store.artifacts import LocalArtifactStore

runner = CliRunner()


def _corrupt_one(project: Path) -> str:
    (project / "a.txt").write_text("precious")
    digest = loopml.add_dataset(project / "a.txt", "a").files()[0].digest
    path = LocalArtifactStore(project / ".loopml" / "artifacts").path(digest)
    os.chmod(path, 0o644)
    path.write_text("rotten!!")
    return digest


def test_fsck_of_a_sound_store_says_so(project: Path) -> None:
    (project / "a.txt").write_text("a")
    loopml.add_dataset(project / "a.txt", "a")
    result = runner.invoke(app, ["fsck"])
    assert result.exit_code == 0, result.output
    assert "checked 2 object(s)" in result.output
    assert "every object is sound" in result.output


def test_fsck_lists_a_corrupt_object_with_what_to_do_and_fails(project: Path) -> None:
    digest = _corrupt_one(project)
    result = runner.invoke(app, ["fsck"])
    assert result.exit_code == 1
    assert "corrupt" in result.output and digest[:16] in result.output
    assert "loopml fsck --remote URL --repair" in result.output


def test_fsck_repair_from_a_remote_reports_what_it_repaired(project: Path, tmp_path: Path) -> None:
    (project / "a.txt").write_text("precious")
    digest = loopml.add_dataset(project / "a.txt", "a").files()[0].digest
    remote = tmp_path / "remote"
    loopml.data.push(str(remote))
    path = LocalArtifactStore(project / ".loopml" / "artifacts").path(digest)
    os.chmod(path, 0o644)
    path.write_text("rotten!!")

    result = runner.invoke(app, ["fsck", "--remote", str(remote), "--repair"])
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output and "from the remote copy" in result.output
    assert "1 repaired, 0 left" in result.output
    again = runner.invoke(app, ["fsck", "--remote", str(remote)])
    assert "every object is sound" in again.output


def test_fsck_checks_the_stores_named_on_the_command_line(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = _corrupt_one(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loopml.context.reset()
    stores = [
        "--tracking-uri",
        f"sqlite:///{project / '.loopml' / 'loopml.db'}",
        "--artifact-uri",
        str(project / ".loopml" / "artifacts"),
    ]
    result = runner.invoke(app, ["fsck", *stores])
    assert result.exit_code == 1
    assert digest[:16] in result.output and str(project / ".loopml" / "artifacts") in result.output
    assert not (elsewhere / ".loopml").exists()
