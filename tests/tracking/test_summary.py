"""The JSON summaries on ``runs`` rows always agree with the params, tags and latest_metrics tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import math
import multiprocessing
import random
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

import loopml
from loopml.context import current
from loopml.errors import Conflict
from loopml.store.metadata import MetadataStore
from loopml.tracking import _repository, get_run, search_runs, start_run
from loopml.tracking._repository import MetricBatch


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    """Values with NaN replaced by a marker, so equal dicts compare equal."""
    return {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def _summaries(run_id: str) -> tuple[Any, Any, Any]:
    """The run's (params, tags, metrics) summaries, parsed; None where there is none."""
    with current().metadata.read() as conn:
        (row,) = conn.all(
            "SELECT params_json, tags_json, metrics_json FROM runs WHERE id = ?", (run_id,)
        )
    params, tags, metrics = row
    return (
        None if params is None else orjson.loads(params),
        None if tags is None else orjson.loads(tags),
        None if metrics is None else _repository._metrics_from(metrics),
    )


def _tables(run_id: str) -> tuple[dict[str, str], dict[str, str], dict[str, float]]:
    """The run's params, tags and latest metric values, read from their tables."""
    with current().metadata.read() as conn:
        params = dict(conn.all("SELECT key, value FROM params WHERE run_id = ?", (run_id,)))
        tags = dict(conn.all("SELECT key, value FROM tags WHERE run_id = ?", (run_id,)))
        rows = conn.all("SELECT key, value FROM latest_metrics WHERE run_id = ?", (run_id,))
    return params, tags, {k: float(v) for k, v in rows}


def assert_summaries_agree(run_id: str) -> None:
    params, tags, metrics = _summaries(run_id)
    t_params, t_tags, t_metrics = _tables(run_id)
    assert params == t_params
    assert tags == t_tags
    assert _comparable(metrics) == _comparable(t_metrics)


def test_summaries_agree_with_the_tables_after_logging(backend: str) -> None:
    with start_run("exp", params={"lr": 0.1, "depth": 3}, tags={"stage": "dev"}) as run:
        assert_summaries_agree(run.id)
        run.log_params({"model": "rf"})
        run.set_tags({"stage": "prod", "team": "search"})
        run.log_metrics({"loss": 0.5, "nan": float("nan"), "inf": math.inf, "ninf": -math.inf})
        run.flush()
        assert_summaries_agree(run.id)
        run.log_metrics({"loss": 0.25, "acc": 3.0, "tiny": 5e-324, "huge": 1.7976931348623157e308})
    assert_summaries_agree(run.id)
    _, _, metrics = _summaries(run.id)
    assert metrics is not None and metrics["loss"] == 0.25 and metrics["acc"] == 3.0
    assert metrics["tiny"] == 5e-324 and metrics["huge"] == 1.7976931348623157e308
    assert math.isnan(metrics["nan"]) and metrics["inf"] == math.inf


def test_param_conflict_leaves_the_summary_as_the_table(backend: str) -> None:
    with start_run("exp", params={"lr": 0.1}) as run:
        with pytest.raises(Conflict):
            _repository.log_params(current().metadata, run.id, {"lr": "0.2", "new": "x"})
        assert_summaries_agree(run.id)
        assert _summaries(run.id)[0] == {"lr": "0.1"}
        run.log_params({"lr": 0.1, "other": "y"})  # the same value again is fine
    assert_summaries_agree(run.id)
    assert get_run(run.id).params == {"lr": 0.1, "other": "y"}


