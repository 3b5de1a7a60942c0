"""Every command and code block in the README and docs/ is run, in order.

Per document, the blocks run in one empty folder: ```bash / ```sh blocks line
by line through bash (with this interpreter's ``loopml`` on PATH), ```python
blocks each in a fresh interpreter. A block right after a
``<!-- docs-test: skip ... -->`` comment is not run (the install commands).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(<!--\s*docs-test:\s*skip[^>]*-->\s*\n)?```(\w+)\n(.*?)```", re.S)


def blocks(path: Path) -> list[tuple[str, str]]:
    """The runnable (language, code) blocks of a Markdown file."""
    found = []
    for m in FENCE.finditer(path.read_text(encoding="utf-8")):
        skip, lang, code = m.groups()
        if skip or lang not in ("bash", "sh", "python"):
            continue
        found.append((lang, code))
    return found


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "160"
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        env[f"{var}_NAME"] = "Docs Test"
        env[f"{var}_EMAIL"] = "docs@example.com"
    return env


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_block_of_the_document_runs(doc: Path, tmp_path: Path) -> None:
    found = blocks(doc)
    assert found, f"{doc.name} has no runnable blocks"
    env = _env()
    for lang, code in found:
        if lang == "python":
            result = subprocess.run(
                [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert result.returncode == 0, (
                f"{doc.name} python block failed:\n{code}\n{result.stderr}"
            )
            continue
        for line in code.splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            result = subprocess.run(
                ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert result.returncode == 0, (
                f"{doc.name}: `{line}` failed:\n{result.stdout}\n{result.stderr}"
            )


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8")[:400]
    assert "make demo" in head and "make test" in head
