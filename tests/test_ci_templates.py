"""The CI templates of templates/ci run one list of loopml commands, and it works.

Each template is read the way its CI reads it (the GitHub Actions workflow and the
.gitlab-ci.yml as YAML, the Jenkinsfile by its ``sh '...'`` steps); the shell lines
that run ``loopml`` must be the same, in the same order, in all three. Then they are
run, in that order, in a prepared copy of examples/quickstart (``sys.executable -m
loopml`` in place of ``loopml``), so a template that names a command or an option that
does not exist fails here, not in a team's first CI job.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates" / "ci"
EXAMPLE = ROOT / "examples" / "quickstart"

#: ``loopml`` as a command word: not ``loopml[sklearn]`` nor ``$LOOPML_DATA_REMOTE``
COMMAND = re.compile(r"(?<![\w$./-])loopml(?=\s)")
#: what each ``sh`` step of the Jenkinsfile starts with (each step is a new shell)
ACTIVATE = ". .venv/bin/activate && "
SH_STEP = re.compile(r"""^\s*sh\s+(['"])(.*)\1\s*$""", re.M)


def _loopml_lines(lines: list[str]) -> list[str]:
    """The shell lines of ``lines`` that run loopml, whitespace normalised."""
    found = []
    for line in lines:
        if COMMAND.search(line):
            found.append(" ".join(line.split()))
    return found


def github_actions() -> list[str]:
    workflow = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text(encoding="utf-8"))
    lines: list[str] = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            lines += str(step.get("run", "")).splitlines()
    return lines


def gitlab_ci() -> list[str]:
    pipeline = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    lines: list[str] = []
    for job in pipeline.values():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                for entry in job.get(key, []):
                    lines += str(entry).splitlines()
    return lines


def jenkinsfile() -> list[str]:
    text = (TEMPLATES / "Jenkinsfile").read_text(encoding="utf-8")
    return [m.group(2).removeprefix(ACTIVATE) for m in SH_STEP.finditer(text)]


READERS = {
    "github-actions.yml": github_actions,
    "gitlab-ci.yml": gitlab_ci,
    "Jenkinsfile": jenkinsfile,
}


def test_the_three_templates_run_the_same_loopml_commands() -> None:
    commands = {name: _loopml_lines(read()) for name, read in READERS.items()}
    first = commands["github-actions.yml"]
    assert first, "github-actions.yml runs no loopml command"
    for name, found in commands.items():
        assert found == first, f"{name} runs {found}, github-actions.yml runs {first}"
    assert [c for c in first if "data pull" in c] == [
        'if [ -n "$LOOPML_DATA_REMOTE" ]; then loopml data pull; fi'
    ]
    assert any(c.startswith("loopml data validate ") for c in first)
    assert any(c.startswith("loopml run ") and "--to staging" in c for c in first)


@pytest.mark.parametrize("name", sorted(READERS))
def test_each_template_installs_loopml_with_scikit_learn(name: str) -> None:
    installs = [line for line in READERS[name]() if "pip install" in line]
    assert any(re.search(r"loopml\[[\w,]*sklearn", line) for line in installs), installs


def test_a_command_word_is_found_only_where_loopml_runs() -> None:
    assert _loopml_lines(
        [
            "pip install 'loopml[sklearn]'",
            'echo "$LOOPML_DATA_REMOTE"',
            "cd loopml-project",
            "loopml run",
            "if true; then loopml data pull; fi",
        ]
    ) == ["loopml run", "if true; then loopml data pull; fi"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["COLUMNS"] = "200"
    return env


def _sh(root: Path, line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_the_commands_run_in_a_copy_of_the_quickstart(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    root = tmp_path / "quickstart"
    shutil.copytree(
        EXAMPLE,
        root,
        ignore=shutil.ignore_patterns("data", ".loopml", "loopml.lock", "__pycache__"),
    )
    # a smaller forest than params.yaml's: the same commands, a faster fit
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("n_estimators: 60", "n_estimators: 20"))
    loopml = f"{shlex.quote(sys.executable)} -m loopml"
    env = _env()
    for setup in (
        f"{shlex.quote(sys.executable)} prepare.py",
        f"{loopml} data add data/digits.csv --name digits",
        f"{loopml} data push --remote {shlex.quote(str(tmp_path / 'remote'))}",
    ):
        done = _sh(root, setup, env)
        assert done.returncode == 0, f"{setup}\n{done.stdout}\n{done.stderr}"
    env["LOOPML_DATA_REMOTE"] = str(tmp_path / "remote")

    outputs = []
    for line in _loopml_lines(github_actions()):
        done = _sh(root, COMMAND.sub(loopml, line), env)
        assert done.returncode == 0, f"{line} failed:\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout + done.stderr)
    pulled, validated, trained = outputs
    assert "pulled" in pulled
    assert "validation data:/digits@1 passed" in validated
    assert "registered models:/digits/1" in trained and "staging -> v1" in trained