def test_latest_values_over_flushes_with_out_of_order_steps(backend: str) -> None:
    with start_run("exp") as run:
        run.log_metric("m", 5.0, step=5)
        run.log_metric("m", 1.0, step=1)
        run.flush()
        run.log_metric("m", 0.5, step=3)  # a later flush, an older step: not the latest
        run.log_metrics({"m": 9.0, "k": 1.0}, step=2)  # older for m, new for k
        run.flush()
        assert_summaries_agree(run.id)
        assert [r.metrics for r in search_runs(f"id = '{run.id}'")] == [{"m": 5.0, "k": 1.0}]
        run.log_metric("m", 7.0, step=5)  # the same step, newer: the latest
        run.log_metrics({"m": 8.0, "k": 2.0})  # no step: one past each key's highest
    assert_summaries_agree(run.id)
    assert run.metrics == {"m": 8.0, "k": 2.0}
    (found,) = search_runs("metrics.m >= 8")
    assert found.metrics == {"m": 8.0, "k": 2.0} == get_run(run.id).metrics
    history = loopml.get_metric_history(run.id, "m")
    assert [(h.step, h.value) for h in history][-2:] == [(5, 7.0), (6, 8.0)]


@pytest.mark.parametrize("width", [1, 100], ids=["few keys", "many keys"])
def test_bulk_and_per_key_logging_number_steps_alike(backend: str, width: int) -> None:
    """Calls with many keys take a bulk path, calls with few a per-key one: same results."""

    def keys(name: str) -> list[str]:
        return [f"{name}{i}" for i in range(width)]

    def values(names: str, value: float) -> dict[str, float]:
        return {k: value for name in names for k in keys(name)}

    with start_run("exp") as run:
        run.log_metrics(values("ab", 1.0))  # new keys: step 0
        run.log_metrics(values("ac", 2.0))  # a known: a at 1, c at 0
        run.log_metric("a0", 5.0, step=10)
        run.log_metrics(values("ad", 3.0), step=3)  # below a0's step 10
        run.log_metrics(values("bd", 4.0), step=10)  # at the highest step: all latest
        run.log_metrics(values("e", 6.0), step=2)  # new keys, below the highest step
    expected = {**values("a", 3.0), "a0": 5.0, **values("b", 4.0), **values("c", 2.0)}
    expected.update({**values("d", 4.0), **values("e", 6.0)})
    assert run.metrics == expected
    assert get_run(run.id).metrics == expected
    steps = {k: [m.step for m in loopml.get_metric_history(run.id, k)] for k in ("a0", "b0", "c0")}
    assert steps == {"a0": [0, 1, 3, 10], "b0": [0, 10], "c0": [0]}
    if width > 1:
        assert [m.step for m in loopml.get_metric_history(run.id, keys("a")[-1])] == [0, 1, 3]
    assert [m.step for m in loopml.get_metric_history(run.id, "e0")] == [2]
    assert_summaries_agree(run.id)


def test_runs_past_the_key_limit_have_no_summary_and_read_the_tables(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_repository, "MAX_KEYS", 3)
    params = {f"p{i}": i for i in range(4)}
    with start_run("exp", params=params, tags={"a": 1}) as run:
        run.log_metrics({"m1": 1.0, "m2": 2.0, "m3": 3.0})
        run.flush()
        assert _summaries(run.id) == (None, {"a": "1"}, {"m1": 1.0, "m2": 2.0, "m3": 3.0})
        run.log_metrics({"m4": 4.0})
        run.set_tags({"b": 2, "c": 3})
    assert _summaries(run.id) == (None, {"a": "1", "b": "2", "c": "3"}, None)
    (found,) = search_runs("metrics.m4 = 4")
    assert found.params == params
    assert found.metrics == {"m1": 1.0, "m2": 2.0, "m3": 3.0, "m4": 4.0}
    assert found.tags == {"a": "1", "b": "2", "c": "3"}
    assert get_run(run.id).metrics == found.metrics


