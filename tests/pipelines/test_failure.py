from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.conftest import ProjectCode

import loopml
from loopml.pipelines import PipelineFailed

FLAKY = """
import loopml
import switch

@loopml.step
def first() -> int:
    return 1

@loopml.step
def second(x: int) -> int:
    if switch.BROKEN:
        raise ValueError("boom in second")
    return x + 1

@loopml.step
def third(x: int) -> int:
    return x * 10

@loopml.pipeline
def p():
    return third(second(first()))
"""


def test_a_failing_step_fails_the_run_and_keeps_its_traceback(
    backend: str, code: ProjectCode
) -> None:
    code.write("switch", "BROKEN = True\n")
    code.write("flaky", FLAKY)
    with pytest.raises(PipelineFailed, match="step 'second'") as info:
        code.load("flaky").p()
    run = info.value.run
    assert run.status == "FAILED"
    assert [s.status for s in run.steps] == ["FINISHED", "FAILED", "SKIPPED"]
    assert "ValueError: boom in second" in (run.steps[1].error or "")
    stored = loopml.get_run(run.steps[1].run_id or "")
    assert stored.status == "FAILED"
    assert "boom in second" in (stored.error or "")
    assert loopml.get_run(run.id).status == "FAILED"
    loaded = loopml.load_pipeline_run(run.id)
    assert loaded.status == "FAILED"
    assert [s.status for s in loaded.steps] == ["FINISHED", "FAILED"]


def test_a_rerun_after_a_failure_resumes_from_the_last_good_step(
    project: Path, code: ProjectCode
) -> None:
    code.write("switch", "BROKEN = True\n")
    code.write("flaky", FLAKY)
    with pytest.raises(PipelineFailed):
        code.load("flaky").p()
    code.write("switch", "BROKEN = False  # fixed\n")
    run = code.load("flaky").p()
    assert run.status == "FINISHED"
    assert [s.cached for s in run.steps] == [True, False, False]
    assert run.steps[1].explain == "miss: no entry"  # the failure cached nothing
    assert run.steps[2].output == 20


def test_an_unmaterializable_output_fails_the_step_naming_the_type_and_fix(
    project: Path, code: ProjectCode
) -> None:
    code.write(
        "odd",
        """
        import loopml

        class Thing:
            pass

        @loopml.step
        def make() -> object:
            return Thing()

        @loopml.step(allow_pickle=True)
        def make_pickled() -> object:
            return {1, 2, 3}

        @loopml.pipeline
        def bad():
            return make()

        @loopml.pipeline
        def pickled():
            return make_pickled()
        """,
    )
    mod = code.load("odd")
    with pytest.raises(PipelineFailed) as info:
        mod.bad()
    error = info.value.run.steps[0].error or ""
    assert "odd.Thing" in error
    assert "register_materializer" in error
    assert "allow_pickle=True" in error
    run = mod.pickled()
    assert run.steps[0].output == {1, 2, 3}
    assert run.steps[0].output_records[0].materializer == "pickle"
    assert run.steps[0].output_records[0].path == "outputs/output.pkl"
