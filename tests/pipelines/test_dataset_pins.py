"""A pipeline reads the dataset version loopml.lock pins, and records the version it read."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import pytest
from tests.pipelines.conftest import ProjectCode
from tests.pipelines.test_run_cli import _loopml

import loopml

PIPE = """
import loopml

@loopml.step
def count(uri: str) -> dict:
    return {"uri": uri, "rows": len(loopml.get_dataset(uri).to_pandas())}

@loopml.step
def fixed(uri: str) -> int:
    return len(loopml.get_dataset(uri).to_pandas())

@loopml.pipeline
def p(dataset: str = "data:/nums", options: dict = {"extra": "data:/nums@latest"}):
    return count(dataset), fixed("data:/nums"), options
"""


@pytest.fixture
def old_lock(backend: str, project: Path, code: ProjectCode) -> bytes:
    """nums@1 (2 rows) and nums@2 (3 rows) exist; the lock of nums@1 is returned, the
    project's lock pins nums@2."""
    data = project / "nums.csv"
    data.write_text("x\n1\n2\n")
    loopml.add_dataset(data, "nums")
    old = (project / "loopml.lock").read_bytes()
    data.write_text("x\n1\n2\n3\n")
    loopml.add_dataset(data, "nums")
    code.write("datapipe", PIPE)
    return old


def _run(mod: ModuleType, **kwargs: object) -> loopml.PipelineRun:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mod.p(**kwargs)


def test_a_pipeline_reads_the_pinned_version_after_going_back(
    project: Path, code: ProjectCode, old_lock: bytes
) -> None:
    mod = code.load("datapipe")
    assert _run(mod).steps[0].output == {"uri": "data:/nums@2", "rows": 3}
    (project / "loopml.lock").write_bytes(old_lock)  # git checkout <old commit>
    run = _run(mod)
    assert run.steps[0].output == {"uri": "data:/nums@1", "rows": 2}
    assert run.steps[1].output == 2  # a reference written in the pipeline body too
    assert not run.steps[0].cached  # other data: a miss, whatever the text of the reference


def test_a_pipeline_run_records_the_resolved_version_in_params_inputs_and_lineage(
    project: Path, code: ProjectCode, old_lock: bytes
) -> None:
    (project / "loopml.lock").write_bytes(old_lock)
    run = _run(code.load("datapipe"))
    assert run.params["dataset"] == "data:/nums@1"
    assert run.params["options.extra"] == "data:/nums@2"  # @latest, as the number it was
    stored = loopml.get_run(run.id)
    assert stored.params["dataset"] == "data:/nums@1"
    count = loopml.get_run(run.step("count").run_id or "")
    assert count.params["uri"] == "data:/nums@1"
    assert loopml.tracking.datasets_read(run.id) == ["data:/nums@1", "data:/nums@2"]
    edges = {(e.src, e.relation) for e in loopml.lineage.upstream(run.uri)}
    assert {("data:/nums@1", "input"), ("data:/nums@2", "input")} <= edges
    assert not any(
        "latest" in e.src or e.src == "data:/nums" for e in loopml.lineage.upstream(run.uri)
    )
    found = loopml.search_runs("params.dataset = 'data:/nums@1'")
    assert [r.id for r in found] == [run.id]
    readers = {r.id for r in loopml.search_runs("dataset = 'data:/nums@1'")}
    assert readers == {run.id, run.step("count").run_id, run.step("fixed").run_id}


def test_a_cache_hit_still_records_the_version_read(
    project: Path, code: ProjectCode, old_lock: bytes
) -> None:
    mod = code.load("datapipe")
    _run(mod)
    second = _run(mod)
    assert second.steps[0].cached
    assert loopml.tracking.datasets_read(second.id) == ["data:/nums@2"]
    assert second.params["dataset"] == "data:/nums@2"


def test_the_pipeline_gives_the_notice_when_the_lock_and_the_newest_differ(
    project: Path, code: ProjectCode, old_lock: bytes
) -> None:
    (project / "loopml.lock").write_bytes(old_lock)
    with pytest.warns(loopml.DatasetNotice) as caught:
        code.load("datapipe").p()
    notices = {str(w.message) for w in caught}
    assert any(n.startswith("data:/nums means data:/nums@1, the version") for n in notices)
    assert any(n.startswith("data:/nums@latest means data:/nums@2") for n in notices)


def test_an_unknown_dataset_parameter_fails_before_any_run_is_recorded(
    project: Path, code: ProjectCode, old_lock: bytes
) -> None:
    with pytest.raises(loopml.NotFound, match="no dataset named 'nope'"):
        _run(code.load("datapipe"), dataset="data:/nope")
    assert loopml.search_runs() == []


def test_loopml_run_says_which_version_it_used(
    project: Path, code: ProjectCode, old_lock: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "loopml.toml").write_text('[pipeline]\nentry = "datapipe:p"\n')
    status, out = _loopml(capsys, "run")
    assert status == 0, out
    assert "note:" not in out  # the lock pins the newest: nothing to say
    (project / "loopml.lock").write_bytes(old_lock)
    status, out = _loopml(capsys, "run")
    assert status == 0, out
    line = next(x for x in out.splitlines() if x.startswith("note: data:/nums means"))
    assert line.startswith(
        "note: data:/nums means data:/nums@1, the version loopml.lock pins; the newest is "
        "data:/nums@2"
    )
    assert "note: data:/nums@latest means data:/nums@2, the newest version; loopml.lock pins" in out
    (first, *_) = loopml.search_runs("kind = 'pipeline'")
    shown = _loopml(capsys, "runs", "show", first.id)[1]
    assert "datasets read" in shown
    assert "data:/nums@1" in shown and "data:/nums@2" in shown


def test_a_reference_met_twice_in_a_run_is_resolved_once(
    project: Path, code: ProjectCode, old_lock: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml import data

    asked: list[str] = []
    resolve = data.resolve_dataset

    def counting(uri: str, **kwargs: object) -> data.Resolution:
        asked.append(uri)
        return resolve(uri, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(data, "resolve_dataset", counting)
    run = _run(code.load("datapipe"))  # data:/nums as a parameter and in the body
    assert sorted(asked) == ["data:/nums", "data:/nums@latest"]
    assert run.step("fixed").run_id is not None
    fixed = loopml.get_run(run.step("fixed").run_id or "")
    assert fixed.params["uri"] == "data:/nums@2"
