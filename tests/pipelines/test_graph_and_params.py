from __future__ import annotations

from pathlib import Path

import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.pipelines._graph import Graph, building
from loopml.pipelines._params import parse_override


@loopml.step
def one() -> int:
    return 1


@loopml.step
def inc(x: int) -> int:
    return x + 1


def test_a_cycle_is_refused_before_anything_runs() -> None:
    graph = Graph()
    with building(graph):
        a = inc(one())
        inc(a)
    graph.nodes["one"].depends_on.append("inc_2")
    with pytest.raises(InvalidInput, match="cycle: one -> inc_2 -> inc -> one"):
        graph.order()


def test_a_missing_input_is_refused_naming_the_step(project: Path) -> None:
    @loopml.pipeline
    def p() -> object:
        return inc()

    with pytest.raises(InvalidInput, match="step 'inc' was called with arguments"):
        p()


def test_an_output_from_another_pipeline_run_is_refused(project: Path) -> None:
    leaked = []

    @loopml.pipeline
    def first() -> object:
        leaked.append(one())
        return None

    @loopml.pipeline
    def second() -> object:
        return inc(leaked[0])

    first()
    with pytest.raises(InvalidInput, match="not part of this pipeline run"):
        second()


def test_a_step_output_cannot_be_branched_on_in_the_body(project: Path) -> None:
    @loopml.pipeline
    def p() -> object:
        return inc(1) if one() else None

    with pytest.raises(InvalidInput, match="Move the decision into a step"):
        p()


def test_an_unknown_override_lists_the_known_params(project: Path) -> None:
    ran = []

    @loopml.pipeline
    def p(depth: int = 3, model: dict = {"lr": 0.1}) -> object:  # noqa: B006
        ran.append(1)
        return None

    with pytest.raises(InvalidInput, match=r"unknown parameter 'dpth'.*depth, model"):
        p.run(overrides=["dpth=4"])
    with pytest.raises(InvalidInput, match=r"'model.rate'.*model.lr"):
        p.run(overrides=["model.rate=4"])
    with pytest.raises(InvalidInput, match="unknown parameter 'x'"):
        p(x=1)
    assert ran == []


def test_params_come_from_defaults_files_and_overrides(project: Path) -> None:
    (project / "loopml.toml").write_text(
        "[params]\ndepth = 5\nunrelated = 1\n[params.model]\nlr = 0.5\n"
    )
    (project / "params.yaml").write_text("depth: 4\nmodel:\n  l2: 1.0\n")
    seen = {}

    @loopml.pipeline
    def p(depth: int = 3, model: dict = {"lr": 0.1, "l2": 0.0, "kind": "a"}) -> object:  # noqa: B006
        seen.update(depth=depth, model=model)
        return None

    run = p.run(overrides=["model.kind=b", "model.l2=2"])
    assert seen == {"depth": 5, "model": {"lr": 0.5, "l2": 2, "kind": "b"}}
    assert run.params == {"depth": 5, "model.lr": 0.5, "model.l2": 2, "model.kind": "b"}


def test_override_values_parse_as_toml_scalars() -> None:
    assert parse_override("a=6") == ("a", 6)
    assert parse_override("a.b=0.5") == ("a.b", 0.5)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=hello world") == ("a", "hello world")
    assert parse_override('a="6"') == ("a", "6")
    with pytest.raises(InvalidInput, match="expected key=value"):
        parse_override("novalue")
