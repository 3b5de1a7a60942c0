from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from loopml.cli import _quickstart


def test_demo_versions_data_tracks_runs_and_prints_lineage(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PATH"] = "/usr/bin:/bin"  # a fresh shell, with no virtualenv activated
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from loopml.cli import main; main()",
            "demo",
            "tour",
            "--dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "80"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    shown = out.split("Try:")[0]  # the hints are not wrapped, so they paste whole
    assert max(len(line) for line in shown.splitlines()) <= 80, out
    assert "data:/breast-cancer@1" in out
    for name in ("logreg-C0.1", "logreg-C1", "forest-depth3", "forest-depth8"):
        assert name in out
    assert "downstream" in out and out.count("input runs:/") == 4
    assert "upstream" not in out  # the data came from nothing loopml knows
    assert (tmp_path / "d" / "loopml.lock").is_file()
    assert (tmp_path / "d" / ".loopml" / "loopml.db").is_file()

    # the Compare table: the top 3 of the 4 runs, whole numbers, best first
    compare = out.split("3. Compare")[1].split("4. Lineage")[0].splitlines()[1:]
    assert compare[0].split()[:3] == ["run", "model", "f1"]
    f1 = [float(line.split()[2]) for line in compare[1:4]]
    assert f1 == sorted(f1, reverse=True) and all(0.9 < v < 1 for v in f1)
    assert "(the top 3 of 4 runs with f1 > 0.9, best first)" in out

    # the hints work as printed, from a new shell where loopml is not on PATH
    hints = out.split("Try:")[1].strip().splitlines()
    assert hints[0] == f"cd {shlex.quote(str((tmp_path / 'd').resolve()))}"
    for hint in hints[1:]:
        assert not hint.strip().startswith("loopml ")  # not on PATH here: a path instead
        done = subprocess.run(
            ["bash", "-c", f"cd {tmp_path} && {hints[0].strip()} && {hint.strip()}"],
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "200"},
            timeout=120,
        )
        assert done.returncode == 0, f"{hint}:\n{done.stdout}\n{done.stderr}"
        assert "forest-depth8" in done.stdout or "breast-cancer" in done.stdout


def test_demo_hints_name_loopml_as_the_user_can_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "loopml"
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))

    monkeypatch.setattr(_quickstart.shutil, "which", lambda name: str(script))
    assert _quickstart.loopml_command() == "loopml"  # on PATH: this very script
    monkeypatch.setattr(_quickstart.shutil, "which", lambda name: None)
    assert _quickstart.loopml_command() == str(script)  # not on PATH: its path
    monkeypatch.setattr(_quickstart.shutil, "which", lambda name: "/usr/bin/loopml")
    assert _quickstart.loopml_command() == str(script)  # another loopml on PATH
    script.unlink()
    monkeypatch.setattr(_quickstart.shutil, "which", lambda name: None)
    assert _quickstart.loopml_command() == f"{bin_dir / 'python'} -m loopml"
