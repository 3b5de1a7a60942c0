"""The SDK that finds and runs a project's pipeline: ``loopml.load_pipeline`` reads
``[pipeline] entry`` and imports it from the project root; ``run_pipeline`` runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.pipelines.conftest import HELPERS, PIPE, ProjectCode

import loopml
from loopml.errors import InvalidInput, NotFound, PipelineFailed
from loopml.pipelines import StepEvent, StepState, run_pipeline


@pytest.fixture
def entry(project: Path, code: ProjectCode, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``pipe:sums`` as the project's entry, with the project root *not* on sys.path."""
    code.write("helpers", HELPERS)
    code.write("pipe", PIPE)
    (project / "loopml.toml").write_text('[pipeline]\nentry = "pipe:sums"\n\n[params]\nn = 4\n')
    root = str(project)
    # the working directory is the project: drop the entries that would find it anyway
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in (root, "", ".")])
    return project


def test_load_pipeline_imports_the_entry_from_the_project_root(entry: Path) -> None:
    pipe = loopml.load_pipeline()
    assert isinstance(pipe, loopml.pipelines.Pipeline)
    assert pipe.name == "sums"
    assert str(entry) in sys.path
    assert Path(sys.modules["pipe"].__file__ or "").resolve() == (entry / "pipe.py").resolve()
    run = pipe()
    assert run.status == "FINISHED"
    assert run.params["n"] == 4  # [params] of loopml.toml
    assert run.steps[-1].output == 12


def test_load_pipeline_takes_an_explicit_target_over_the_entry(
    entry: Path, code: ProjectCode
) -> None:
    code.write(
        "other",
        """
        import loopml

        @loopml.step
        def one() -> int:
            return 1

        @loopml.pipeline
        def only_one():
            return one()
        """,
    )
    pipe = loopml.load_pipeline("other:only_one")
    assert pipe.name == "only_one"
    assert pipe().steps[0].output == 1


def test_a_client_loads_the_entry_of_its_own_project(
    entry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(InvalidInput, match=r"\[pipeline\]"):
        loopml.load_pipeline()  # the default context follows the working directory
    client = loopml.Client(entry)
    pipe = client.load_pipeline()
    assert pipe.name == "sums"
    assert str(entry) in sys.path


@pytest.mark.parametrize(
    "target", ["pipe", "pipe:", ":sums", "pipe.sums", "../pipe:sums", ".pipe:sums", "pipe:a.b"]
)
def test_a_malformed_target_is_refused_with_the_expected_form(entry: Path, target: str) -> None:
    with pytest.raises(InvalidInput, match=r"expected module:function, e\.g\. 'pipeline:train'"):
        loopml.load_pipeline(target)


def test_a_target_that_is_not_a_string_is_refused(entry: Path) -> None:
    with pytest.raises(InvalidInput, match="'module:function', got 3"):
        loopml.load_pipeline(3)  # type: ignore[arg-type]


def test_an_attribute_that_is_not_a_pipeline_is_refused_naming_what_it_is(entry: Path) -> None:
    with pytest.raises(InvalidInput, match=r"'pipe:load' must name .*@loopml\.pipeline, got Step"):
        loopml.load_pipeline("pipe:load")  # a step, not a pipeline
    with pytest.raises(InvalidInput, match=r"'pipe:helpers' .*@loopml\.pipeline, got module"):
        loopml.load_pipeline("pipe:helpers")
    with pytest.raises(InvalidInput, match=r"'pipe:nope' .*@loopml\.pipeline, got nothing"):
        loopml.load_pipeline("pipe:nope")


def test_a_missing_module_is_not_found_naming_the_module_and_the_root(entry: Path) -> None:
    with pytest.raises(
        NotFound, match=r"cannot import module 'nope' of pipeline 'nope:train'"
    ) as err:
        loopml.load_pipeline("nope:train")
    assert str(entry) in str(err.value)
    assert "[pipeline] entry" in str(err.value)
    with pytest.raises(NotFound, match="cannot import module 'nope.deeper'"):
        loopml.load_pipeline("nope.deeper:train")


def test_a_module_failing_its_own_import_keeps_that_error(entry: Path, code: ProjectCode) -> None:
    code.write("broken", "import loopml_no_such_dependency\n")
    with pytest.raises(ModuleNotFoundError, match="loopml_no_such_dependency"):
        loopml.load_pipeline("broken:train")


def test_without_an_entry_load_pipeline_says_how_to_set_one(project: Path) -> None:
    with pytest.raises(InvalidInput, match=r"\[pipeline\]\nentry = ") as err:
        loopml.load_pipeline()
    assert "loopml run module:function" in str(err.value)


def test_run_pipeline_runs_the_entry_with_overrides_and_events(entry: Path) -> None:
    events: list[StepEvent] = []
    first = run_pipeline(overrides=["scale=3"], on_event=events.append)
    assert first.name == "sums"
    assert first.status == "FINISHED"
    assert first.params == {"n": 4, "scale": 3}
    assert first.steps[-1].output == 18
    waiting = (StepState.PENDING, StepState.RUNNING)
    assert {e.step for e in events if e.state == StepState.PENDING} == {"load", "cleaned", "total"}
    assert [(e.step, e.state) for e in events if e.state not in waiting] == [
        ("load", StepState.FINISHED),
        ("cleaned", StepState.FINISHED),
        ("total", StepState.FINISHED),
    ]
    events.clear()
    again = run_pipeline("pipe:sums", {"scale": 3}, on_event=events.append)
    assert [s.cached for s in again.steps] == [True, True, True]
    # a cached step says so when found, then again with its duration once its outputs are in
    assert [(e.step, e.state) for e in events if e.duration is not None] == [
        ("load", StepState.CACHED),
        ("cleaned", StepState.CACHED),
        ("total", StepState.CACHED),
    ]
    assert loopml.get_run(again.id).kind == "pipeline"
    fresh = run_pipeline(loopml.load_pipeline(), {"scale": 3}, cache=False, experiment="sdk")
    assert [s.cached for s in fresh.steps] == [False, False, False]
    assert loopml.get_run(fresh.id).experiment == "sdk"


def test_run_pipeline_refuses_an_unknown_param_before_running(entry: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown parameter 'sclae'"):
        run_pipeline(overrides=["sclae=5"])
    assert loopml.search_runs() == []


def test_run_pipeline_raises_pipeline_failed_carrying_the_run(entry: Path) -> None:
    (entry / "pipe.py").write_text(PIPE.replace("return sum(xs) * scale", "raise KeyError('k')"))
    with pytest.raises(PipelineFailed, match="step 'total' of pipeline 'sums' failed") as err:
        run_pipeline()
    assert err.value.run.status == "FAILED"
    assert [s.status for s in err.value.run.steps] == ["FINISHED", "FINISHED", "FAILED"]


def test_a_client_runs_the_pipeline_in_its_own_project(
    entry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = loopml.Client(
        entry,
        tracking_uri=f"sqlite:///{tmp_path / 'client.db'}",
        artifact_uri=str(tmp_path / "client-artifacts"),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = client.run_pipeline()
    assert run.steps[-1].output == 12
    assert client.get_run(run.id).kind == "pipeline"
    assert [r.id for r in client.search_runs("kind = 'pipeline'")] == [run.id]
    assert (tmp_path / "client.db").exists()
    # read back later, its outputs still come from the client's artifact store
    assert client.load_pipeline_run(run.id).steps[-1].output == 12
    assert any((tmp_path / "client-artifacts").iterdir())
