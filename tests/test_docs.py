"""Every command and code block in the README and docs/ is run, in order.

Each document is run as a reader would type it: its blocks, top to bottom, in
ONE bash session in an empty folder (so ``cd``, variables and heredocs carry
over from one block to the next), with this interpreter's ``loopml`` on PATH.
A ```bash / ```sh block is pasted into the session as is; a ```python block
runs in a fresh interpreter started from the session (``python - < block.py``), in
the session's current folder. The session stops at the first command that
fails and the test names it. A block right after a
``<!-- docs-test: skip ... -->`` comment is not run (the install commands).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(<!--\s*docs-test:\s*skip[^>]*-->\s*\n)?```(\w+)\n(.*?)```", re.S)
FAILED = "docs-test: failed:"


def blocks(path: Path) -> list[tuple[str, str]]:
    """The runnable (language, code) blocks of a Markdown file."""
    found = []
    for m in FENCE.finditer(path.read_text(encoding="utf-8")):
        skip, lang, code = m.groups()
        if skip or lang not in ("bash", "sh", "python"):
            continue
        found.append((lang, code))
    return found


def session_script(found: list[tuple[str, str]], scratch: Path) -> str:
    """One bash script that runs ``found`` in order, as one shell session would; the
    first failing command is named on stderr after ``FAILED``."""
    lines = [
        "set -eo pipefail",
        f"trap 'echo \"{FAILED} $BASH_COMMAND (exit $?)\" >&2' ERR",
        # a server a guide starts in the background must not outlive a failed session
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ]
    for n, (lang, code) in enumerate(found):
        lines.append(f"# --- block {n + 1} ({lang})")
        if lang == "python":
            source = scratch / f"block{n + 1}.py"
            source.write_text(code, encoding="utf-8")
            lines.append(f"{shlex.quote(sys.executable)} - < {shlex.quote(str(source))}")
        else:
            lines.append(code)
    return "\n".join(lines) + "\n"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "160"
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        env[f"{var}_NAME"] = "Docs Test"
        env[f"{var}_EMAIL"] = "docs@example.com"
    return env


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_block_of_the_document_runs_in_one_shell(doc: Path, tmp_path: Path) -> None:
    found = blocks(doc)
    assert found, f"{doc.name} has no runnable blocks"
    work, scratch = tmp_path / "work", tmp_path / "blocks"
    work.mkdir()
    scratch.mkdir()
    script = session_script(found, scratch)
    result = subprocess.run(
        ["bash", "-c", script], cwd=work, env=_env(), capture_output=True, text=True, timeout=900
    )
    failed = [line for line in result.stderr.splitlines() if line.startswith(FAILED)]
    assert result.returncode == 0, (
        f"{doc.name}: {failed[-1] if failed else 'the session failed'}\n"
        f"--- stdout (end)\n{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}"
    )


def test_a_guide_session_keeps_the_folder_variables_and_heredocs(tmp_path: Path) -> None:
    found = [
        ("bash", "mkdir sub\ncd sub\nNAME=kept\ncat > note.txt <<'EOF'\nfirst\nEOF\n"),
        ("python", "from pathlib import Path\nPath('py.txt').write_text('from python')\n"),
        ("bash", "cat >> note.txt <<EOF\n$NAME\nEOF\ntest -f py.txt\n"),
    ]
    (tmp_path / "w").mkdir()
    (tmp_path / "s").mkdir()
    script = session_script(found, tmp_path / "s")
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path / "w", capture_output=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "w" / "sub" / "note.txt").read_text() == "first\nkept\n"

    found.append(("bash", "true\nfalse\necho never\n"))
    script = session_script(found, tmp_path / "s")
    (tmp_path / "w2").mkdir()
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path / "w2", capture_output=True, text=True
    )
    assert result.returncode != 0 and "never" not in result.stdout
    assert f"{FAILED} false" in result.stderr


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8")[:400]
    assert "make demo" in head and "make test" in head
