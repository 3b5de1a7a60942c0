"""Params keep their shape: dotted keys for nested values, JSON types on the way back, and
filters that compare numbers numerically and quoted values as text, on every backend."""

from __future__ import annotations

import math

import pytest

import loopml
from loopml import start_run
from loopml.context import current
from loopml.errors import Conflict, InvalidInput
from loopml.tracking import get_run, search_runs


def _ids(runs: list[loopml.Run]) -> set[str]:
    return {r.id for r in runs}


def test_params_read_back_with_their_json_types(backend: str) -> None:
    values = {
        "max_depth": 4,
        "lr": 0.1,
        "early_stop": True,
        "model": "rf",
        "digits": "4",
        "none": None,
        "layers": [64, 32],
        "nan": math.nan,
    }
    with start_run("p", params=values) as run:
        run.log_param("big", 2**70)
    back = get_run(run.id).params
    assert back["max_depth"] == 4 and type(back["max_depth"]) is int
    assert back["lr"] == 0.1 and type(back["lr"]) is float
    assert back["early_stop"] is True
    assert back["model"] == "rf" and back["digits"] == "4"
    assert back["none"] is None and back["layers"] == [64, 32]
    assert math.isnan(back["nan"]) and back["big"] == 2**70
    assert {k: v for k, v in run.params.items() if k != "nan"} == {
        k: v for k, v in back.items() if k != "nan"
    }
    assert search_runs("params.model = 'rf'")[0].params["max_depth"] == 4


def test_nested_params_flatten_to_dotted_keys(backend: str) -> None:
    with start_run("p", params={"model": {"lr": 0.1, "tree": {"depth": 3}}}) as run:
        loopml.log_params({"opt": {"name": "adam"}})
    assert get_run(run.id).params == {"model.lr": 0.1, "model.tree.depth": 3, "opt.name": "adam"}
    assert _ids(search_runs("params.model.tree.depth = 3")) == {run.id}
    with pytest.raises(InvalidInput, match="'model.lr' is given twice"):
        start_run("p", params={"model": {"lr": 1}, "model.lr": 2})


def test_a_param_logged_again_with_the_same_value_is_fine_and_another_conflicts(
    backend: str,
) -> None:
    with start_run("p", params={"depth": 4}) as run:
        run.log_param("depth", 4)
        with pytest.raises(Conflict, match="'depth' is 4, not '4'"):
            run.log_param("depth", "4")


def test_rows_written_before_params_kept_their_type_read_as_they_are(backend: str) -> None:
    with start_run("p") as run:
        pass
    old = {"model": "rf", "cfg": "{'lr': 0.1}", "depth": "4", "flag": "True", "name": "a b"}
    current().metadata.write(
        lambda conn: conn.executemany(
            "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)",
            [(run.id, k, v) for k, v in old.items()],
        )
    )
    from loopml.tracking._repository import rebuild_summaries

    rebuild_summaries(current().metadata, [run.id])
    back = get_run(run.id).params
    assert back == {"model": "rf", "cfg": "{'lr': 0.1}", "depth": 4, "flag": "True", "name": "a b"}
    with current().metadata.read() as conn:
        stored = dict(conn.all("SELECT key, value FROM params WHERE run_id = ?", (run.id,)))
    assert stored == old  # not rewritten
    # the old text and the new JSON of the same string are one value: no conflict
    with start_run("p", params={"model": "rf"}) as new:
        pass
    assert _ids(search_runs("params.model = 'rf'")) == {run.id, new.id}
    assert _ids(search_runs("params.depth >= 4")) == {run.id}
    assert _ids(search_runs("params.cfg LIKE '{%'")) == {run.id}


@pytest.fixture
def depths(backend: str) -> dict[object, str]:
    ids: dict[object, str] = {}
    for depth in (1, 4, 10, 2.5, "deep"):
        with start_run("p", params={"max_depth": depth, "model": "rf"}) as run:
            pass
        ids[depth] = run.id
    with start_run("p", params={"model": "svm"}) as run:
        pass
    ids[None] = run.id
    return ids


def test_a_number_compares_numerically(depths: dict[object, str]) -> None:
    def found(text: str) -> set[object]:
        by_id = {v: k for k, v in depths.items()}
        return {by_id[r.id] for r in search_runs(text)}

    assert found("params.max_depth >= 4") == {4, 10}
    assert found("params.max_depth < 3") == {1, 2.5}
    assert found("params.max_depth = 4.0") == {4}
    assert found("params.max_depth IN (1, 10)") == {1, 10}
    assert found("params.max_depth != 4") == {1, 10, 2.5, "deep"}
    assert found("params.max_depth NOT IN (1, 4)") == {10, 2.5, "deep"}


def test_a_quoted_value_compares_as_text(depths: dict[object, str]) -> None:
    def found(text: str) -> set[object]:
        by_id = {v: k for k, v in depths.items()}
        return {by_id[r.id] for r in search_runs(text)}

    assert found("params.max_depth != '1'") == {4, 10, 2.5, "deep"}
    assert found("params.max_depth = '10'") == {10}
    assert found("params.max_depth = 'deep'") == {"deep"}
    assert found("params.model = 'svm'") == {None}
    assert found("params.max_depth LIKE '1%'") == {1, 10}
    assert found("params.max_depth IN ('deep', '4')") == {"deep", 4}
    with pytest.raises(InvalidInput, match="quote the value"):
        search_runs("params.max_depth LIKE 4")


def test_sorting_by_a_param_puts_numbers_first_in_numeric_order(
    depths: dict[object, str],
) -> None:
    by_id = {v: k for k, v in depths.items()}
    up = [by_id[r.id] for r in search_runs(order_by="params.max_depth")]
    assert up == [1, 2.5, 4, 10, "deep", None]
    down = [by_id[r.id] for r in search_runs(order_by="params.max_depth DESC")]
    assert down == [10, 4, 2.5, 1, "deep", None]
