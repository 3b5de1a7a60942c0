"""Reading runs back: one run, a metric's history, and ``search_runs``.

``search_runs`` parses the filter language (see ``_filter``) and its sort
keys here, checks the experiments, and hands the query to the repository,
which compiles it to one SQL query. Metrics still buffered by live runs of
this process are flushed first, so every read sees what was logged.
"""

from __future__ import annotations

from collections.abc import Sequence

from loopml import _validate
from loopml.context import current
from loopml.errors import NotFound
from loopml.tracking import _repository, _state
from loopml.tracking._filter import parse_filter, parse_order_by
from loopml.tracking._records import Metric, Run
from loopml.tracking._validate import check_flag, check_run_id

__all__ = ["child_runs", "datasets_read", "get_metric_history", "get_run", "search_runs"]


def get_run(run_id: str, *, tracking_uri: str | None = None) -> Run:
    """The run with id ``run_id`` (or a unique prefix of ≥ 6 characters), read from the store.

    Metrics still buffered by a live run of this process are flushed first. A
    deleted run is read too, as MLflow's ``get_run`` does: ``run.deleted`` says so.

    Raises :class:`~loopml.errors.NotFound` when there is no such run and
    :class:`~loopml.errors.InvalidInput` for a malformed id.
    """
    check_run_id(run_id)
    _state.flush()
    return _repository.get_run(current().metadata_at(tracking_uri), run_id)


def get_metric_history(
    run_id: str | Run, key: str, *, tracking_uri: str | None = None
) -> list[Metric]:
    """Every value logged for metric ``key`` of a run, ordered by step, then time.

    Values a live run of this process has buffered are flushed first, so they
    are included. A key never logged gives an empty list; an unknown run is
    :class:`~loopml.errors.NotFound`.
    """
    rid = run_id.id if isinstance(run_id, Run) else run_id
    check_run_id(rid)
    _validate.text(key, "metric key")
    _state.flush()
    return _repository.metric_history(current().metadata_at(tracking_uri), rid, key)


def search_runs(
    filter: str | None = "",
    experiment: str | Sequence[str] | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int | None = None,
    *,
    top_level_only: bool = False,
    include_deleted: bool = False,
    tracking_uri: str | None = None,
) -> list[Run]:
    """Runs matching ``filter``, in ``order_by`` order (default: newest first).

    ``filter`` uses the language described in :mod:`loopml.tracking._filter`,
    e.g. ``"metrics.f1 > 0.9 and params.model = 'rf'"``. ``experiment``
    limits the search to one or more experiments by name (all by default).
    ``order_by`` entries look like ``"metrics.f1 DESC"`` or ``"start_time"``.
    ``top_level_only`` keeps runs without a parent (pipeline runs, not their
    steps). Deleted runs, and the runs of deleted experiments, are left out
    unless ``include_deleted``.

    Example::

        best = loopml.search_runs("status = 'FINISHED'", experiment="iris",
                                  order_by=["metrics.f1 DESC"], max_results=5)
    """
    node = parse_filter(filter)
    orders = [parse_order_by(o) for o in _validate.texts(order_by, "order_by")]
    if max_results is not None:
        _validate.count(max_results, "max_results (or None for all)")
    experiments = _validate.texts(experiment, "experiment")
    check_flag(top_level_only, "top_level_only")
    check_flag(include_deleted, "include_deleted")
    _state.flush()
    store = current().metadata_at(tracking_uri)
    ids: list[int] = []
    if experiments:
        found, known = _repository.known_experiments(store, experiments)
        missing = [name for name in experiments if name not in found]
        if missing:
            raise NotFound(
                f"no experiment named {missing[0]!r}; known experiments: "
                f"{', '.join(known[:20]) or '(none yet)'}."
            )
        ids = sorted(set(found.values()))
    query = _repository.Search(
        node, orders, ids, max_results, include_deleted, top_level_only=top_level_only
    )
    return _repository.search(store, query)


def child_runs(
    run_id: str, kind: str | None = None, *, tracking_uri: str | None = None
) -> list[Run]:
    """The runs whose parent is the run ``run_id`` (or a unique prefix) names, oldest first;
    only those of ``kind`` (``"step"``, ``"trial"``...) when given."""
    check_run_id(run_id)
    if kind is not None:
        _validate.text(kind, "kind")
    _state.flush()
    store = current().metadata_at(tracking_uri)
    full = _repository.get_run(store, run_id).id
    return _repository.child_runs(store, full, kind)


def datasets_read(run_id: str, *, tracking_uri: str | None = None) -> list[str]:
    """The dataset versions (``data:/name@N``) the run ``run_id`` (or a unique prefix)
    read, with those its child runs (a pipeline's steps) read: what ``run.use_dataset``,
    a pipeline's dataset parameters and its steps recorded, always as exact versions.

    Example::

        loopml.tracking.datasets_read(run.id)     # ['data:/iris@3']
    """
    check_run_id(run_id)
    store = current().metadata_at(tracking_uri)
    full = _repository.get_run(store, run_id).id
    return _repository.datasets_read(store, full)
