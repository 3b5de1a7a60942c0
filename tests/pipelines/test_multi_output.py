from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.conftest import ProjectCode

import loopml
from loopml.errors import InvalidInput

SPLIT = """
import loopml

@loopml.step(outputs=("evens", "odds"))
def split(n: int):
    xs = list(range(n))
    return [x for x in xs if x % 2 == 0], [x for x in xs if x % 2]

@loopml.step
def total(xs: list[int]) -> int:
    return sum(xs)

@loopml.pipeline
def halves(n: int = 6):
    evens, odds = split(n)
    return total(evens), total(odds)
"""

ANNOTATED = """
from __future__ import annotations
import loopml

@loopml.step
def pair(n: int) -> tuple[int, str]:
    return n, str(n)

@loopml.step
def show(a: int, b: str) -> str:
    return f"{a}:{b}"

@loopml.pipeline
def both(n: int = 3):
    a, b = pair(n)
    return show(a, b)
"""


def test_named_outputs_are_stored_apart_and_unpack_in_the_pipeline(
    project: Path, code: ProjectCode
) -> None:
    code.write("split_pipe", SPLIT)
    run = code.load("split_pipe").halves()
    split = run.step("split")
    assert dict(split.outputs) == {"evens": [0, 2, 4], "odds": [1, 3, 5]}
    assert [r.path for r in split.output_records] == ["outputs/evens.json", "outputs/odds.json"]
    assert [s.output for s in run.steps if s.name.startswith("total")] == [6, 9]
    # read back from the store, each output is its own artifact
    again = loopml.load_pipeline_run(run.id)
    assert again.step("split").outputs["odds"] == [1, 3, 5]
    assert again.step("split").output == ([0, 2, 4], [1, 3, 5])


def test_a_tuple_annotation_gives_numbered_outputs_and_each_input_is_linked(
    project: Path, code: ProjectCode
) -> None:
    code.write("ann_pipe", ANNOTATED)
    run = code.load("ann_pipe").both()
    assert run.step("pair").outputs["output_0"] == 3
    assert run.step("show").output == "3:3"
    uris = {
        c.uri
        for c in loopml.get_lineage(f"runs:/{run.step('show').run_id}").upstream.children or []
    }
    pair_id = run.step("pair").run_id
    assert f"runs:/{pair_id}/outputs/output_0.json" in uris
    assert f"runs:/{pair_id}/outputs/output_1.json" in uris


def test_only_the_output_that_changed_misses_downstream(project: Path, code: ProjectCode) -> None:
    code.write("split_pipe", SPLIT)
    mod = code.load("split_pipe")
    mod.halves(n=6)
    run = mod.halves(n=7)  # adds 6 to evens only
    cached = {s.name: s.cached for s in run.steps}
    assert cached == {"split": False, "total": False, "total_2": True}


def test_a_wrong_number_of_values_fails_the_step_with_what_was_declared(
    project: Path, code: ProjectCode
) -> None:
    code.write(
        "bad_pipe",
        SPLIT.replace(
            "return [x for x in xs if x % 2 == 0], [x for x in xs if x % 2]", "return xs"
        ),
    )
    with pytest.raises(loopml.pipelines.PipelineFailed) as err:
        code.load("bad_pipe").halves()
    assert "declares 2 outputs (evens, odds) but returned a list of 6" in str(err.value)
    assert [s.status for s in err.value.run.steps] == ["FAILED", "SKIPPED", "SKIPPED"]


def test_unpacking_a_single_output_step_says_how_to_declare_several(project: Path) -> None:
    @loopml.step
    def one(n: int) -> int:
        return n

    @loopml.pipeline
    def pipe(n: int = 1):
        _first, _second = one(n)

    with pytest.raises(InvalidInput, match=r"outputs=\('train', 'test'\)"):
        pipe()


@pytest.mark.parametrize("outputs", [(), ("a", "a"), ("not valid",), (1, 2)])
def test_bad_output_names_are_refused(outputs: tuple) -> None:
    with pytest.raises(InvalidInput, match="distinct Python identifiers"):
        loopml.step(outputs=outputs)(lambda: (1, 2))