def test_rows_written_without_summaries_are_read_from_the_tables(backend: str) -> None:
    with start_run("exp") as made:
        pass
    store = current().metadata
    rid = uuid.uuid4().hex

    def tx(conn: Any) -> None:
        exp_id = conn.scalar("SELECT experiment_id FROM runs WHERE id = ?", (made.id,))
        conn.execute(
            "INSERT INTO runs (id, experiment_id, name, status, start_time) VALUES (?, ?, ?, ?, ?)",
            (rid, exp_id, "bulk", "FINISHED", 1.0),
        )
        conn.execute("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", (rid, "p", "1"))
        conn.execute("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", (rid, "t", "x"))
        row = (rid, "m", 0.5, 0, 1.0)
        for table in ("metrics", "latest_metrics"):
            conn.execute(
                f"INSERT INTO {table} (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                row,
            )

    store.write(tx)
    assert _summaries(rid) == (None, None, None)
    expected = ({"p": 1}, {"m": 0.5}, {"t": "x"})
    (found,) = search_runs("name = 'bulk'")
    assert (found.params, found.metrics, found.tags) == expected
    store.write(lambda conn: _repository._refresh(conn, [rid]))
    assert _summaries(rid) == (None, None, None)  # writers leave a missing summary missing
    _repository.rebuild_summaries(store)  # every run
    assert _summaries(rid) == ({"p": "1"}, {"t": "x"}, {"m": 0.5})
    assert _summaries(made.id) == ({}, {}, {})
    (found,) = search_runs("name = 'bulk'")
    assert (found.params, found.metrics, found.tags) == expected


def _log_to_one_run(run_id: str, seed: int, rounds: int, errors: Any) -> None:
    """Flush random steps of keys of ``run_id``, many times."""
    try:
        from loopml.context import current
        from loopml.tracking._buffer import MetricBuffer
        from loopml.tracking._repository import MetricBatch, write_metric_batches

        store = current().metadata
        buffer = MetricBuffer(
            run_id, store, nan_as_text=store.dialect == "sqlite", on_full=lambda: None
        )
        rng = random.Random(seed)
        for n in range(rounds):
            # mostly keys no other process writes: then nothing but the run's row
            # orders the flushes; now and then a key they all write
            keys = [f"own-{seed}-{n % 5}", f"own-{seed}-{n % 3}"]
            if n % 4 == 0:
                keys.append("shared")
            for key in keys:
                buffer.log(key, rng.random(), rng.randrange(40))
            batch = buffer.take()
            assert batch is not None
            write_metric_batches(store, [MetricBatch(run_id, batch.rows, batch.latest)])
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def test_concurrent_flushes_to_one_run_keep_its_summary_exact(backend: str) -> None:
    with start_run("exp") as run:
        pass
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_log_to_one_run, args=(run.id, i, 60, errors)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert not reported, "\n".join(reported)
    assert [p.exitcode for p in procs] == [0] * 4
    assert_summaries_agree(run.id)
    # and latest_metrics holds, per key, the row of highest step, then newest time
    with current().metadata.read() as conn:
        history = conn.all(
            "SELECT key, value, step, timestamp FROM metrics WHERE run_id = ?", (run.id,)
        )
        latest = dict(conn.all("SELECT key, value FROM latest_metrics WHERE run_id = ?", (run.id,)))
    best: dict[str, tuple[int, float, float]] = {}
    for key, value, step, ts in history:
        if key not in best or (step, ts) >= best[key][:2]:
            best[key] = (step, ts, value)
    assert latest == {k: v[2] for k, v in best.items()}
    assert get_run(run.id).metrics == latest


def test_a_flush_waiting_on_another_to_the_same_run_sees_its_rows(backend: str) -> None:
    """Two flushes of different keys of one run, the second started before the first commits."""
    from loopml.tracking._buffer import MetricBuffer

    with start_run("exp") as run:
        pass
    store = current().metadata
    inside, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first(conn: Any) -> None:
        _repository._lock(conn, [run.id])
        insert = (
            _repository._insert_postgres
            if store.dialect == "postgresql"
            else _repository._insert_sqlite
        )
        row = (run.id, "first", 1.0, 0, time.time())
        insert(conn, [row], [row])
        _repository._refresh(conn, [run.id], ("latest_metrics",))
        inside.set()
        assert release.wait(20)

    def second() -> None:
        try:
            buffer = MetricBuffer(
                run.id, store, nan_as_text=store.dialect == "sqlite", on_full=lambda: None
            )
            buffer.log("second", 2.0, 0)
            batch = buffer.take()
            assert batch is not None
            _repository.write_metric_batches(store, [MetricBatch(run.id, batch.rows, batch.latest)])
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=lambda: store.write(first, retries=False))
    writer.start()
    assert inside.wait(20)
    waiting = threading.Thread(target=second)
    waiting.start()
    time.sleep(0.5)  # the second flush is now blocked behind the first transaction
    release.set()
    writer.join(20)
    waiting.join(20)
    assert not failures
    assert _summaries(run.id)[2] == {"first": 1.0, "second": 2.0}
    assert_summaries_agree(run.id)


