from __future__ import annotations

import time

import pytest

import loopml
from loopml.errors import InvalidInput, NotFound
from loopml.tracking import Run, search_runs, start_run


@pytest.fixture
def runs(backend: str) -> dict[str, Run]:
    """Five runs in two experiments with params, metrics and tags (started in this order)."""
    made: dict[str, Run] = {}

    def make(name: str, experiment: str = "iris", **kw: object) -> Run:
        run = start_run(
            experiment,
            run_name=name,
            params=kw.get("params"),  # type: ignore[arg-type]
            tags=kw.get("tags"),  # type: ignore[arg-type]
            nested=bool(kw.get("nested")),
        )
        run.log_metrics(kw.get("metrics", {}))  # type: ignore[arg-type]
        made[name] = run
        time.sleep(0.002)
        return run

    parent = make(
        "rf-a",
        params={"model": "rf", "depth": 3},
        metrics={"f1": 0.9, "loss": 0.2},
        tags={"stage": "prod", "team name": "Search"},
    )
    make("child-1", nested=True, metrics={"f1": 0.5, "val-loss": 0.3})
    made["child-1"].end()
    parent.end()
    rf_b = make(
        "rf-b",
        params={"model": "rf", "depth": 10},
        metrics={"f1": 0.7, "val-loss": 0.5},
        tags={"stage": "dev"},
    )
    rf_b.end()
    lr_a = make(
        "LR-a",
        params={"model": "logreg"},
        metrics={"f1": 0.95, "loss": 1e-3},
        tags={"stage": "prod"},
    )
    lr_a.end("FAILED")
    make("svm", "other", params={"model": "svm"}, metrics={"loss": 1.0}).end("KILLED")
    return made


CASES = [
    ("", {"rf-a", "child-1", "rf-b", "LR-a", "svm"}),
    ("metrics.f1 > 0.8", {"rf-a", "LR-a"}),
    ("metrics.f1 >= 0.7 and metrics.f1 <= 0.9", {"rf-a", "rf-b"}),
    ("metrics.f1 = 0.5", {"child-1"}),
    ("metrics.f1 != 0.5", {"rf-a", "rf-b", "LR-a"}),
    ("metrics.f1 IN (0.5, 0.7)", {"child-1", "rf-b"}),
    ("metrics.f1 NOT IN (0.5, 0.7)", {"rf-a", "LR-a"}),
    ("metrics.f1 IS NULL", {"svm"}),
    ("metrics.loss is not null", {"rf-a", "LR-a", "svm"}),
    ("metrics.loss < 1e-2", {"LR-a"}),
    ("metrics.`val-loss` < 0.4", {"child-1"}),
    ('metrics."val-loss" > 0.4', {"rf-b"}),
    ("not metrics.f1 > 0.8", {"child-1", "rf-b", "svm"}),
    ("params.model = 'rf'", {"rf-a", "rf-b"}),
    ("params.depth = 10", {"rf-b"}),
    ("params.model != 'rf'", {"LR-a", "svm"}),
    ("params.model IN ('svm', 'logreg')", {"LR-a", "svm"}),
    ("params.model LIKE 'r%'", {"rf-a", "rf-b"}),
    ("params.model LIKE 'R%'", set()),
    ("params.model ILIKE 'R%'", {"rf-a", "rf-b"}),
    ("params.model NOT LIKE '%g'", {"rf-a", "rf-b", "svm"}),
    ("params.model LIKE '_f'", {"rf-a", "rf-b"}),
    ("params.depth IS NULL", {"child-1", "LR-a", "svm"}),
    ("tags.stage = 'prod' and params.model = 'rf'", {"rf-a"}),
    ("tags.`team name` = 'Search'", {"rf-a"}),
    ("tags.stage = 'prod' or metrics.f1 < 0.6", {"rf-a", "LR-a", "child-1"}),
    (
        "(tags.stage = 'prod' or tags.stage = 'dev') and not params.model = 'logreg'",
        {"rf-a", "rf-b"},
    ),
    ("status = 'FINISHED'", {"rf-a", "child-1", "rf-b"}),
    ("status IN ('failed', 'killed')", {"LR-a", "svm"}),
    ("status != 'FINISHED'", {"LR-a", "svm"}),
    ("name = 'svm'", {"svm"}),
    ("run_name LIKE 'rf-%'", {"rf-a", "rf-b"}),
    ("name LIKE 'lr%'", set()),
    ("name ILIKE 'lr%'", {"LR-a"}),
    ("experiment = 'other'", {"svm"}),
    ("experiment != 'other'", {"rf-a", "child-1", "rf-b", "LR-a"}),
    ("experiment LIKE 'ir%'", {"rf-a", "child-1", "rf-b", "LR-a"}),
    ("parent_id IS NOT NULL", {"child-1"}),
    ("kind = 'run'", {"rf-a", "child-1", "rf-b", "LR-a", "svm"}),
    ("end_time IS NULL", set()),
    ("duration >= 0", {"rf-a", "child-1", "rf-b", "LR-a", "svm"}),
    ("start_time > 0 AND start_time < '2999-01-01'", {"rf-a", "child-1", "rf-b", "LR-a", "svm"}),
    ("start_time < '2000-01-01T00:00:00Z'", set()),
    ("user IS NOT NULL", {"rf-a", "child-1", "rf-b", "LR-a", "svm"}),
]


