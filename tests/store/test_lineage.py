from __future__ import annotations

from pathlib import Path

import pytest

import loopml
from loopml.context import current
from loopml.errors import InvalidInput
from loopml.lineage import Edge, add_edge, downstream, get_lineage, upstream
from loopml.store.edges import add_edges, edges_touching


def test_the_edges_table_keeps_each_edge_once_and_reads_both_ways(backend: str) -> None:
    store = current().metadata
    edges = [
        ("data:/iris@1", "runs:/aaa", "input"),
        ("data:/iris@1", "runs:/aaa", "input"),
        ("runs:/aaa", "models:/m/1", "output"),
        ("models:/m/1", "deploy:/prod", "serves"),
    ]
    store.write(lambda conn: add_edges(conn, edges[:2]))
    store.write(lambda conn: add_edges(conn, edges[1:]))
    up = edges_touching(store, ["runs:/aaa"], "up")
    assert [(s, d, r) for s, d, r, _ in up] == [("data:/iris@1", "runs:/aaa", "input")]
    down = edges_touching(store, ["runs:/aaa", "models:/m/1"], "down")
    assert [(s, d, r) for s, d, r, _ in down] == [
        ("runs:/aaa", "models:/m/1", "output"),
        ("models:/m/1", "deploy:/prod", "serves"),
    ]


def test_edges_are_recorded_once_and_walked_both_ways(backend: str, project: Path) -> None:
    (project / "iris.csv").write_text("a,b\n1,2\n")
    data = loopml.add_dataset(project / "iris.csv", name="iris").uri
    with loopml.start_run("iris") as a:
        a.log_dict({"weights": [1, 2]}, "model.json")
    with loopml.start_run("serve") as b:
        pass
    model = f"{a.uri}/model.json"
    add_edge(data, a.uri, "input")
    add_edge(data, a.uri, "input")
    add_edge(a.uri, model, "output")
    add_edge(model, b.uri, "serves")
    assert [e.src for e in upstream(a.uri)] == [data]
    assert [e.dst for e in downstream(a.uri)] == [model]
    assert all(isinstance(e, Edge) for e in upstream(a.uri))
    tree = get_lineage(data).downstream
    assert tree.children and tree.children[0].uri == a.uri
    assert tree.children[0].children[0].uri == model
    assert tree.children[0].children[0].children[0].relation == "serves"
    up = get_lineage(b.uri, depth=2).upstream
    assert up.children[0].children[0].uri == a.uri
    assert up.children[0].children[0].children == []


def test_edges_are_stored_by_the_canonical_uris_of_nodes_that_exist(
    backend: str, project: Path
) -> None:
    from loopml.errors import NotFound

    (project / "iris.csv").write_text("a,b\n1,2\n")
    loopml.add_dataset(project / "iris.csv", name="iris")
    with loopml.start_run("iris") as a:
        pass
    add_edge(" data:/iris ", a.uri[:14], "input")  # the newest version, an id prefix
    assert [(e.src, e.dst) for e in upstream(a.uri)] == [("data:/iris@1", a.uri)]
    with pytest.raises(NotFound):
        add_edge("data:/iris@7", a.uri, "input")
    with pytest.raises(NotFound):
        add_edge(f"{a.uri}/../../etc/passwd", a.uri, "input")
    with pytest.raises(InvalidInput, match="relation"):
        add_edge("data:/iris@1", a.uri, "x" * 65)
    with pytest.raises(InvalidInput, match="relation"):
        add_edge("data:/iris@1", a.uri, 3)  # type: ignore[arg-type]


def test_cycles_do_not_loop_forever(backend: str) -> None:
    with loopml.start_run("x") as a:
        pass
    with loopml.start_run("x") as b:
        pass
    add_edge(a.uri, b.uri, "x")
    add_edge(b.uri, a.uri, "x")
    tree = get_lineage(a.uri).downstream
    assert tree.children[0].uri == b.uri
    assert tree.children[0].children[0].uri == a.uri
    assert tree.children[0].children[0].children == []


def test_an_edge_to_a_uri_no_part_of_loopml_serves_is_refused(backend: str) -> None:
    with loopml.start_run("x") as a:
        pass
    with pytest.raises(InvalidInput, match="no part of loopml serves 'monitors:/'"):
        add_edge(a.uri, "monitors:/m", "output")
    with pytest.raises(InvalidInput, match="relation"):
        add_edge(a.uri, a.uri, "not a word")
    assert downstream(a.uri) == []
