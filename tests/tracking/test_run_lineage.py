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


def test_use_dataset_of_a_bare_name_records_the_pinned_version(
    backend: str, datasets: list[str]
) -> None:
    loopml.data.checkout("iris@1")  # pins iris@1 in loopml.lock
    with pytest.warns(loopml.DatasetNotice), start_run("exp") as run:
        assert run.use_dataset("iris").uri == "data:/iris@1"
    assert [(e.src, e.relation) for e in upstream(run.uri)] == [("data:/iris@1", "input")]
    assert loopml.tracking.datasets_read(run.id) == ["data:/iris@1"]


@pytest.fixture
def readers(backend: str, datasets: list[str]) -> dict[str, str]:
    """Runs by what they read: 'one' reads iris@1, 'both' iris@1 and iris@3, 'none' nothing."""
    ids = {}
    for name, uris in (("one", ["iris@1"]), ("both", ["iris@3", "iris@1"]), ("none", [])):
        with start_run("exp", run_name=name) as run:
            for uri in uris:
                run.use_dataset(uri)
        ids[name] = run.id
    return ids


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("dataset = 'data:/iris@1'", {"one", "both"}),
        ("dataset = 'iris@3'", {"both"}),
        ("dataset != 'data:/iris@3'", {"one", "none"}),
        ("dataset IN ('iris@2', 'iris@3')", {"both"}),
        ("dataset NOT IN ('iris@1')", {"none"}),
        ("dataset LIKE 'data:/iris@%'", {"one", "both"}),
        ("dataset NOT LIKE 'data:/iris@%'", {"none"}),
        ("dataset IS NULL", {"none"}),
        ("dataset IS NOT NULL and name = 'one'", {"one"}),
    ],
)
def test_search_runs_filters_by_the_dataset_versions_a_run_read(
    readers: dict[str, str], text: str, found: set[str]
) -> None:
    names = {i: n for n, i in readers.items()}
    assert {names[r.id] for r in loopml.search_runs(text)} == found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dataset = 'data:/iris'", "takes versions such as 'data:/iris@3'"),
        ("dataset = 'iris@latest'", "match every version with dataset LIKE 'data:/iris@%'"),
        ("dataset > 'data:/iris@1'", "compare it with =, !=, IN, NOT IN, LIKE or IS NULL"),
        ("dataset = 3", "dataset is text"),
    ],
)
def test_a_dataset_filter_without_an_exact_version_says_how_to_write_it(
    backend: str, text: str, expected: str
) -> None:
    with pytest.raises(loopml.InvalidInput, match=expected.replace("(", r"\(").replace(")", r"\)")):
        loopml.search_runs(text)


def test_runs_cannot_be_sorted_by_the_datasets_they_read(backend: str) -> None:
    with pytest.raises(loopml.InvalidInput, match="cannot be sorted by the datasets they read"):
        loopml.search_runs(order_by=["dataset"])
