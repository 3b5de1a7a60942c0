"""Tuning: trials are pipeline runs under a tuning run, sharing the cache; pruning on
intermediate values; the study kept in the metadata database; bad spaces refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from tests.pipelines.conftest import ProjectCode
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.pipelines.tuning._space import parse_space

QUAD = """
import loopml

@loopml.step
def data(n: int) -> list[float]:
    return [i / n for i in range(n)]

@loopml.step
def fit(xs: list[float], model: dict) -> float:
    penalty = 0.0 if model["kind"] == "good" else 0.5
    for i in range(3):
        loopml.log_metric("score", -(model["x"] - 0.3) ** 2 - penalty - (2 - i) * 0.01, step=i)
    return model["x"]

@loopml.pipeline
def quad(n: int = 5, model: dict = {"x": 0.0, "kind": "good", "depth": 1}):
    return fit(data(n), model)
"""

SPACE = {
    "model.x": {"low": -1.0, "high": 1.0},
    "model.kind": {"choices": ["good", "bad"]},
    "model.depth": {"low": 1, "high": 8},
}

TOML = """
[pipeline]
entry = "quad_pipe:quad"

[tune]
metric = "score"
direction = "maximize"
n_trials = 5

[tune.space]
"model.x" = { low = -1.0, high = 1.0 }
"model.kind" = { choices = ["good", "bad"] }
"""


@pytest.fixture
def quad(project: Path, code: ProjectCode) -> ModuleType:
    code.write("quad_pipe", QUAD)
    return code.load("quad_pipe")


def test_trials_are_pipeline_runs_under_the_tuning_run_and_share_the_cache(
    backend: str, quad: ModuleType
) -> None:
    study = loopml.tune(quad.quad, SPACE, n_trials=12, metric="score", direction="maximize", seed=0)
    assert len(study.trials) == 12
    assert [t.number for t in study.trials] == list(range(12))
    best = study.best_trial
    assert best.state == "COMPLETE"
    assert best.params["model.kind"] == "good"
    assert best.value == max(t.value for t in study.trials if t.value is not None)
    # every trial's pipeline run is a child of the tuning run, with the params it tried
    for trial in study.trials:
        run = loopml.get_run(trial.run_id)
        assert run.parent_id == study.run_id
        assert run.kind == "pipeline"
        assert float(run.params["model.x"]) == pytest.approx(trial.params["model.x"])
    # the data step does not depend on the tuned params: computed once, then cached
    cached = [loopml.load_pipeline_run(t.run_id).steps[0].cached for t in study.trials]
    assert cached[0] is False and all(cached[1:])
    tuning = loopml.get_run(study.run_id)
    assert tuning.kind == "tuning"
    assert tuning.tags["loopml.best_trial"] == str(best.number)
    assert tuning.metrics["best_score"] == pytest.approx(best.value)
    assert loopml.get_run(best.run_id).tags["loopml.best_trial"] == "true"
    # and the study is stored
    stored = loopml.load_study(study.name)
    assert [(t.number, t.state, t.value) for t in stored.trials] == [
        (t.number, t.state, t.value) for t in study.trials
    ]
    assert stored.best_trial.params == best.params


def test_trials_that_fall_behind_are_pruned_from_their_intermediate_values(
    quad: ModuleType,
) -> None:
    study = loopml.tune(
        quad.quad,
        SPACE,
        n_trials=16,
        metric="score",
        direction="maximize",
        sampler="random",
        seed=3,
    )
    pruned = [t for t in study.trials if t.state == "PRUNED"]
    assert pruned, [(t.state, t.params) for t in study.trials]
    for t in pruned:
        run = loopml.load_pipeline_run(t.run_id)
        assert run.step("fit").status == "PRUNED"
        assert "pruned at step" in (loopml.get_run(run.step("fit").run_id).error or "")
    assert study.best_trial.state == "COMPLETE"


def test_a_study_is_continued_by_name(quad: ModuleType) -> None:
    first = loopml.tune(quad.quad, SPACE, n_trials=3, metric="score", study="s1", seed=1)
    again = loopml.tune(quad.quad, SPACE, n_trials=2, metric="score", study="s1", seed=1)
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]

    def key(t: loopml.pipelines.Trial) -> tuple:
        return (t.number, t.state, t.params, t.value, t.run_id)

    assert [key(t) for t in again.trials[:3]] == [key(t) for t in first.trials]
    assert len(loopml.load_study("s1").trials) == 5
    with pytest.raises(Conflict, match="study 's1' tunes pipeline 'quad' for maximize 'score'"):
        loopml.tune(quad.quad, SPACE, n_trials=1, metric="score", direction="minimize", study="s1")


def test_write_best_merges_into_params_yaml_and_the_next_run_uses_it(
    project: Path, quad: ModuleType
) -> None:
    (project / "params.yaml").write_text("n: 7\nmodel:\n  depth: 3\n")
    study = loopml.tune(quad.quad, SPACE, n_trials=4, metric="score", seed=2)
    study.write_best(project / "params.yaml")
    written = yaml.safe_load((project / "params.yaml").read_text())
    assert written["n"] == 7
    assert written["model"] == {
        "depth": study.best_params["model.depth"],
        "x": study.best_params["model.x"],
        "kind": study.best_params["model.kind"],
    }
    run = quad.quad()
    assert float(run.params["model.x"]) == pytest.approx(study.best_params["model.x"])
    assert run.params["n"] == 7


def test_loopml_tune_reads_the_space_from_loopml_toml(project: Path, quad: ModuleType) -> None:
    (project / "loopml.toml").write_text(TOML)
    result = CliRunner().invoke(app, ["tune", "--seed", "0", "--write-best", "params.yaml"])
    assert result.exit_code == 0, result.output
    assert "5/5" in result.output
    assert "best trial" in result.output and "5 complete" in result.output.replace("4 complete", "")
    written = yaml.safe_load((project / "params.yaml").read_text())
    assert set(written["model"]) == {"x", "kind"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"low": 5, "high": 1}, r"low \(5\) must be less than high \(1\)"),
        ({"low": 0.0, "high": 1.0, "log": True}, "log-scale range needs low > 0"),
        ({"low": 1, "high": 9, "step": 0}, "step must be a positive number"),
        ({"low": 1, "high": 9, "step": 20}, "larger than the range"),
        ({"choices": []}, "choices must be a non-empty list"),
        ({"low": 1}, "expected both low and high"),
        ({"low": 1, "high": 5, "scale": "log"}, "unknown field"),
        ({"low": "a", "high": 5}, "low must be a finite number"),
        ("uniform", "expected a table"),
    ],
)
def test_an_invalid_range_is_refused_naming_the_key(spec: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        parse_space({"model.x": spec})
    assert "'model.x'" in str(err.value)


def test_bad_settings_fail_before_any_trial(quad: ModuleType) -> None:
    with pytest.raises(InvalidInput, match="unknown parameter 'model.nope'"):
        loopml.tune(quad.quad, {"model.nope": {"low": 1, "high": 2}}, metric="score")
    with pytest.raises(InvalidInput, match="unknown parameter 'depth'"):
        loopml.tune(quad.quad, {"depth": {"low": 1, "high": 2}}, metric="score")
    with pytest.raises(InvalidInput, match="needs the metric"):
        loopml.tune(quad.quad, SPACE)
    with pytest.raises(InvalidInput, match="direction must be"):
        loopml.tune(quad.quad, SPACE, metric="score", direction="up")
    with pytest.raises(InvalidInput, match="search space is empty|is empty"):
        loopml.tune(quad.quad, metric="score")
    with pytest.raises(InvalidInput, match="both tuned and fixed"):
        loopml.tune(quad.quad, SPACE, metric="score", overrides=["model.x=0.1"])
    assert loopml.search_runs() == []


def test_a_metric_no_step_logs_stops_tuning_with_the_reason(quad: ModuleType) -> None:
    with pytest.raises(InvalidInput, match="no step of pipeline run .* logged the metric 'loss'"):
        loopml.tune(quad.quad, SPACE, n_trials=10, metric="loss", direction="minimize")
    assert len(loopml.search_runs("kind = 'pipeline'")) == 3


def test_an_unknown_study_is_not_found(project: Path) -> None:
    with pytest.raises(NotFound, match="no tuning study 'nope'"):
        loopml.load_study("nope")


def test_trials_run_side_by_side_on_ray(ray_session: object, quad: ModuleType) -> None:
    study = loopml.tune(
        quad.quad, SPACE, n_trials=6, metric="score", executor="ray", seed=0, pruner="none"
    )
    assert [t.state for t in study.trials] == ["COMPLETE"] * 6
    for trial in study.trials:
        assert loopml.get_run(trial.run_id).parent_id == study.run_id
    assert loopml.get_run(study.run_id).params["executor"] == "ray"
    assert study.best_value == max(t.value for t in study.trials if t.value is not None)


def test_loopml_tune_names_a_bad_range_in_loopml_toml(
    project: Path, quad: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pipelines.test_run_cli import _loopml

    bad = TOML.replace("low = -1.0, high = 1.0", "low = 1.0, high = -1.0")
    (project / "loopml.toml").write_text(bad)
    status, out = _loopml(capsys, "tune")
    assert status == 1
    assert "invalid range for 'model.x' in [tune.space] of loopml.toml" in out
    assert "low (1.0) must be less than high (-1.0)" in out
    assert loopml.search_runs() == []


GATED = """
import queue
import loopml

