from __future__ import annotations

from loopml.store.lineage import add_edge, downstream, graph, upstream
from loopml.store.metadata import get_metadata_store


def test_edges_are_recorded_once_and_walked_both_ways(backend: str) -> None:
    store = get_metadata_store(backend)
    add_edge(store, "data:/iris@1", "runs:/aaa", "input")
    add_edge(store, "data:/iris@1", "runs:/aaa", "input")
    add_edge(store, "runs:/aaa", "models:/m/1", "output")
    add_edge(store, "models:/m/1", "deploy:/prod", "serves")
    assert [e.src for e in upstream(store, "runs:/aaa")] == ["data:/iris@1"]
    assert [e.dst for e in downstream(store, "runs:/aaa")] == ["models:/m/1"]
    tree = graph(store, "data:/iris@1", "down")
    assert tree.children and tree.children[0].uri == "runs:/aaa"
    assert tree.children[0].children[0].uri == "models:/m/1"
    assert tree.children[0].children[0].children[0].relation == "serves"
    up = graph(store, "deploy:/prod", "up", max_depth=2)
    assert up.children[0].children[0].uri == "runs:/aaa"
    assert up.children[0].children[0].children == []


def test_cycles_do_not_loop_forever(backend: str) -> None:
    store = get_metadata_store(backend)
    add_edge(store, "a:/1", "b:/1", "x")
    add_edge(store, "b:/1", "a:/1", "x")
    tree = graph(store, "a:/1", "down")
    assert tree.children[0].uri == "b:/1"
    assert tree.children[0].children[0].uri == "a:/1"
    assert tree.children[0].children[0].children == []
