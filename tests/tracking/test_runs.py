from __future__ import annotations

import datetime as dt
import threading

import pytest

import loopml
from loopml.context import current
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.tracking import ActiveRun, Run, active_run, end_run, get_run, start_run


def test_with_block_finishes_run_and_records_times(backend: str) -> None:
    with start_run("exp", run_name="first", params={"lr": 0.1, "depth": 3}) as run:
        assert isinstance(run, Run) and isinstance(run, ActiveRun)
        assert run.status == "RUNNING" and run.end_time is None
        assert active_run() is run
    assert active_run() is None
    stored = get_run(run.id)
    assert stored.status == "FINISHED"
    assert stored.name == "first" and stored.experiment == "exp"
    assert stored.params == {"lr": 0.1, "depth": 3}
    assert stored.start_time.tzinfo == dt.timezone.utc
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.duration is not None and stored.duration >= 0
    assert stored.uri == f"runs:/{run.id}"
    assert len(run.id) == 32 and int(run.id, 16) >= 0


def test_exception_marks_run_failed_with_traceback(backend: str) -> None:
    with pytest.raises(ZeroDivisionError), start_run("exp") as run:
        loopml.log_metric("before", 1.0)
        1 / 0  # noqa: B018
    stored = get_run(run.id)
    assert stored.status == "FAILED"
    assert stored.error is not None
    assert "ZeroDivisionError" in stored.error and "Traceback" in stored.error
    assert stored.metrics == {"before": 1.0}
    assert active_run() is None


def test_keyboard_interrupt_marks_run_killed(backend: str) -> None:
    with pytest.raises(KeyboardInterrupt), start_run("exp") as run:
        raise KeyboardInterrupt
    assert get_run(run.id).status == "KILLED"


def test_run_without_with_ends_on_end_run(backend: str) -> None:
    run = start_run("exp")
    loopml.log_metric("m", 2.0)
    assert loopml.active_run() is run
    end_run()
    assert active_run() is None
    stored = get_run(run.id)
    assert stored.status == "FINISHED" and stored.metrics == {"m": 2.0}
    end_run()  # nothing active: no error


def test_end_run_with_status(backend: str) -> None:
    start_run("exp")
    run = active_run()
    assert run is not None
    end_run("KILLED")
    assert get_run(run.id).status == "KILLED"
    with start_run("exp") as trial:
        trial.end("PRUNED")
    assert get_run(trial.id).status == "PRUNED"
    with pytest.raises(InvalidInput, match="FINISHED, FAILED, KILLED, PRUNED"):
        start_run("exp").end("DONE")


def test_experiment_is_created_on_first_use_and_reused(backend: str) -> None:
    with start_run("shared"):
        pass
    with start_run("shared"):
        pass
    with start_run():
        pass
    with current().metadata.read() as conn:
        names = conn.column("SELECT name FROM experiments")
        per_exp = conn.all("SELECT experiment_id, count(*) FROM runs GROUP BY experiment_id")
    assert sorted(names) == ["Default", "shared"]
    assert sorted(n for _, n in per_exp) == [1, 2]


def test_runs_get_generated_names(backend: str) -> None:
    with start_run("exp") as a, start_run("exp", nested=True) as b:
        pass
    for run in (a, b):
        adjective, animal, number = run.name.split("-")
        assert adjective.isalpha() and animal.isalpha() and number.isdigit()


def test_nested_run_records_parent_and_lineage_edge(backend: str) -> None:
    from loopml.lineage import downstream

    with start_run("exp", run_name="parent") as parent:
        with start_run(nested=True, run_name="child", kind="trial") as child:
            assert active_run() is child
            loopml.log_metric("f1", 0.5)
        assert active_run() is parent
    stored = get_run(child.id)
    assert stored.parent_id == parent.id and stored.kind == "trial"
    assert stored.experiment == "exp"  # a child joins its parent's experiment
    assert stored.metrics == {"f1": 0.5}
    edges = downstream(parent.uri)
    assert [(e.dst, e.relation) for e in edges] == [(child.uri, "parent")]


def test_parent_may_be_given_by_id_or_prefix(backend: str) -> None:
    with start_run("exp") as parent:
        pass
    with start_run(parent=parent.id[:10]) as child:
        pass
    with start_run("elsewhere", parent=parent) as other:
        pass
    assert get_run(child.id).parent_id == parent.id
    assert get_run(child.id).experiment == "exp"
    assert get_run(other.id).experiment == "elsewhere"
    with pytest.raises(NotFound, match="no run with id"):
        start_run("exp", parent="0" * 32)


