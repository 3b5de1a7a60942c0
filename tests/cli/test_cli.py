from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from loopml.cli import app

runner = CliRunner()


def _loopml(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from loopml.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_init_writes_a_commented_config_and_an_ignored_state_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "p" / "loopml.toml").read_text()
    assert "[store]" in text and "# tracking_uri" in text
    assert (tmp_path / "p" / ".loopml" / ".gitignore").read_text().strip().endswith("*")
    again = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert again.exit_code != 0


def test_errors_print_one_line_without_traceback(tmp_path: Path) -> None:
    result = _loopml("lineage", "data:/@@", cwd=tmp_path)
    assert result.returncode == 1
    assert "error:" in result.stderr and "malformed dataset URI" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_variable_shows_the_traceback(tmp_path: Path) -> None:
    result = _loopml("lineage", "data:/@@", cwd=tmp_path, env={"LOOPML_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_db_upgrade_reports_the_revision(project: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    from loopml.store.metadata import SCHEMA_HEAD

    assert SCHEMA_HEAD in result.output


def test_help_lists_every_command_with_its_summary() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("init", "lineage", "gc", "demo", "run", "tune", "data", "runs", "db"):
        assert f" {name} " in result.output, name
    assert "List, show and compare tracked runs." in result.output


def test_a_mistyped_command_suggests_the_close_ones() -> None:
    result = runner.invoke(app, ["rn"])
    assert result.exit_code != 0
    assert "'run'" in result.output and "'runs'" in result.output
