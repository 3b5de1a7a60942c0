from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.pipelines.conftest import HELPERS, PIPE, ProjectCode

from loopml.cli import main


def _loopml(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def entry(project: Path, code: ProjectCode) -> Path:
    code.write("helpers", HELPERS)
    code.write("pipe", PIPE)
    (project / "loopml.toml").write_text('[pipeline]\nentry = "pipe:sums"\n\n[params]\nn = 4\n')
    return project


def test_loopml_run_runs_the_entry_and_explains_the_cache(
    entry: Path, code: ProjectCode, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = _loopml(capsys, "run")
    assert status == 0, out
    assert "FINISHED" in out and "0 from the cache" in out
    for name in ("load", "cleaned", "total"):
        assert name in out

    code.write("helpers", HELPERS.replace("x >= 0", "0 <= x"))
    code.load("pipe")
    status, out = _loopml(capsys, "run", "--explain", "-p", "scale=5")
    assert status == 0, out
    assert "load: hit" in out
    assert "cleaned: miss: project code changed: helpers.clean (compared with cache:/" in out
    assert "total: miss: params changed: scale (compared with cache:/" in out


def test_loopml_run_refuses_an_unknown_param_before_running(
    entry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = _loopml(capsys, "run", "-p", "sclae=5")
    assert status == 1
    assert "unknown parameter 'sclae'" in out and "n, scale" in out
    assert not (entry / ".loopml" / "artifacts").exists()


def test_loopml_run_without_an_entry_says_how_to_set_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = _loopml(capsys, "run")
    assert status == 1
    assert "[pipeline]" in out and "entry" in out


def test_loopml_run_in_a_subprocess_reports_a_failed_step(entry: Path) -> None:
    (entry / "pipe.py").write_text(PIPE.replace("return sum(xs) * scale", "raise KeyError('k')"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    done = subprocess.run(
        [sys.executable, "-c", "from loopml.cli import main; main()", "run", "--explain"],
        cwd=entry,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed" in done.stdout
    assert "step 'total' of pipeline 'sums' failed" in done.stderr
    assert "KeyError" in done.stderr