def test_starting_a_second_run_without_nested_is_a_conflict(backend: str) -> None:
    with start_run("exp") as run:
        with pytest.raises(Conflict, match="nested=True"):
            start_run("exp")
        assert active_run() is run


def test_nested_without_active_run_is_not_found(backend: str) -> None:
    with pytest.raises(NotFound, match="nested=True needs an active run"):
        start_run("exp", nested=True)


def test_ending_parent_ends_open_children_first(backend: str) -> None:
    parent = start_run("exp")
    child = start_run(nested=True)
    parent.end()
    assert active_run() is None
    assert get_run(child.id).status == "FINISHED"
    assert get_run(parent.id).status == "FINISHED"


def test_logging_to_an_ended_run_is_a_conflict(backend: str) -> None:
    with start_run("exp") as run:
        pass
    with pytest.raises(Conflict, match="has ended"):
        run.log_metric("m", 1.0)
    with pytest.raises(Conflict, match="has ended"):
        run.log_param("p", 1)


def test_logging_without_active_run_says_how_to_start_one(project: object) -> None:
    with pytest.raises(NotFound, match="start_run"):
        loopml.log_metric("m", 1.0)
    with pytest.raises(NotFound, match="no active run"):
        loopml.log_param("p", 1)


def test_param_relogged_with_same_value_is_fine_but_different_is_conflict(backend: str) -> None:
    with start_run("exp", params={"lr": 0.1}) as run:
        loopml.log_param("lr", 0.1)
        loopml.log_params({"lr": 0.1, "depth": 4})
        with pytest.raises(Conflict, match=r"'lr' is 0\.1, not 0\.2"):
            loopml.log_param("lr", 0.2)
        with pytest.raises(Conflict, match=r"'lr' is 0\.1, not '0\.1'"):
            loopml.log_param("lr", "0.1")  # a string is not the number
        assert run.params == {"lr": 0.1, "depth": 4}
    assert get_run(run.id).params == {"lr": 0.1, "depth": 4}


def test_param_conflict_with_value_stored_by_another_process(backend: str) -> None:
    from loopml.tracking import _repository

    with start_run("exp") as run:
        _repository.log_params(run._store, run.id, {"seed": "1"})  # as another writer would
        with pytest.raises(Conflict, match="'seed' is 1, not 2"):
            run.log_params({"seed": 2, "other": 5})
        assert "other" not in get_run(run.id).params  # all or nothing


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("a" * 256, "limit is 255"),
        ("lr;drop", "contains ';'"),
        ("new\nline", "contains"),
    ],
)
def test_invalid_keys_are_refused_naming_the_key(project: object, key: str, message: str) -> None:
    from loopml.tracking._validate import check_key

    with pytest.raises(InvalidInput, match=message):
        check_key(key, "param")


def test_keys_allow_letters_digits_and_separators(backend: str) -> None:
    with start_run("exp") as run:
        run.log_params({"model/layer-1.units size_x": 3})
        run.log_metric("val/loss-2.x y", 1.0)
        with pytest.raises(InvalidInput, match="invalid param name 'a:b'"):
            run.log_param("a:b", 1)
        with pytest.raises(InvalidInput, match="names must be strings"):
            run.log_params({3: 1})  # type: ignore[dict-item]


def test_tags_are_upserted(backend: str) -> None:
    with start_run("exp", tags={"stage": "dev"}) as run:
        loopml.set_tag("stage", "prod")
        loopml.set_tags({"team": "search", "n": 3})
        assert run.tags == {"stage": "prod", "team": "search", "n": "3"}
    assert get_run(run.id).tags == {"stage": "prod", "team": "search", "n": "3"}


def test_get_run_accepts_prefix_and_uri_and_rejects_malformed_ids(backend: str) -> None:
    with start_run("exp") as run:
        pass
    assert get_run(run.id[:6]).id == run.id
    assert get_run(f"runs:/{run.id}").id == run.id
    assert get_run(run.id.upper()).id == run.id
    with pytest.raises(NotFound, match="f" * 32):
        get_run("f" * 32)
    for bad in ("abc", "not-hex-at-all", "g" * 32, "a" * 33):
        with pytest.raises(InvalidInput, match="malformed run id"):
            get_run(bad)


