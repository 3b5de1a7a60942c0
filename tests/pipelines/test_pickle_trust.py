"""A pickled output loads only with the reader's own opt-in: ``allow_pickle=True`` on the
load or a trusted store (``[store] trust_pickle``); within the run that computed it, the
step's ``allow_pickle=True`` is the opt-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.conftest import ProjectCode

import loopml
from loopml.errors import InvalidInput, Untrusted

PICKLED = """
import loopml

@loopml.step(allow_pickle=True)
def make(n: int) -> set:
    return set(range(n))  # a set is not JSON: it is pickled

@loopml.step
def count(bag: set, plus: int) -> int:
    return len(bag) + plus

@loopml.pipeline
def p(n: int = 3, plus: int = 0):
    return count(make(n), plus)
"""


@pytest.fixture
def pickled(project: Path, code: ProjectCode) -> object:
    code.write("pickled", PICKLED)
    return code.load("pickled")


def test_a_run_reads_the_pickles_it_computed_itself(pickled: object) -> None:
    run = pickled.p()  # type: ignore[attr-defined]
    assert run.step("count").output == 3
    assert run.step("make").output == {0, 1, 2}
    assert run.step("make").output_records[0].materializer == "pickle"


def test_loading_a_stored_pickle_needs_the_readers_opt_in(pickled: object) -> None:
    run = pickled.p()  # type: ignore[attr-defined]
    loaded = loopml.load_pipeline_run(run.id)
    assert loaded.step("count").output == 3  # JSON: no opt-in needed
    with pytest.raises(Untrusted) as err:
        _ = loaded.step("make").output
    message = str(err.value)
    assert "'output'" in message and "outputs/output.pkl" in message
    assert "allow_pickle=True" in message and "trust_pickle = true" in message
    assert "LOOPML_TRUST_PICKLE=1" in message
    trusting = loopml.load_pipeline_run(run.id, allow_pickle=True)
    assert trusting.step("make").output == {0, 1, 2}


def test_a_trusted_store_loads_pickles_without_asking(
    project: Path, pickled: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = pickled.p()  # type: ignore[attr-defined]
    (project / "loopml.toml").write_text("[store]\ntrust_pickle = true\n")
    assert loopml.load_pipeline_run(run.id).step("make").output == {0, 1, 2}
    (project / "loopml.toml").write_text("")
    monkeypatch.setenv("LOOPML_TRUST_PICKLE", "1")
    assert loopml.load_pipeline_run(run.id).step("make").output == {0, 1, 2}
    monkeypatch.setenv("LOOPML_TRUST_PICKLE", "0")
    with pytest.raises(Untrusted):
        _ = loopml.load_pipeline_run(run.id).step("make").output


def test_a_later_run_does_not_unpickle_a_cached_output_unless_trusted(
    project: Path, pickled: object
) -> None:
    pickled.p()  # type: ignore[attr-defined]
    with pytest.raises(loopml.pipelines.PipelineFailed) as err:
        pickled.p(plus=1)  # type: ignore[attr-defined]  # make hits; count must load its pickle
    failed = err.value.run
    assert [s.cached for s in failed.steps] == [True, False]
    assert "Untrusted" in (failed.step("count").error or "")
    assert "trust_pickle" in (failed.step("count").error or "")
    with pytest.raises(Untrusted):
        _ = failed.step("make").output  # a cache hit: this run did not compute it
    rerun = pickled.p.run({"plus": 1}, cache=False)  # type: ignore[attr-defined]
    assert rerun.step("count").output == 4  # computed in this run: its own pickle
    (project / "loopml.toml").write_text("[store]\ntrust_pickle = true\n")
    assert pickled.p(plus=2).step("count").output == 5  # type: ignore[attr-defined]


def test_trust_pickle_must_be_a_boolean(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "loopml.toml").write_text('[store]\ntrust_pickle = "yes"\n')
    with pytest.raises(InvalidInput, match=r"\[store\] trust_pickle must be true or false"):
        loopml.context.current().settings  # noqa: B018
    (project / "loopml.toml").write_text("")
    monkeypatch.setenv("LOOPML_TRUST_PICKLE", "maybe")
    with pytest.raises(InvalidInput, match="LOOPML_TRUST_PICKLE=1"):
        loopml.context.current().settings  # noqa: B018


def test_a_ray_step_reads_the_pickles_of_its_own_run_only(
    ray_session: object, project: Path, pickled: object
) -> None:
    run = pickled.p.run(executor="ray")  # type: ignore[attr-defined]
    assert run.step("count").output == 3  # the worker loaded this run's own pickle
    with pytest.raises(loopml.pipelines.PipelineFailed) as err:
        pickled.p.run({"plus": 1}, executor="ray")  # type: ignore[attr-defined]
    assert "Untrusted" in (err.value.run.step("count").error or "")