def test_filters_select_the_expected_runs(runs: dict[str, Run]) -> None:
    failures = []
    for text, expected in CASES:
        got = {r.name for r in search_runs(text)}
        if got != expected:
            failures.append(f"{text!r}: expected {sorted(expected)}, got {sorted(got)}")
    assert not failures, "\n".join(failures)


def test_id_and_parent_filters(runs: dict[str, Run]) -> None:
    parent = runs["rf-a"]
    assert [r.name for r in search_runs(f"id = '{parent.id}'")] == ["rf-a"]
    assert [r.name for r in search_runs(f"parent_id = '{parent.id.upper()}'")] == ["child-1"]
    assert [r.name for r in search_runs(f"run_id LIKE '{parent.id[:8]}%'")] == ["rf-a"]


def test_results_carry_params_metrics_and_tags(runs: dict[str, Run]) -> None:
    (found,) = search_runs("name = 'rf-a'")
    assert found.params == {"model": "rf", "depth": 3}
    assert found.metrics == {"f1": 0.9, "loss": 0.2}
    assert found.tags == {"stage": "prod", "team name": "Search"}
    assert found.experiment == "iris" and found.status == "FINISHED"


def test_default_order_is_newest_first(runs: dict[str, Run]) -> None:
    assert [r.name for r in search_runs()] == ["svm", "LR-a", "rf-b", "child-1", "rf-a"]


def test_order_by_metric_puts_runs_without_it_last(runs: dict[str, Run]) -> None:
    desc = [r.name for r in search_runs(order_by=["metrics.f1 DESC"])]
    assert desc == ["LR-a", "rf-a", "rf-b", "child-1", "svm"]
    asc = [r.name for r in search_runs(order_by="metrics.f1")]
    assert asc == ["child-1", "rf-b", "rf-a", "LR-a", "svm"]


def test_order_by_several_keys_and_attributes(runs: dict[str, Run]) -> None:
    by_model = search_runs(order_by=["params.model", "metrics.f1 DESC"])
    assert [r.name for r in by_model] == ["LR-a", "rf-a", "rf-b", "svm", "child-1"]
    assert [r.name for r in search_runs(order_by=["name ASC"])] == [
        "LR-a",
        "child-1",
        "rf-a",
        "rf-b",
        "svm",
    ]
    assert search_runs(order_by=["experiment DESC", "start_time"])[0].name == "svm"
    assert [r.name for r in search_runs(order_by=["status"])][-1] == "svm"


def test_max_results_and_experiment_limit_the_results(runs: dict[str, Run]) -> None:
    top = search_runs("metrics.f1 > 0", order_by=["metrics.f1 DESC"], max_results=2)
    assert [r.name for r in top] == ["LR-a", "rf-a"]
    assert {r.name for r in search_runs(experiment="other")} == {"svm"}
    assert len(search_runs(experiment=["other", "iris"])) == 5
    with pytest.raises(NotFound, match="no experiment named 'irsi'; known experiments: iris"):
        search_runs(experiment="irsi")
    with pytest.raises(InvalidInput, match="max_results"):
        search_runs(max_results=0)


def test_bad_filter_and_order_by_are_invalid_input(runs: dict[str, Run]) -> None:
    with pytest.raises(InvalidInput, match=r"(?s)invalid filter.*\^"):
        search_runs("metrics.f1 >> 2")
    with pytest.raises(InvalidInput, match="invalid order_by entry"):
        search_runs(order_by=["metrics.f1 sideways"])


def test_search_sees_metrics_still_buffered_in_this_process(backend: str) -> None:
    with start_run("exp") as run:
        loopml.log_metric("acc", 0.99)
        assert [r.id for r in search_runs("metrics.acc > 0.9")] == [run.id]
