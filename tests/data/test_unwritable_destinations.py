"""Destinations the process cannot write are one-line errors, never tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loopml.data import add_dataset, checkout
from loopml.errors import InvalidInput


def test_checkout_to_a_folder_that_cannot_be_made_is_a_one_line_error(project: Path) -> None:
    data = project / "d"
    data.mkdir()
    (data / "a.txt").write_text("a")
    add_dataset(data, "d")
    blocker = project / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(InvalidInput, match="cannot write") as info:
        checkout("d", blocker / "out")
    assert "\n" not in str(info.value)

    cli = [sys.executable, "-c", "from loopml.cli import main; main()"]
    out = subprocess.run(
        [*cli, "data", "checkout", "d", "--to", str(blocker / "out")],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "cannot write" in out.stderr