def test_ambiguous_prefix_is_refused(backend: str) -> None:
    from loopml.tracking import _runs

    ids = iter(["abcdef" + "0" * 26, "abcdef" + "1" * 26])
    original = _runs.uuid.uuid4

    class _Fake:
        def __init__(self, hex_: str) -> None:
            self.hex = hex_

    _runs.uuid.uuid4 = lambda: _Fake(next(ids))  # type: ignore[assignment,return-value]
    try:
        with start_run("exp"):
            pass
        with start_run("exp"):
            pass
    finally:
        _runs.uuid.uuid4 = original
    with pytest.raises(InvalidInput, match="ambiguous"):
        get_run("abcdef")
    assert get_run("abcdef1").id == "abcdef" + "1" * 26


def test_run_records_process_and_environment(backend: str) -> None:
    import os
    import socket
    import sys

    with start_run("exp") as run:
        assert run.is_alive is True
    stored = get_run(run.id)
    assert stored.pid == os.getpid() and stored.host == socket.gethostname()
    assert stored.environment["python"] == sys.version.split()[0]
    assert stored.environment["loopml"] == loopml.__version__
    assert "numpy" in stored.environment and "platform" in stored.environment
    assert stored.command and stored.entry_point is not None
    assert stored.is_alive is False and stored.display_status == "FINISHED"


def test_worker_thread_logs_to_main_threads_run_and_may_start_its_own(backend: str) -> None:
    seen: dict[str, object] = {}
    with start_run("exp") as main:

        def work() -> None:
            loopml.log_metric("from_thread", 1.0)
            seen["active"] = active_run()
            with start_run("exp", run_name="own") as own:
                own.log_metric("x", 1.0)
                seen["own"] = own.id

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        assert active_run() is main
    assert seen["active"] is main
    assert get_run(main.id).metrics == {"from_thread": 1.0}
    own = get_run(str(seen["own"]))
    assert own.parent_id is None and own.status == "FINISHED"


def test_invalid_start_arguments(project: object) -> None:
    with pytest.raises(InvalidInput, match="experiment name"):
        start_run("")
    with pytest.raises(InvalidInput, match="run kind"):
        start_run("exp", kind="Not A Kind")
    with pytest.raises(InvalidInput, match="run_name"):
        start_run("exp", run_name="")
    with pytest.raises(InvalidInput, match="mapping"):
        start_run("exp", params=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="on_metric"):
        start_run("exp", on_metric=3)  # type: ignore[arg-type]


def test_reset_forgets_open_runs_without_writing(backend: str) -> None:
    import loopml.context

    run = start_run("exp")
    loopml.log_metric("m", 1.0)
    loopml.context.reset()
    assert active_run() is None
    with pytest.raises(Conflict, match="forgotten"):
        run.log_metric("m", 2.0)
    stored = get_run(run.id)
    assert stored.status == "RUNNING" and stored.metrics == {}


def test_on_metric_sees_the_runs_values_and_its_childrens_but_no_other_runs(backend: str) -> None:
    seen: list[tuple[str, float, int | None]] = []

    def observe(key: str, value: float, step: int | None) -> None:
        seen.append((key, value, step))

    def unrelated() -> None:
        with start_run("exp", run_name="unrelated") as own:
            own.log_metric("other", 1.0)

    def child_in_a_thread(parent_id: str) -> None:
        with start_run(parent=parent_id) as child:
            child.log_metric("threaded", 4.0)

    with start_run("exp", on_metric=observe) as run:
        loopml.log_metric("loss", 0.5)
        run.log_metrics({"a": 1, "b": 2.0}, step=3)
        with start_run(nested=True) as child:
            child.log_metric("f1", 0.9, step=2)
        for target, args in ((unrelated, ()), (child_in_a_thread, (run.id,))):
            thread = threading.Thread(target=target, args=args)
            thread.start()
            thread.join()
    with start_run("exp") as later:
        later.log_metric("after", 1.0)
    assert seen == [
        ("loss", 0.5, None),
        ("a", 1.0, 3),
        ("b", 2.0, 3),
        ("f1", 0.9, 2),
        ("threaded", 4.0, None),
    ]
    assert get_run(child.id).metrics == {"f1": 0.9}


def test_on_metric_error_reaches_the_caller_after_the_value_is_buffered(backend: str) -> None:
    def stop(key: str, value: float, step: int | None) -> None:
        raise RuntimeError(f"stop at {key}={value}")

    with (
        start_run("exp", on_metric=stop) as run,
        pytest.raises(RuntimeError, match="stop at m=1.0"),
    ):
        loopml.log_metric("m", 1.0)
    assert get_run(run.id).status == "FINISHED"
    assert get_run(run.id).metrics == {"m": 1.0}
