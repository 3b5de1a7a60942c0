from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.pipelines.conftest import HELPERS, PIPE, ProjectCode

import loopml
from loopml.context import current


def _cached(run: loopml.PipelineRun) -> list[bool]:
    return [s.cached for s in run.steps]


def test_a_rerun_hits_the_cache_with_equal_outputs(backend: str, sums: ModuleType) -> None:
    first = sums.sums()
    second = sums.sums()
    assert _cached(second) == [True, True, True]
    assert [s.output for s in second.steps] == [s.output for s in first.steps]
    assert [s.cache_key for s in second.steps] == [s.cache_key for s in first.steps]
    assert second.steps[0].explain.startswith("hit")


def test_a_changed_param_misses_only_where_it_matters(project: Path, sums: ModuleType) -> None:
    sums.sums()
    run = sums.sums(scale=3)
    assert _cached(run) == [True, True, False]
    assert run.steps[2].explain == "miss: params changed: scale"
    assert run.steps[2].output == 30


def test_editing_a_step_misses_with_source_changed(project: Path, code: ProjectCode) -> None:
    code.write("helpers", HELPERS)
    code.write("pipe", PIPE)
    code.load("pipe").sums()
    code.write("pipe", PIPE.replace("return sum(xs) * scale", "return sum(xs) * scale + 0"))
    run = code.load("pipe").sums()
    assert _cached(run) == [True, True, False]
    assert run.steps[2].explain == "miss: source changed"


def test_editing_a_helper_in_another_module_misses(project: Path, code: ProjectCode) -> None:
    code.write("helpers", HELPERS)
    code.write("pipe", PIPE)
    code.load("pipe").sums()
    code.write("helpers", HELPERS.replace("x >= 0", "0 <= x"))
    run = code.load("pipe").sums()
    assert _cached(run) == [True, False, True]  # same output of cleaned: total hits again
    assert run.steps[1].explain == "miss: project code changed: helpers.clean"


LOCAL_IMPORTS = """
import loopml

@loopml.step
def load(n: int) -> list[int]:
    return list(range(-2, n))

@loopml.step
def cleaned(xs: list[int]) -> list[int]:
    from helpers import clean          # imported in the step, not at the top
    import pkg.tools as tools
    return tools.twice(clean(xs))

@loopml.pipeline
def sums(n: int = 5):
    return cleaned(load(n))
"""


def test_project_code_imported_inside_a_step_is_tracked(project: Path, code: ProjectCode) -> None:
    code.write("helpers", HELPERS)
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("")
    code.write("pkg/tools", "def twice(xs):\n    return xs + xs\n")
    code.write("local_pipe", LOCAL_IMPORTS)
    first = code.load("local_pipe").sums()
    assert first.steps[1].output == [0, 1, 2, 3, 4] * 2
    assert _cached(code.load("local_pipe").sums()) == [True, True]
    code.write("helpers", HELPERS.replace("x >= 0", "x > 0"))
    run = code.load("local_pipe").sums()
    assert _cached(run) == [True, False]
    assert run.steps[1].explain == "miss: project code changed: helpers.clean"
    code.write("pkg/tools", "def twice(xs):\n    return xs * 2\n")
    run = code.load("local_pipe").sums()
    assert run.steps[1].explain == "miss: project code changed: pkg.tools.twice"


def test_a_helper_imported_by_name_and_its_constants_are_tracked(
    project: Path, code: ProjectCode
) -> None:
    code.write("consts", "LIMIT = 2\n")
    code.write(
        "helpers",
        """
        from consts import LIMIT

        def clip(x):
            return min(x, LIMIT)
        """,
    )
    code.write(
        "pipe2",
        """
        import loopml
        from helpers import clip

        @loopml.step
        def clipped(x: int) -> int:
            return clip(x)

        @loopml.pipeline
        def p(x: int = 5):
            return clipped(x)
        """,
    )
    assert code.load("pipe2").p().steps[0].output == 2
    code.write("consts", "LIMIT = 3\n")
    run = code.load("pipe2").p()
    assert run.steps[0].output == 3
    assert run.steps[0].explain == "miss: project code changed: helpers.LIMIT"


