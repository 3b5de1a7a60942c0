"""``reproduce``: a registered version's pipeline run again at its recorded commit, params
and dataset versions, in a temporary git worktree, with the verdict stored."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.errors import InvalidInput, NotFound
from loopml.evaluation import ReproductionStatus, list_reproductions, reproduce

pytest.importorskip("sklearn")
pytest.importorskip("skops")

if shutil.which("git") is None:  # pragma: no cover - git is on every CI image
    pytest.skip("reproduce checks out commits with git", allow_module_level=True)

PIPE = """
import random
from pathlib import Path

import loopml
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

NOISE = {noise}


@loopml.step
def load(data: str) -> pd.DataFrame:
    return loopml.get_dataset(data).to_pandas()


@loopml.step
def train(frame: pd.DataFrame, c: float, seed: int) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    noisy = frame.assign(a=frame["a"] + rng.normal(0.0, 0.5, len(frame)))
    model = LogisticRegression(C=c, random_state=seed).fit(noisy[["a", "b"]], noisy["y"])
    accuracy = float(model.score(frame[["a", "b"]], frame["y"]))
    loopml.log_metric("accuracy", accuracy + (random.uniform(0.001, 0.01) if NOISE else 0.0))
    if Path("local-only.txt").exists():  # an untracked file: not in a checkout of the commit
        loopml.log_metric("bonus", 1.0)
    if Path("needed.txt").exists():
        Path("needed.txt").read_text()
    elif Path("needed.marker").exists():
        raise FileNotFoundError("needed.txt is not in this checkout")
    return model


@loopml.pipeline
def churn(data: str = "data:/points", c: float = 1.0, seed: int = 7):
    return train(load(data), c, seed)
