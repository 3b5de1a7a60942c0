from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_versions_data_tracks_runs_and_prints_lineage(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from loopml.cli import main; main()",
            "demo",
            "--dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "data:/breast-cancer@1" in out
    for name in ("logreg-C0.1", "logreg-C1", "forest-depth3", "forest-depth8"):
        assert name in out
    assert "downstream" in out and out.count("input runs:/") == 4
    assert (tmp_path / "d" / "loopml.lock").is_file()
    assert (tmp_path / "d" / ".loopml" / "loopml.db").is_file()