def _column_field(column: str) -> str:
    """The :class:`Run` field a column of the runs query fills."""
    if column == "e.name":
        return "experiment"
    if column.startswith("CASE "):
        return column.rsplit(" AS ", 1)[1]
    column = column.removeprefix("CAST(").removesuffix(" AS TEXT)").removeprefix("r.")
    return column.strip('"').removesuffix("_json")


def test_run_columns_follow_the_fields_of_run() -> None:
    fields = [f.name for f in dataclasses.fields(loopml.Run)]
    columns = [c.strip() for c in _repository._RUN_COLUMNS.split(",")]
    assert [_column_field(c) for c in columns] == fields


def test_rows_become_runs_field_by_field() -> None:
    row = (
        "a" * 32,
        "name",
        "exp",
        "FINISHED",
        1.0,
        2.0,
        '{"p": "1"}',
        '{"m": 0.5}',
        '{"t": "x"}',
        "b" * 32,
        "trial",
        "user",
        "commit",
        "branch",
        1,
        "digest",
        "entry.py",
        "python entry.py",
        '{"python": "3.11"}',
        "error",
        7,
        "host",
        3.0,
    )
    (run,), partial = _repository._build_runs([row])
    assert partial == []
    expected = loopml.Run(
        id="a" * 32,
        name="name",
        experiment="exp",
        status=loopml.RunStatus.FINISHED,
        start_time=dt.datetime.fromtimestamp(1.0, dt.timezone.utc),
        end_time=dt.datetime.fromtimestamp(2.0, dt.timezone.utc),
        params={"p": 1},
        metrics={"m": 0.5},
        tags={"t": "x"},
        parent_id="b" * 32,
        kind="trial",
        user="user",
        git_commit="commit",
        git_branch="branch",
        git_dirty=True,
        git_diff_digest="digest",
        entry_point="entry.py",
        command="python entry.py",
        environment={"python": "3.11"},
        error="error",
        pid=7,
        host="host",
        deleted_at=dt.datetime.fromtimestamp(3.0, dt.timezone.utc),
    )
    assert dataclasses.asdict(run) == dataclasses.asdict(expected)


def test_key_value_tables_are_without_rowid_on_sqlite(project: Path) -> None:
    store = MetadataStore(f"sqlite:///{project / 't.db'}")
    with store.read() as conn:
        sql = dict(conn.all("SELECT name, sql FROM sqlite_master"))
    for table in ("params", "tags", "latest_metrics"):
        assert sql[table].rstrip().endswith("WITHOUT ROWID"), table
    assert not sql["runs"].rstrip().endswith("WITHOUT ROWID")


def test_search_leaves_the_garbage_collector_as_it_found_it(backend: str) -> None:
    with start_run("exp") as run:
        run.log_metric("m", 1.0)
    assert gc.isenabled()
    assert len(search_runs()) == 1
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(search_runs()) == 1
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_summary_columns_keep_up_with_many_small_flushes(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "0.01")
    with start_run("exp") as run:
        for i in range(30):
            run.log_metrics({"loss": 1 / (i + 1), f"k{i % 7}": float(i)})
            time.sleep(0.002)
    assert_summaries_agree(run.id)
    assert get_run(run.id).metrics == run.metrics


def test_runs_read_together_share_no_dicts(backend: str) -> None:
    for name in ("a", "b"):
        with start_run("exp", run_name=name, tags={"stage": "dev"}):
            pass
    first, second = search_runs()
    assert first.tags == second.tags and first.environment == second.environment
    first.tags["stage"] = "prod"
    first.environment["python"] = "changed"
    assert second.tags == {"stage": "dev"}
    assert second.environment.get("python") != "changed"