"""

TOML = """
[pipeline]
entry = "churn_pipe:churn"
"""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def commit_all(root: Path, message: str = "churn pipeline") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def churn(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a dataset (points@1) and a seeded sklearn pipeline, not yet in git."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    (project / "churn_pipe.py").write_text(PIPE.format(noise=False))
    (project / "loopml.toml").write_text(TOML)
    (project / ".gitignore").write_text(".loopml/\n*.txt\n")
    rows = ["a,b,y"] + [f"{i},{i % 3},{int(i >= 20)}" for i in range(40)]
    (project / "points.csv").write_text("\n".join(rows) + "\n")
    loopml.add_dataset(project / "points.csv", name="points")
    return project


@pytest.fixture
def repo(churn: Path) -> Path:
    git(churn, "init", "-q")
    commit_all(churn)
    return churn


def _register(name: str = "churn", **params: object) -> loopml.ModelVersion:
    return loopml.run_and_register(None, name, params=params or None).version


def _worktrees(root: Path) -> list[str]:
    return [
        line for line in git(root, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]  # fmt: skip


def test_a_faithful_rerun_is_reproduced_tracked_linked_and_registers_nothing(
    backend: str, repo: Path
) -> None:
    _register()
    loopml.promote_model("churn", 1, to="staging")
    v1 = loopml.get_model_version("churn", 1)
    seen: list[str] = []
    done = reproduce("models:/churn/1", on_progress=seen.append)

    assert done.status == ReproductionStatus.REPRODUCED, done.message
    assert done.model_identical is True
    assert [m.metric for m in done.metrics] == ["accuracy"]
    (acc,) = done.metrics
    assert acc.matches and acc.difference == 0.0 and acc.original == acc.reproduced
    assert done.datasets == ("data:/points@1",)
    assert done.entry == "churn_pipe:churn"
    assert done.commit == git(repo, "rev-parse", "HEAD").strip()
    assert any("temporary worktree" in line for line in seen)

    # the new run is tracked in this project's store, at the same commit, linked
    original = loopml.get_run(done.run_id)
    rerun = loopml.get_run(done.reproduced_run_id or "")
    assert rerun.kind == "pipeline" and rerun.status == "FINISHED"
    assert rerun.git_commit == original.git_commit and rerun.git_dirty is False
    assert rerun.params == original.params
    assert rerun.tags["loopml.reproduces"] == original.id
    assert loopml.tracking.datasets_read(rerun.id) == ["data:/points@1"]
    edges = loopml.lineage.downstream(original.uri)
    assert any(e.dst == rerun.uri and e.relation == "reproduces" for e in edges)

    # nothing registered, no alias moved, the worktree is gone
    assert [v.version for v in loopml.search_model_versions("name = 'churn'")] == [1]
    assert loopml.get_model_version("churn", alias="staging").version == 1
    assert loopml.get_model_version("churn", 1) == v1
    assert len(_worktrees(repo)) == 1
    assert done.worktree is None

    (stored,) = list_reproductions("churn", 1)
    assert stored.id == done.id and stored.status == ReproductionStatus.REPRODUCED
    assert stored.metrics == done.metrics and stored.commit == done.commit


def test_unseeded_noise_is_different_beyond_the_tolerance_and_reproduced_within_a_loose_one(
    churn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.cli import _output, app

    (churn / "churn_pipe.py").write_text(PIPE.format(noise=True))
    git(churn, "init", "-q")
    commit_all(churn)
    _register()
    monkeypatch.setattr(_output.console, "_width", 80)
    monkeypatch.setattr(_output.err_console, "_width", 80)
    strict = CliRunner().invoke(app, ["models", "reproduce", "churn/1"], env={"COLUMNS": "80"})
    assert strict.exit_code == 1, strict.output
    out = strict.stdout
    assert "DIFFERENT" in out and "accuracy" in out, out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    (different,) = list_reproductions("churn", 1)
    (acc,) = different.metrics
    assert different.status == ReproductionStatus.DIFFERENT and not acc.matches
    assert acc.difference is not None and 1e-6 < abs(acc.difference) < 0.01
    assert "accuracy differs by" in different.message

    loose = reproduce("models:/churn/1", tolerance=0.05)
    assert loose.status == ReproductionStatus.REPRODUCED, loose.message
    assert loose.metrics[0].difference != 0.0
    assert [r.status for r in list_reproductions("churn", 1)] == ["REPRODUCED", "DIFFERENT"]


def test_a_pipeline_that_fails_in_the_worktree_is_a_stored_failed_verdict(
    churn: Path,
) -> None:
    (churn / "needed.txt").write_text("only here")  # gitignored: not in the commit
    (churn / "needed.marker").write_text("")
    git(churn, "init", "-q")
    git(churn, "add", "-f", "needed.marker")
    commit_all(churn)
    _register()
    done = reproduce("models:/churn/1")
    assert done.status == ReproductionStatus.FAILED
    assert "needed.txt is not in this checkout" in done.message
    assert done.metrics == ()
    rerun = loopml.get_run(done.reproduced_run_id or "")
    assert rerun.status == "FAILED"
    assert list_reproductions("churn")[0].status == ReproductionStatus.FAILED
    assert len(_worktrees(churn)) == 1


def test_a_metric_only_one_run_logged_is_different_and_keep_leaves_the_worktree(
    repo: Path,
) -> None:
    (repo / "local-only.txt").write_text("")  # untracked: the re-run logs no bonus
    _register()
    done = reproduce("models:/churn/1", keep=True)
    try:
        assert done.status == ReproductionStatus.DIFFERENT
        bonus = next(m for m in done.metrics if m.metric == "bonus")
        assert (bonus.original, bonus.reproduced, bonus.matches) == (1.0, None, False)
        assert "bonus only in the original run" in done.message
        assert done.worktree is not None and (Path(done.worktree) / "churn_pipe.py").exists()
        assert len(_worktrees(repo)) == 2
    finally:
        git(repo, "worktree", "remove", "--force", done.worktree or "")


def test_an_interrupted_reproduction_removes_its_worktree_and_stores_nothing(
    repo: Path,
) -> None:
    _register()

    def interrupt(event: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reproduce("models:/churn/1", on_event=interrupt)
    assert len(_worktrees(repo)) == 1
    assert list_reproductions("churn") == []


# -- refused before anything runs: one line, nothing stored --------------------------


def _refused(model: str, error: type[Exception], *words: str) -> None:
    before = loopml.search_model_versions("name = 'churn'")
    with pytest.raises(error) as caught:
        reproduce(model)
    text = str(caught.value)
    assert "\n" not in text, text
    for word in words:
        assert word in text, text
    assert list_reproductions() == []
    assert loopml.search_model_versions("name = 'churn'") == before


def test_a_run_outside_git_is_refused(churn: Path) -> None:
    _register()
    _refused("models:/churn/1", InvalidInput, "recorded no git commit")


def test_a_dirty_tree_is_refused_naming_the_commit(repo: Path) -> None:
    with (repo / "churn_pipe.py").open("a") as fh:
        fh.write("\n# an uncommitted change\n")
    _register()
    commit = git(repo, "rev-parse", "HEAD").strip()
    _refused("models:/churn/1", InvalidInput, "dirty tree", commit[:12], "may not hold the code")


def test_a_commit_the_repository_no_longer_has_is_refused(repo: Path) -> None:
    version = _register()
    commit = loopml.get_run(loopml.get_run(version.run_id).parent_id or "").git_commit
    shutil.rmtree(repo / ".git")  # history rewritten: a fresh repository
    git(repo, "init", "-q")
    commit_all(repo, "rewritten")
    _refused("models:/churn/1", NotFound, (commit or "")[:12], "not in the git repository")


def test_a_dataset_version_whose_objects_are_gone_names_data_pull(repo: Path) -> None:
    _register()
    from loopml.context import current

    version = loopml.get_dataset("data:/points@1")
    for entry in version.files():
        current().artifacts.delete(entry.digest)
    _refused("models:/churn/1", NotFound, "data:/points@1", "loopml data pull")


def test_a_version_logged_with_log_model_is_refused_naming_what_reproduce_needs(
    repo: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with loopml.start_run(experiment="plain") as run:
        loopml.log_model(clf)
    loopml.register_model(f"runs:/{run.id}/model", "churn")
    _refused(
        "models:/churn/1", InvalidInput, run.id, "not a pipeline step", "loopml run --register"
    )


@pytest.mark.parametrize("tolerance", [-1.0, float("nan"), float("inf"), "0.1", True])
def test_a_bad_tolerance_is_refused(repo: Path, tolerance: object) -> None:
    with pytest.raises(InvalidInput, match="tolerance must be a finite number"):
        reproduce("models:/churn/1", tolerance=tolerance)  # type: ignore[arg-type]


def test_unknown_versions_are_not_found(repo: Path) -> None:
    _register()
    _refused("models:/churn/9", NotFound, "churn")
    _refused("models:/nope/1", NotFound, "nope")