ready = queue.Queue()  # the trial's step is about to report its value at step i...
done = queue.Queue()  # ...once the other thread has logged

@loopml.step(cache=False)
def fit(model: dict) -> float:
    for i in range(3):
        ready.put(i)
        done.get(timeout=60)
        loopml.log_metric("score", -(model["x"] - 0.3) ** 2 - (2 - i) * 0.01, step=i)
    return model["x"]

@loopml.pipeline
def gated(model: dict = {"x": 0.0}):
    return fit(model)
"""


def test_a_metric_logged_to_an_unrelated_run_in_another_thread_is_never_pruned(
    project: Path, code: ProjectCode
) -> None:
    code.write("gated_pipe", GATED)
    mod = code.load("gated_pipe")
    space = {"model.x": {"low": -1.0, "high": 1.0}}
    logged: list[tuple[int, float]] = []
    refused: list[Exception] = []

    def tuning() -> loopml.Study:
        try:
            return loopml.tune(
                mod.gated, space, n_trials=10, metric="score", sampler="random", seed=3
            )
        finally:
            mod.ready.put(None)  # tell the other thread the trials are over

    def unrelated() -> str:
        # the same metric name, each value far behind all before it, at the step a running
        # trial reports next: were it seen by that trial's pruner, log_metric would raise
        with loopml.start_run("elsewhere", run_name="unrelated") as run:
            while (at := mod.ready.get(timeout=120)) is not None:
                value = -1000.0 - len(logged)  # each worse than any before
                try:
                    loopml.log_metric("score", value, step=at)
                    logged.append((at, value))
                except Exception as exc:  # noted, and the trials go on: asserted below
                    refused.append(exc)
                finally:
                    mod.done.put(None)
        return run.id

    with ThreadPoolExecutor(max_workers=2) as pool:
        study_future = pool.submit(tuning)
        run_future = pool.submit(unrelated)
        study = study_future.result(timeout=300)
        run_id = run_future.result(timeout=300)

    assert refused == []  # no log_metric of the unrelated run was pruned (or failed)
    assert len(study.trials) == 10
    assert all(t.state in ("COMPLETE", "PRUNED") for t in study.trials)
    pruned = [t for t in study.trials if t.state == "PRUNED"]
    assert pruned, [(t.state, t.value) for t in study.trials]
    # the other thread logged just before each value a trial's step reported
    fit_runs = [loopml.load_pipeline_run(t.run_id).step("fit") for t in study.trials]
    reported = sum(len(loopml.get_metric_history(f.run_id or "", "score")) for f in fit_runs)
    assert len(logged) == reported >= 10
    unrelated_run = loopml.get_run(run_id)
    assert unrelated_run.status == "FINISHED"
    assert unrelated_run.parent_id is None
    history = loopml.get_metric_history(run_id, "score")
    assert sorted((m.step, m.value) for m in history) == sorted(logged)
    # the trials saw only their own values: a complete trial's value is its last one, and
    # those behind the median were pruned from their own values
    for t in study.trials:
        if t.state == "COMPLETE":
            assert t.value == pytest.approx(-((t.params["model.x"] - 0.3) ** 2))
    for t, fit in zip(study.trials, fit_runs, strict=True):
        if t.state == "PRUNED":
            assert fit.status == "PRUNED"
            assert "pruned at step" in (loopml.get_run(fit.run_id or "").error or "")


# -- trials are never lost ------------------------------------------------------------

FLAKY = """
import os
import time
from pathlib import Path