def test_changed_input_data_misses(project: Path, code: ProjectCode) -> None:
    data = project / "numbers.csv"
    data.write_text("x\n1\n2\n")
    loopml.add_dataset(str(data), name="numbers")
    code.write(
        "datapipe",
        """
        import loopml

        @loopml.step
        def count(uri: str) -> int:
            return len(loopml.get_dataset(uri).to_pandas())

        @loopml.pipeline
        def p(uri: str = "data:/numbers@latest"):
            return count(uri)
        """,
    )
    mod = code.load("datapipe")
    assert mod.p().steps[0].output == 2
    assert mod.p().steps[0].cached
    data.write_text("x\n1\n2\n3\n")
    loopml.add_dataset(str(data), name="numbers")
    run = mod.p()
    assert not run.steps[0].cached
    assert run.steps[0].explain == "miss: inputs changed: uri"
    assert run.steps[0].output == 3


def test_a_deleted_artifact_is_a_miss_that_says_so(backend: str, sums: ModuleType) -> None:
    first = sums.sums()
    digest = first.steps[2].output_records[0].digest
    current().artifacts.delete(digest)
    run = sums.sums()
    assert _cached(run) == [True, True, False]
    assert run.steps[2].explain.startswith("miss: artifact missing: output")
    assert run.steps[2].output == 20
    assert sums.sums().steps[2].cached  # stored again


def test_no_cache_runs_every_step_and_refills_the_cache(project: Path, sums: ModuleType) -> None:
    sums.sums()
    run = sums.sums.run(cache=False)
    assert _cached(run) == [False, False, False]
    assert run.steps[0].explain == "cache off (--no-cache)"


def test_a_step_with_cache_off_always_runs(project: Path, code: ProjectCode) -> None:
    code.write(
        "nocache",
        """
        import loopml

        calls = []

        @loopml.step(cache=False, name="stamp")
        def stamp_step() -> int:
            calls.append(1)
            return len(calls)

        @loopml.pipeline(name="stamper")
        def p():
            return stamp_step()
        """,
    )
    mod = code.load("nocache")
    mod.p()
    run = mod.p()
    assert run.name == "stamper"
    assert run.steps[0].name == "stamp"
    assert not run.steps[0].cached
    assert run.steps[0].output == 2
    assert run.steps[0].explain == "cache off for this step"


def test_cached_outputs_are_referenced_so_gc_keeps_them(project: Path, sums: ModuleType) -> None:
    run = sums.sums()
    report = loopml.gc(dry_run=False, grace_seconds=0)
    kept = {d for d, _ in report.removed}
    assert run.steps[2].output_records[0].digest not in kept
    assert sums.sums().steps[2].cached


SCALED = """
import loopml

@loopml.step
def base(n: int) -> int:
    return n

@loopml.step
def scaled(x: int, scale: int) -> int:
    return x * scale

@loopml.pipeline
def p(n: int = 3, scale: int = 2):
    return scaled(base(n), scale)

@loopml.pipeline
def other(n: int = 3, scale: int = 2):
    return scaled(base(n), scale)
"""


def test_explain_compares_with_the_closest_entry_and_names_it(
    project: Path, code: ProjectCode
) -> None:
    code.write("scaled", SCALED)
    mine = code.load("scaled").p(scale=2)
    for scale in (3, 4, 5):  # newer entries of the same step, a tuner's trials say
        code.load("scaled").p(scale=scale)
    code.write("scaled", SCALED.replace("return x * scale", "return x * scale * 1"))
    run = code.load("scaled").p(scale=2)
    step = run.steps[1]
    assert step.explain == "miss: source changed"  # not "source changed; params changed"
    entry = f"cache:/{mine.steps[1].cache_key}"
    assert step.compared_with == f"{entry} (run {mine.steps[1].run_id})"
    assert f"scaled: miss: source changed (compared with {entry}" in run.explain
    loaded = loopml.load_pipeline_run(run.id)
    assert loaded.steps[1].compared_with == step.compared_with
    assert loaded.steps[0].compared_with is None  # a hit compares with nothing


def test_explain_prefers_an_entry_of_the_same_pipeline_among_equally_close_ones(
    project: Path, code: ProjectCode
) -> None:
    code.write("scaled", SCALED)
    mod = code.load("scaled")
    ours = mod.p(scale=2)
    mod.other(scale=3)  # newer, and as close: one param differs
    run = mod.p(scale=4)
    assert run.steps[1].explain == "miss: params changed: scale"
    assert run.steps[1].compared_with == (
        f"cache:/{ours.steps[1].cache_key} (run {ours.steps[1].run_id})"
    )
