"""Soft delete and restore of runs and experiments, listing and renaming experiments, and
gc removing what was deleted for good."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopml
from loopml import start_run
from loopml.context import current
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.tracking import (
    child_runs,
    delete_experiment,
    delete_run,
    get_run,
    list_experiments,
    rename_experiment,
    restore_experiment,
    restore_run,
    search_runs,
)


def _ids(runs: list[loopml.Run]) -> set[str]:
    return {r.id for r in runs}


def _count(sql: str, *args: object) -> int:
    with current().metadata.read() as conn:
        return int(conn.scalar(sql, args))


def test_a_deleted_run_and_its_children_are_hidden_until_restored(backend: str) -> None:
    with (
        start_run("exp", run_name="parent") as parent,
        start_run(nested=True, run_name="child") as child,
    ):
        loopml.log_metric("f1", 0.5)
    with start_run("exp") as other:
        pass
    deleted = delete_run(parent.id[:8])
    assert deleted.deleted and deleted.deleted_at is not None
    assert _ids(search_runs()) == {other.id}
    assert _ids(search_runs(include_deleted=True)) == {parent.id, child.id, other.id}
    # get_run still reads it, and says it is deleted (as MLflow's get_run does)
    assert get_run(child.id).deleted and get_run(child.id).metrics == {"f1": 0.5}
    assert not get_run(other.id).deleted
    with pytest.raises(Conflict, match=f"child of the deleted run {parent.id}"):
        restore_run(child.id)
    restored = restore_run(parent.id)
    assert not restored.deleted and restored.deleted_at is None
    assert _ids(search_runs()) == {parent.id, child.id, other.id}
    assert [c.id for c in child_runs(parent.id)] == [child.id]


def test_deleting_twice_or_restoring_a_live_run_changes_nothing(backend: str) -> None:
    with start_run("exp") as run:
        pass
    first = delete_run(run.id).deleted_at
    assert delete_run(run.id).deleted_at == first
    restore_run(run.id)
    assert not restore_run(run.id).deleted


def test_a_running_run_is_not_deleted_unless_forced(backend: str) -> None:
    run = start_run("exp", run_name="busy")
    try:
        with pytest.raises(Conflict, match=r"cannot delete run .* \(busy\): it is still RUNNING"):
            delete_run(run.id)
        assert not get_run(run.id).deleted
        assert delete_run(run.id, force=True).deleted
    finally:
        run.end()


def test_bad_arguments_are_one_line_errors(backend: str) -> None:
    with pytest.raises(NotFound, match="no run with id"):
        delete_run("abcdef0123")
    with pytest.raises(InvalidInput, match="malformed run id"):
        restore_run("../x")
    with pytest.raises(InvalidInput, match="force must be True or False"):
        delete_run("abcdef0123", force="yes")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no experiment named 'nope'"):
        delete_experiment("nope")


def test_experiments_are_listed_with_run_counts_and_last_run(backend: str) -> None:
    with start_run("a"):
        pass
    with start_run("a") as last:
        pass
    with start_run("b") as gone:
        pass
    delete_run(gone.id)
    found = {e.name: e for e in list_experiments()}
    assert set(found) == {"a", "b"}
    assert found["a"].runs == 2 and found["a"].last_run == get_run(last.id).start_time
    assert found["b"].runs == 0 and found["b"].last_run is None
    assert not found["a"].deleted and found["a"].created <= found["a"].last_run


def test_a_deleted_experiment_hides_its_runs_and_takes_no_new_ones(backend: str) -> None:
    with start_run("old") as run:
        pass
    with start_run("kept") as kept:
        pass
    assert delete_experiment("old").deleted
    assert _ids(search_runs()) == {kept.id}
    assert get_run(run.id).deleted
    assert [e.name for e in list_experiments()] == ["kept"]
    assert [(e.name, e.deleted) for e in list_experiments(include_deleted=True)] == [
        ("kept", False),
        ("old", True),
    ]
    with pytest.raises(NotFound):
        search_runs(experiment="nope")
    with pytest.raises(Conflict, match="experiment 'old' is deleted"):
        start_run("old")
    restore_experiment("old")
    assert _ids(search_runs()) == {kept.id, run.id}


def test_renaming_an_experiment_keeps_its_runs_and_refuses_a_taken_name(backend: str) -> None:
    with start_run("draft") as run:
        pass
    with start_run("taken"):
        pass
    with pytest.raises(InvalidInput, match="an experiment named 'taken' exists already"):
        rename_experiment("draft", "taken")
    with pytest.raises(NotFound, match="no experiment named 'ghost'"):
        rename_experiment("ghost", "x")
    assert rename_experiment("draft", "final").runs == 1
    assert get_run(run.id).experiment == "final"
    assert _ids(search_runs(experiment="final")) == {run.id}


def test_gc_removes_deleted_runs_and_experiments_for_good(backend: str, project: Path) -> None:
    (project / "model.bin").write_bytes(b"weights")
    with start_run("exp") as run:
        loopml.log_param("depth", 3)
        loopml.set_tag("stage", "dev")
        loopml.log_metric("f1", 0.5)
        loopml.log_artifact(project / "model.bin")
        with start_run(nested=True) as child:
            pass
    with start_run("gone") as other:
        pass
    with start_run("exp") as kept:
        pass
    delete_run(run.id)
    delete_experiment("gone")
    plan = loopml.gc(dry_run=True).purged
    assert set(plan) == {run.uri, child.uri, other.uri, "experiment:gone"}
    assert get_run(run.id).deleted  # a dry run changes nothing
    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert set(report.purged) == set(plan)
    assert [d for d, _ in report.removed]  # the model's object went with its run
    for rid in (run.id, child.id, other.id):
        with pytest.raises(NotFound):
            get_run(rid)
    for table in ("params", "tags", "metrics", "latest_metrics", "run_artifacts"):
        assert _count(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", run.id) == 0, table
    assert _count("SELECT COUNT(*) FROM object_refs WHERE owner = ?", run.uri) == 0
    assert _count("SELECT COUNT(*) FROM lineage WHERE src = ? OR dst = ?", run.uri, run.uri) == 0
    assert [e.name for e in list_experiments(include_deleted=True)] == ["exp"]
    assert _ids(search_runs()) == {kept.id}
    assert loopml.gc(dry_run=True).purged == []
