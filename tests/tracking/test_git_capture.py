from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loopml.context import current
from loopml.tracking import get_run, start_run
from loopml.tracking._capture import environment, git_state


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _owners(digest: str) -> list[str]:
    """Who holds a reference to the stored object ``digest``."""
    with current().metadata.read() as conn:
        return conn.column("SELECT owner FROM object_refs WHERE digest = ?", (digest,))


@pytest.fixture
def repo(project: Path) -> Path:
    """The project folder as a git repository with one commit on branch 'main'."""
    _git(project, "-c", "init.defaultBranch=main", "init", "-q")
    (project / "train.py").write_text("print('v1')\n")
    _git(project, "add", "train.py")
    _git(project, "commit", "-q", "-m", "first")
    return project


def test_dirty_tree_records_commit_branch_and_stores_the_diff(backend: str, repo: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    head = _git(repo, "rev-parse", "HEAD")
    with start_run("exp") as run:
        pass
    stored = get_run(run.id)
    assert stored.git_commit == head and stored.git_branch == "main"
    assert stored.git_dirty is True
    assert stored.git_diff_digest is not None
    diff = current().artifacts.get_bytes(stored.git_diff_digest).decode()
    assert "-print('v1')" in diff and "+print('v2')" in diff
    assert _owners(stored.git_diff_digest) == [run.uri]


def test_clean_tree_is_not_dirty_and_stores_no_diff(backend: str, repo: Path) -> None:
    (repo / "untracked.txt").write_text("not part of the commit\n")
    with start_run("exp") as run:
        pass
    stored = get_run(run.id)
    assert stored.git_dirty is False and stored.git_diff_digest is None
    assert stored.git_commit == _git(repo, "rev-parse", "HEAD")


def test_outside_a_repository_git_fields_are_none(backend: str) -> None:
    with start_run("exp") as run:
        pass
    stored = get_run(run.id)
    assert (stored.git_commit, stored.git_branch, stored.git_dirty) == (None, None, None)
    assert stored.git_diff_digest is None


def test_detached_head_and_missing_git_are_handled(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "--detach")
    state = git_state(repo)
    assert state.commit == head and state.branch is None and state.dirty is False
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    assert git_state(repo).commit is None


def test_environment_lists_python_platform_and_installed_key_packages() -> None:
    import platform

    import numpy

    env = dict(environment())
    assert env["python"] == platform.python_version()
    assert env["numpy"] == numpy.__version__
    assert "loopml" in env


def test_child_run_shares_its_parents_git_state(backend: str, repo: Path) -> None:
    (repo / "train.py").write_text("print('v3')\n")
    with start_run("exp") as parent, start_run(nested=True) as child:
        pass
    p, c = get_run(parent.id), get_run(child.id)
    assert (c.git_commit, c.git_branch, c.git_dirty) == (p.git_commit, "main", True)
    assert c.git_diff_digest == p.git_diff_digest is not None
    assert sorted(_owners(p.git_diff_digest)) == sorted([parent.uri, child.uri])
