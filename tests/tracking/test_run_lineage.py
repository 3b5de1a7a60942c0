from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from loopml.errors import NotFound
from loopml.store.lineage import upstream
from loopml.store.metadata import get_metadata_store
from loopml.tracking import start_run
from loopml.tracking.lineage import get_lineage


@dataclass(frozen=True)
class FakeVersion:
    name: str
    version: int
    n_files: int = 1
    total_bytes: int = 0
    message: str | None = None

    @property
    def uri(self) -> str:
        return f"data:/{self.name}@{self.version}"


@pytest.fixture
def datasets(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A stand-in ``loopml.data`` whose ``get_dataset`` knows dataset 'iris' up to version 3."""
    newest = {"iris": 3}

    def get_dataset(uri: str) -> FakeVersion:
        from loopml.uri import parse_data_uri

        parsed = parse_data_uri(uri)
        if parsed.name not in newest:
            raise NotFound(f"no dataset named {parsed.name!r}")
        return FakeVersion(parsed.name, parsed.version or newest[parsed.name])

    module = types.ModuleType("loopml.data")
    module.get_dataset = get_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "loopml.data", module)
    return newest


def test_use_dataset_resolves_latest_and_records_an_input_edge(
    backend: str, datasets: dict[str, int]
) -> None:
    with start_run("exp") as run:
        version = run.use_dataset("data:/iris@latest")
        run.use_dataset("data:/iris@2")
        run.use_dataset("data:/iris@latest")  # recorded once
    assert version.uri == "data:/iris@3"
    edges = upstream(get_metadata_store(), run.uri)
    assert sorted((e.src, e.relation) for e in edges) == [
        ("data:/iris@2", "input"),
        ("data:/iris@3", "input"),
    ]


def test_use_dataset_of_unknown_dataset_records_nothing(
    backend: str, datasets: dict[str, int]
) -> None:
    with start_run("exp") as run, pytest.raises(NotFound):
        run.use_dataset("data:/nope@1")
    assert upstream(get_metadata_store(), run.uri) == []


def test_run_lineage_shows_its_data_and_its_children(
    backend: str, datasets: dict[str, int]
) -> None:
    with start_run("exp") as parent:
        parent.use_dataset("data:/iris@1")
        with start_run(nested=True) as child:
            pass
    lineage = get_lineage(f"runs:/{parent.id[:8]}")
    assert lineage.uri == parent.uri
    assert [(n.uri, n.relation) for n in lineage.upstream.children or []] == [
        ("data:/iris@1", "input")
    ]
    assert [(n.uri, n.relation) for n in lineage.downstream.children or []] == [
        (child.uri, "parent")
    ]
