"""Deleting and restoring runs and experiments, listing and renaming experiments.

Deleting is soft, as in MLflow: a deleted run (or every run of a deleted
experiment) is hidden from ``search_runs`` and ``loopml runs list`` but kept
with everything it logged, so ``restore_run`` / ``restore_experiment`` bring
it back unchanged. ``get_run`` still reads a deleted run by id, and the run
says so (``run.deleted``, ``run.deleted_at``), as MLflow's ``get_run`` does
with its ``lifecycle_stage``. ``loopml gc --force`` (``loopml.gc``) removes
deleted runs and experiments for good, with their params, metrics, tags,
artifact rows and lineage edges, and releases the stored objects they held.

A run's child runs (a pipeline's steps, tuning trials) are deleted and
restored with it; a child of a deleted run cannot be restored alone. A run
that is still RUNNING in a live process is not deleted (end it first, or
pass ``force=True``); one whose process is gone may be.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from loopml.context import Context, current
from loopml.errors import Conflict
from loopml.tracking import _repository, _state
from loopml.tracking._records import Experiment, Run, RunStatus, from_epoch
from loopml.tracking._validate import check_experiment_name, check_flag, check_run_id
from loopml.uri import RunURI

if TYPE_CHECKING:
    from loopml.store.metadata import MetadataStore

__all__ = [
    "delete_experiment",
    "delete_run",
    "list_experiments",
    "purge",
    "rename_experiment",
    "restore_experiment",
    "restore_run",
]


def delete_run(run_id: str, *, force: bool = False, tracking_uri: str | None = None) -> Run:
    """Delete the run ``run_id`` (or a unique prefix of ≥ 6 characters) and its child runs:
    hidden from searches until :func:`restore_run`, removed for good by ``loopml.gc``.

    A run still RUNNING in a live process (or on another host, where that cannot be
    checked) is refused with :class:`~loopml.errors.Conflict` unless ``force``; end it
    first. Deleting a deleted run does nothing. Returns the run as now stored.

    Example::

        loopml.tracking.delete_run("3f2a9c")
    """
    check_run_id(run_id)
    check_flag(force, "force")
    _state.flush()
    store = current().metadata_at(tracking_uri)
    tree = _repository.run_tree(store, run_id)
    root = _root(tree)
    if not force:
        live = [r for r in tree if r.status == RunStatus.RUNNING and r.is_alive is not False]
        if live:
            run = live[0]
            which = "it is" if run.id == root.id else f"its child run {run.id} ({run.name}) is"
            raise Conflict(
                f"cannot delete run {root.id} ({root.name}): {which} still RUNNING"
                f"{' on ' + run.host if run.host and run.is_alive is None else ''}. End it "
                "first, or pass force=True (loopml runs delete --force) if it will never end."
            )
    _repository.set_runs_deleted(store, root.id, time.time())
    return _repository.get_run(store, root.id)


def restore_run(run_id: str, *, tracking_uri: str | None = None) -> Run:
    """Restore the deleted run ``run_id`` (or a unique prefix) and its child runs; a run
    that is not deleted is left as it is. Returns the run as now stored.

    A child of a deleted run is restored with its parent, not alone
    (:class:`~loopml.errors.Conflict` names the parent); a run of a deleted
    experiment shows again once the experiment is restored.
    """
    check_run_id(run_id)
    store = current().metadata_at(tracking_uri)
    tree = _repository.run_tree(store, run_id)
    root = _root(tree)
    if root.parent_id is not None:
        parent = _repository.get_run(store, root.parent_id)
        if parent.deleted and _own_deleted(store, parent):
            raise Conflict(
                f"run {root.id} ({root.name}) is a child of the deleted run {parent.id} "
                f"({parent.name}); restore that run, which restores its children too."
            )
    _repository.set_runs_deleted(store, root.id, None)
    return _repository.get_run(store, root.id)


def _root(tree: list[Run]) -> Run:
    ids = {r.id for r in tree}
    return next(r for r in tree if r.parent_id not in ids)


def _own_deleted(store: MetadataStore, run: Run) -> bool:
    """Whether ``run`` itself is deleted (not only its experiment)."""
    return _repository.run_deleted_at(store, run.id) is not None


def list_experiments(
    include_deleted: bool = False, *, tracking_uri: str | None = None
) -> list[Experiment]:
    """Every experiment by name, with its number of runs (deleted runs not counted) and
    when its newest run started; deleted experiments too with ``include_deleted``.

    Example::

        [(e.name, e.runs) for e in loopml.tracking.list_experiments()]
    """
    check_flag(include_deleted, "include_deleted")
    rows = _repository.experiments(current().metadata_at(tracking_uri), include_deleted)
    return [
        Experiment(
            name=r.name,
            id=r.id,
            created=from_epoch(r.created_at),
            runs=r.runs,
            last_run=None if r.last_run is None else from_epoch(r.last_run),
            deleted_at=None if r.deleted_at is None else from_epoch(r.deleted_at),
        )
        for r in rows
    ]


def rename_experiment(old: str, new: str, *, tracking_uri: str | None = None) -> Experiment:
    """Rename the experiment ``old`` to ``new``; its runs follow. A name already taken
    (even by a deleted experiment) is an :class:`~loopml.errors.InvalidInput`."""
    check_experiment_name(old)
    check_experiment_name(new)
    store = current().metadata_at(tracking_uri)
    if old != new:
        _repository.rename_experiment(store, old, new)
    return _experiment(store, new)


def delete_experiment(name: str, *, tracking_uri: str | None = None) -> Experiment:
    """Delete the experiment ``name``: it and all its runs are hidden (and it takes no new
    runs) until :func:`restore_experiment`; ``loopml.gc`` removes them for good."""
    check_experiment_name(name)
    store = current().metadata_at(tracking_uri)
    _repository.set_experiment_deleted(store, name, time.time())
    return _experiment(store, name)


def restore_experiment(name: str, *, tracking_uri: str | None = None) -> Experiment:
    """Restore the deleted experiment ``name`` and show its runs again (runs deleted one
    by one stay deleted)."""
    check_experiment_name(name)
    store = current().metadata_at(tracking_uri)
    _repository.set_experiment_deleted(store, name, None)
    return _experiment(store, name)


def _experiment(store: MetadataStore, name: str) -> Experiment:
    row = _repository.experiment_row(store, name)
    assert row is not None
    return Experiment(
        name=row.name,
        id=row.id,
        created=from_epoch(row.created_at),
        runs=row.runs,
        last_run=None if row.last_run is None else from_epoch(row.last_run),
        deleted_at=None if row.deleted_at is None else from_epoch(row.deleted_at),
    )


def purge(ctx: Context, dry_run: bool) -> list[str]:
    """For ``loopml.gc``: remove deleted runs and experiments for good (see the module
    docstring); returns ``runs:/<id>`` for each run and ``experiment:<name>`` for each
    experiment removed, or with ``dry_run`` those that would be."""
    ids, names = _repository.purge_deleted(ctx.metadata, dry_run)
    return [str(RunURI(i)) for i in ids] + [f"experiment:{n}" for n in names]