import loopml


def _take(name):
    '''The planned event in file ``name`` (a count, or a value to use once), if one is due.'''
    path = Path(name)
    if not path.exists():
        return None
    lines = path.read_text().split()
    if not lines:
        return None
    path.write_text(" ".join(lines[1:]))
    return lines[0]


@loopml.step(cache=False)
def fit(model: dict) -> float:
    hang = Path("hang_after")
    if hang.exists():  # a tuner to be killed: pass that many calls, then wait forever
        left = int(hang.read_text())
        hang.write_text(str(left - 1))
        if left <= 0:
            Path("hanging").write_text(str(os.getpid()))
            time.sleep(600)
    if _take("fail_next"):
        raise RuntimeError("a planned failure")
    bad = _take("bad_value")
    value = float(bad) if bad else -((model["x"] - 0.3) ** 2)
    loopml.log_metric("score", value)
    time.sleep(float(os.environ.get("FLAKY_PAUSE", "0")))
    return model["x"]


@loopml.pipeline
def flaky(model: dict = {"x": 0.0}):
    return fit(model)
"""

X_SPACE = {"model.x": {"low": -1.0, "high": 1.0}}

TUNER = """
import sys, time
from pathlib import Path

import loopml
import flaky_pipe

Path(f"ready-{sys.argv[2]}").write_text("")
while not Path("go").exists():  # start together with the other tuners
    time.sleep(0.005)
