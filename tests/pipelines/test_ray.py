"""The Ray executor: same outputs and cache as local, parallel independent steps, clear
errors when Ray is missing or unreachable. Uses the session's shared Ray."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.pipelines.conftest import ProjectCode

import loopml
from loopml.errors import InvalidInput, MissingExtra, Unavailable

PARALLEL = """
import time
from pathlib import Path
import loopml

def meet(me: str, other: str, folder: str) -> bool:
    # announce this step has started, then wait for the other one: only steps that
    # run at the same time both see each other
    Path(folder, me).touch()
    deadline = time.time() + 30
    while time.time() < deadline:
        if Path(folder, other).exists():
            return True
        time.sleep(0.05)
    return False

@loopml.step(cache=False)
def side_a(folder: str) -> bool:
    return meet("a", "b", folder)

@loopml.step(cache=False)
def side_b(folder: str) -> bool:
    return meet("b", "a", folder)

@loopml.step(cache=False)
def join(a: bool, b: bool) -> list[bool]:
    loopml.log_metric("both", float(a and b))
    return [a, b]

@loopml.pipeline
def fan(folder: str = "."):
    return join(side_a(folder), side_b(folder))
"""

FAILING = """
import loopml

@loopml.step
def first(n: int) -> int:
    return n + 1

@loopml.step
def second(x: int, fail: bool) -> int:
    if fail:
        raise RuntimeError("second broke on purpose")
    return x * 10

@loopml.pipeline
def chain(n: int = 1, fail: bool = True):
    return second(first(n), fail)
"""


@pytest.fixture
def ray(ray_session: object) -> object:
    return ray_session


def test_ray_gives_the_local_outputs_and_shares_the_cache(
    ray: object, project: Path, sums: ModuleType
) -> None:
    on_ray = sums.sums.run(executor="ray")
    assert [s.status for s in on_ray.steps] == ["FINISHED"] * 3
    assert [s.cached for s in on_ray.steps] == [False] * 3
    local = sums.sums.run(executor="local")
    assert [s.cached for s in local.steps] == [True] * 3
    assert [s.output for s in local.steps] == [s.output for s in on_ray.steps]
    assert [s.cache_key for s in local.steps] == [s.cache_key for s in on_ray.steps]
    run = loopml.get_run(on_ray.id)
    assert run.tags["loopml.executor"] == "ray"
    # a change misses on Ray exactly where it misses locally
    again = sums.sums.run({"scale": 5}, executor="ray")
    assert [s.cached for s in again.steps] == [True, True, False]
    assert again.steps[-1].explain == "miss: params changed: scale"
    assert again.steps[-1].output == 50


def test_independent_steps_run_at_the_same_time_and_log_to_their_runs(
    ray: object, project: Path, code: ProjectCode
) -> None:
    code.write("fan_pipe", PARALLEL)
    meeting = project / "meeting"
    meeting.mkdir()
    run = code.load("fan_pipe").fan.run({"folder": str(meeting)}, executor="ray")
    assert run.step("join").output == [True, True]
    assert loopml.get_run(run.step("join").run_id).metrics["both"] == 1.0


def test_a_failing_step_on_ray_stores_its_traceback_and_resumes(
    ray: object, project: Path, code: ProjectCode
) -> None:
    code.write("fail_pipe", FAILING)
    mod = code.load("fail_pipe")
    with pytest.raises(loopml.pipelines.PipelineFailed) as err:
        mod.chain.run(executor="ray")
    failed = err.value.run
    assert [s.status for s in failed.steps] == ["FINISHED", "FAILED"]
    assert "second broke on purpose" in loopml.get_run(failed.steps[1].run_id).error
    fixed = mod.chain.run({"fail": False}, executor="ray")
    assert [s.cached for s in fixed.steps] == [True, False]
    assert fixed.steps[1].output == 20


def test_an_unreachable_cluster_is_an_error_before_any_run(project: Path, sums: ModuleType) -> None:
    with pytest.raises(Unavailable, match=r"ray://127\.0\.0\.1:9' does not answer"):
        sums.sums.run(executor="ray://127.0.0.1:9")
    assert loopml.search_runs() == []


def test_ray_not_installed_names_the_extra(
    project: Path, sums: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtra, match=r"loopml\[ray\]"):
        sums.sums.run(executor="ray")
    assert loopml.search_runs() == []


def test_an_unknown_executor_is_refused(project: Path, sums: ModuleType) -> None:
    with pytest.raises(InvalidInput, match="unknown executor 'dask'"):
        sums.sums.run(executor="dask")


def test_the_executor_can_come_from_loopml_toml(
    project: Path, sums: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "loopml.toml").write_text('[pipeline]\nexecutor = "ray://127.0.0.1:9"\n')
    with pytest.raises(Unavailable):
        sums.sums()


def test_loopml_run_refuses_an_unknown_executor(
    project: Path, sums: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pipelines.test_run_cli import _loopml

    (project / "loopml.toml").write_text('[pipeline]\nentry = "pipe:sums"\n')
    status, out = _loopml(capsys, "run", "--executor", "dask")
    assert status == 1
    assert "unknown executor 'dask'" in out


MODEL_STEP = """
import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def train(n: int) -> LogisticRegression:
    xs = [float(i) for i in range(n)]
    frame = pd.DataFrame({"a": xs, "y": [int(x >= n / 2) for x in xs]})
    return LogisticRegression().fit(frame[["a"]], frame["y"])

@loopml.pipeline
def fit(n: int = 20):
    return train(n)
"""


def test_a_model_step_on_ray_stores_the_package_the_local_run_would(
    ray: object, project: Path, code: ProjectCode
) -> None:
    pytest.importorskip("skops")
    code.write("model_pipe", MODEL_STEP)
    pipe = code.load("model_pipe").fit
    on_ray = pipe.run(executor="ray")
    local = pipe.run(executor="local", cache=False)
    a = loopml.models.read_model_info(f"runs:/{on_ray.step('train').run_id}/model")
    b = loopml.models.read_model_info(f"runs:/{local.step('train').run_id}/model")
    assert a.manifest_digest == b.manifest_digest
    registered = loopml.automation.register_step_model(on_ray, "ray-model")
    model = loopml.load_model(f"models:/ray-model/{registered.version.version}")
    assert list(model.predict([{"a": 1.0}, {"a": 19.0}])) == [0, 1]
