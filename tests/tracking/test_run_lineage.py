from __future__ import annotations

from pathlib import Path

import pytest

import loopml
from loopml.errors import NotFound
from loopml.lineage import get_lineage, upstream
from loopml.tracking import start_run


@pytest.fixture
def datasets(backend: str, project: Path) -> list[str]:
    """Dataset 'iris' at versions 1 to 3; their URIs."""
    source = project / "data" / "iris.csv"
    source.parent.mkdir()
    uris = []
    for n in range(1, 4):
        source.write_text(f"x,y\n{n},{n * 2}\n")
        uris.append(loopml.add_dataset(source, "iris", profile=False).uri)
    assert uris == ["data:/iris@1", "data:/iris@2", "data:/iris@3"]
    return uris


def test_use_dataset_resolves_latest_and_records_an_input_edge(
    backend: str, datasets: list[str]
) -> None:
    with start_run("exp") as run:
        version = run.use_dataset("data:/iris@latest")
        run.use_dataset("data:/iris@2")
        run.use_dataset("data:/iris@latest")  # recorded once
    assert version.uri == "data:/iris@3"
    edges = upstream(run.uri)
    assert sorted((e.src, e.relation) for e in edges) == [
        ("data:/iris@2", "input"),
        ("data:/iris@3", "input"),
    ]


def test_use_dataset_of_unknown_dataset_records_nothing(backend: str, datasets: list[str]) -> None:
    with start_run("exp") as run, pytest.raises(NotFound):
        run.use_dataset("data:/nope@1")
    assert upstream(run.uri) == []


def test_run_lineage_shows_its_data_and_its_children(backend: str, datasets: list[str]) -> None:
    with start_run("exp") as parent:
        parent.use_dataset("data:/iris@1")
        with start_run(nested=True) as child:
            pass
    lineage = get_lineage(f"runs:/{parent.id[:8]}")
    assert lineage.uri == parent.uri
    assert [(n.uri, n.relation) for n in lineage.upstream.children] == [("data:/iris@1", "input")]
    assert [(n.uri, n.relation) for n in lineage.downstream.children] == [(child.uri, "parent")]
