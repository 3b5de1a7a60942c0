from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.pipelines.conftest import ProjectCode

import loopml
from loopml.lineage import downstream, upstream


def test_steps_run_in_dependency_order_and_pass_outputs(project: Path, sums: ModuleType) -> None:
    run = sums.sums()
    assert run.status == "FINISHED"
    assert [s.name for s in run.steps] == ["load", "cleaned", "total"]
    assert run.steps[0].output == [-2, -1, 0, 1, 2, 3, 4]
    assert run.steps[1].output == [0, 1, 2, 3, 4]
    assert run.steps[2].outputs["output"] == 20
    assert all(not s.cached and s.duration is not None for s in run.steps)


def test_independent_steps_keep_call_order_and_fan_in(project: object, code: ProjectCode) -> None:
    code.write(
        "fan",
        """
        import loopml

        @loopml.step
        def const(v: int) -> int:
            return v

        @loopml.step
        def add(a: int, b: int) -> int:
            return a + b

        @loopml.pipeline
        def fan():
            x = const(1)
            y = const(2)
            return add(x, add(y, x))
        """,
    )
    run = code.load("fan").fan()
    assert [s.name for s in run.steps] == ["const", "const_2", "add", "add_2"]
    assert run.step("add_2").output == 4


def test_a_step_outside_a_pipeline_is_its_plain_function(sums: ModuleType) -> None:
    assert sums.total([1, 2], scale=3) == 9


def test_pipeline_and_step_runs_are_tracked_with_params(project: Path, sums: ModuleType) -> None:
    run = sums.sums(n=3)
    parent = loopml.get_run(run.id)
    assert parent.kind == "pipeline"
    assert parent.params == {"n": 3, "scale": 2}
    child = loopml.get_run(run.step("total").run_id)
    assert child.kind == "step"
    assert child.parent_id == run.id
    assert child.params == {"scale": 2}
    assert child.status == "FINISHED"


def test_lineage_links_inputs_step_runs_and_outputs(backend: str, sums: ModuleType) -> None:
    run = sums.sums()
    load_id, clean_id = run.steps[0].run_id, run.steps[1].run_id
    out = f"runs:/{load_id}/outputs/output.json"
    assert ("output", out) in {(e.relation, e.dst) for e in downstream(f"runs:/{load_id}")}
    assert (out, "input") in {(e.src, e.relation) for e in upstream(f"runs:/{clean_id}")}
    assert loopml.tracking.list_artifacts(load_id)[0].path == "outputs/output.json"


def test_a_pipeline_run_reads_back_with_its_steps(backend: str, sums: ModuleType) -> None:
    run = sums.sums()
    again = sums.sums()
    loaded = loopml.load_pipeline_run(again.id)
    assert loaded.status == "FINISHED"
    assert loaded.params == {"n": 5, "scale": 2}
    assert [s.name for s in loaded.steps] == ["load", "cleaned", "total"]
    assert all(s.cached for s in loaded.steps)
    assert loaded.steps[2].output == 20
    assert loaded.steps[2].cache_key == run.steps[2].cache_key
    assert loaded.steps[0].explain.startswith("hit")