study = loopml.tune(
    flaky_pipe.flaky, {"model.x": {"low": -1.0, "high": 1.0}}, n_trials=int(sys.argv[1]),
    metric="score", study="shared", sampler="random", seed=int(sys.argv[2]), pruner="none",
)
print(study.run_id)
"""


@pytest.fixture
def flaky(project: Path, code: ProjectCode) -> ModuleType:
    code.write("flaky_pipe", FLAKY)
    code.write("tuner", TUNER)
    return code.load("flaky_pipe")


def _key(t: loopml.pipelines.Trial) -> tuple:
    return (t.number, t.state, t.params, t.value, t.run_id)


def _plan(project: Path, name: str, *events: object) -> None:
    (project / name).write_text(" ".join(map(str, events)))


def _tuner(project: Path, backend: str, n_trials: int, seed: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_TRACKING_URI"] = backend
    env["PYTHONPATH"] = os.pathsep.join([str(Path(loopml.__file__).parents[1]), str(project)])
    env["FLAKY_PAUSE"] = "0.02"
    return subprocess.Popen(
        [sys.executable, "tuner.py", str(n_trials), str(seed)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _all_pipeline_runs_are_trials(study: loopml.Study) -> None:
    runs = {r.id for r in loopml.search_runs("kind = 'pipeline'", max_results=1000)}
    assert {t.run_id for t in study.trials if t.run_id} == runs
    for t in study.trials:  # each run tagged with the number its trial is stored under
        if t.run_id:
            assert loopml.get_run(t.run_id).tags["loopml.trial"] == str(t.number)


def test_continuing_a_study_after_failed_trials_keeps_every_earlier_trial(
    backend: str, project: Path, flaky: ModuleType
) -> None:
    _plan(project, "fail_next", 1, 1)  # the first two trials fail, the next two complete
    first = loopml.tune(flaky.flaky, X_SPACE, n_trials=4, metric="score", study="s", seed=0)
    assert [t.state for t in first.trials] == ["FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    stored = [_key(t) for t in loopml.load_study("s").trials]
    assert [k[0] for k in stored] == [0, 1, 2, 3]

    again = loopml.tune(flaky.flaky, X_SPACE, n_trials=3, metric="score", study="s", seed=1)
    assert [t.number for t in again.trials] == list(range(7))
    assert [_key(t) for t in again.trials[:4]] == stored
    assert [t.state for t in again.trials[4:]] == ["COMPLETE"] * 3
    reread = loopml.load_study("s")
    assert [_key(t) for t in reread.trials] == [_key(t) for t in again.trials]
    assert reread.best_trial.number == again.best_trial.number
    _all_pipeline_runs_are_trials(reread)


def test_a_study_stopped_by_failures_is_continued_without_counting_them_again(
    project: Path, flaky: ModuleType
) -> None:
    _plan(project, "fail_next", 1, 1, 1)
    with pytest.raises(InvalidInput, match="the first 3 trials of study 's' failed"):
        loopml.tune(flaky.flaky, X_SPACE, n_trials=5, metric="score", study="s")
    _plan(project, "fail_next", 1)  # the code is fixed but one more trial fails
    again = loopml.tune(flaky.flaky, X_SPACE, n_trials=3, metric="score", study="s")
    assert [(t.number, t.state) for t in again.trials] == [
        (0, "FAIL"),
        (1, "FAIL"),
        (2, "FAIL"),
        (3, "FAIL"),
        (4, "COMPLETE"),
        (5, "COMPLETE"),
    ]
    assert [_key(t) for t in loopml.load_study("s").trials] == [_key(t) for t in again.trials]


def test_two_processes_tuning_one_study_at_once_keep_all_their_trials(
    backend: str, project: Path, flaky: ModuleType
) -> None:
    tuners = [_tuner(project, backend, 8, seed) for seed in (1, 2)]
    deadline = time.monotonic() + 120
    while not all((project / f"ready-{seed}").exists() for seed in (1, 2)):
        assert all(p.poll() is None for p in tuners), [p.communicate() for p in tuners]
        assert time.monotonic() < deadline, "the tuners never started"
        time.sleep(0.01)
    (project / "go").write_text("")
    outs = [p.communicate(timeout=300) for p in tuners]
    for p, (_, err) in zip(tuners, outs, strict=True):
        assert p.returncode == 0, err
    runs = [out.split()[-1] for out, _ in outs]
    study = loopml.load_study("shared")
    assert [t.number for t in study.trials] == list(range(16))
    assert all(t.state == "COMPLETE" for t in study.trials)
    parents = [loopml.get_run(t.run_id or "").parent_id for t in study.trials]
    assert sorted(parents) == sorted(runs * 8)  # eight trials of each tuner
    assert parents != sorted(parents, key=runs.index)  # ...which ran at the same time
    _all_pipeline_runs_are_trials(study)


def test_a_tuner_killed_mid_trial_then_continued_keeps_all_completed_trials(
    backend: str, project: Path, flaky: ModuleType
) -> None:
    _plan(project, "fail_next", 1)
    _plan(project, "hang_after", 3)  # trial 0 fails, 1 and 2 complete, 3 hangs
    (project / "go").write_text("")
    tuner = _tuner(project, backend, 6, 0)
    try:
        deadline = time.monotonic() + 120
        while not (project / "hanging").exists():
            assert tuner.poll() is None, tuner.communicate()
            assert time.monotonic() < deadline, "the tuner never reached trial 3"
            time.sleep(0.02)
    finally:
        os.kill(tuner.pid, signal.SIGKILL)
        tuner.wait()
    before = loopml.load_study("shared")
    assert [(t.number, t.state) for t in before.trials] == [
        (0, "FAIL"),
        (1, "COMPLETE"),
        (2, "COMPLETE"),
        (3, "FAIL"),  # RUNNING when the tuner died
    ]
    (project / "hang_after").unlink()
    again = loopml.tune(flaky.flaky, X_SPACE, n_trials=2, metric="score", study="shared", seed=5)
    assert [_key(t) for t in again.trials[:4]] == [_key(t) for t in before.trials]
    assert [(t.number, t.state) for t in again.trials[4:]] == [(4, "COMPLETE"), (5, "COMPLETE")]
    assert [_key(t) for t in loopml.load_study("shared").trials] == [_key(t) for t in again.trials]


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_a_trial_whose_metric_is_not_finite_fails_and_is_never_best(
    backend: str, project: Path, flaky: ModuleType, bad: str
) -> None:
    _plan(project, "bad_value", bad)
    study = loopml.tune(flaky.flaky, X_SPACE, n_trials=3, metric="score", study="s", seed=0)
    first = study.trials[0]
    assert (first.state, first.value) == ("FAIL", None)
    assert f"logged {bad} for the metric 'score'" in (first.error or "")
    assert [t.state for t in study.trials[1:]] == ["COMPLETE", "COMPLETE"]
    assert study.best_trial.number != 0
    stored = loopml.load_study("s")
    assert (stored.trials[0].state, stored.trials[0].value) == ("FAIL", None)
    assert stored.best_trial.number == study.best_trial.number


def test_trial_numbers_are_allocated_uniquely_by_concurrent_writers(
    backend: str, quad: ModuleType
) -> None:
    from loopml.context import current
    from loopml.pipelines.tuning import _repository

    store = current().metadata
    _repository.open_study(store, "s", "quad", "score", "maximize", "{}", "tpe")

    def allocate(worker: int) -> list[int]:
        return [
            _repository.add_trial(store, "s", f"run{worker}", {"i": i}, time.time())
            for i in range(15)
        ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = [n for batch in pool.map(allocate, range(6)) for n in batch]
    assert sorted(numbers) == list(range(90))
    stored = _repository.load_trials(store, "s")
    assert sorted((t.params["i"], t.state) for t in stored) == [
        (i, "FAIL")
        for i in range(15)
        for _ in range(6)  # RUNNING, read back as FAIL
    ]


def test_tuners_opening_one_new_study_at_once_all_go_on(backend: str, project: Path) -> None:
    from loopml.context import current
    from loopml.pipelines.tuning import _repository

    store = current().metadata
    rounds = 20
    start = threading.Barrier(6)

    def open_them(_: int) -> list[int]:
        found = []
        try:
            for i in range(rounds):  # each round a new study, opened by every thread at once
                start.wait(timeout=60)
                opened = _repository.open_study(store, f"new{i}", "quad", "m", "maximize", "{}", "")
                found.append(len(opened))
        except BaseException:
            start.abort()  # the other threads stop waiting for this one
            raise
        return found

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(open_them, range(6))) == [[0] * rounds] * 6
    with pytest.raises(Conflict, match="study 'new0' tunes pipeline 'quad' for maximize 'm'"):
        _repository.open_study(store, "new0", "quad", "m", "minimize", "{}", "")
