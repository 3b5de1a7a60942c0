"""Permutation importance for any model and SHAP attributions for tree models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.errors import InvalidInput, MissingExtra


def _signal_and_noise(n: int = 800, seed: int = 5) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    frame["y"] = (frame["signal"] + rng.normal(0, 0.3, n) > 0).astype("int64")
    return frame


def test_permutation_importance_is_the_drop_of_f1_when_a_column_is_shuffled(
    project: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    frame = _signal_and_noise()
    features = frame[["signal", "noise"]]
    clf = LogisticRegression().fit(features, frame["y"])
    loopml.save_model(clf, project / "m", input_example=features.head())
    ev = loopml.evaluate(project / "m", frame, target="y", store=False, latency=False, seed=3)
    assert set(ev.importance) == {"signal", "noise"}
    assert ev.importance["signal"]["mean"] > 0.3
    assert abs(ev.importance["noise"]["mean"]) < 0.05
    # the definition, by hand, with the same seeded shuffles (800 rows: all of them)
    rng = np.random.default_rng(3)
    base = f1_score(frame["y"], clf.predict(features))
    for column in ("signal", "noise"):
        drops = []
        for _ in range(5):
            shuffled = features.copy()
            shuffled[column] = features[column].to_numpy()[rng.permutation(len(frame))]
            drops.append(base - f1_score(frame["y"], clf.predict(shuffled)))
        assert ev.importance[column]["mean"] == pytest.approx(np.mean(drops))
        assert ev.importance[column]["std"] == pytest.approx(np.std(drops))
    again = loopml.evaluate(project / "m", frame, target="y", store=False, latency=False, seed=3)
    assert again.importance == ev.importance
    off = loopml.evaluate(
        project / "m", frame, target="y", store=False, latency=False, importance=False
    )
    assert off.importance == {} and off.shap is None


def test_a_regressor_s_importance_is_the_rise_of_rmse(project: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.uniform(0, 10, 400), "z": rng.normal(size=400)})
    frame["y"] = 3 * frame["x"] + rng.normal(0, 0.5, 400)
    reg = LinearRegression().fit(frame[["x", "z"]], frame["y"])
    loopml.save_model(reg, project / "r", input_example=frame[["x", "z"]].head())
    ev = loopml.evaluate(project / "r", frame, target="y", store=False, latency=False)
    assert ev.importance["x"]["mean"] > 5 * ev.metrics["rmse"]
    assert abs(ev.importance["z"]["mean"]) < 0.1


def test_importance_samples_large_data_with_a_seed() -> None:
    from loopml.evaluation import _importance

    rows = _importance.sample_rows(100_000, 2_500, seed=1)
    assert len(rows) == 2_500 == len(set(rows.tolist()))
    assert (np.diff(rows) > 0).all()
    assert (rows == _importance.sample_rows(100_000, 2_500, seed=1)).all()
    assert not (rows == _importance.sample_rows(100_000, 2_500, seed=2)).all()
    assert (_importance.sample_rows(10, 2_500, seed=1) == np.arange(10)).all()


def test_shap_of_a_forest_is_the_mean_absolute_treeshap_value_of_the_positive_class(
    project: Path,
) -> None:
    import shap
    from sklearn.ensemble import RandomForestClassifier

    frame = _signal_and_noise(600)
    features = frame[["signal", "noise"]]
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    forest.fit(features, frame["y"])
    loopml.save_model(forest, project / "rf", input_example=features.head())
    ev = loopml.evaluate(
        project / "rf", frame, target="y", explain=True, store=False, latency=False
    )
    values = np.asarray(shap.TreeExplainer(forest).shap_values(features))
    expected = np.abs(values[:, :, 1]).mean(axis=0)
    assert ev.shap == pytest.approx({"signal": expected[0], "noise": expected[1]})
    assert ev.shap["signal"] > 5 * ev.shap["noise"]  # type: ignore[index]


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_boosted_trees_explain_themselves(project: Path, library: str) -> None:
    frame = _signal_and_noise(600)
    features = frame[["signal", "noise"]]
    if library == "xgboost":
        import xgboost

        model: Any = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(features, frame["y"])
        contribs = model.get_booster().predict(xgboost.DMatrix(features), pred_contribs=True)
    else:
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(features, frame["y"])
        contribs = model.booster_.predict(features, pred_contrib=True)
    loopml.save_model(model, project / library, input_example=features.head())
    ev = loopml.evaluate(
        project / library, frame, target="y", explain=True, store=False, latency=False
    )
    expected = np.abs(np.asarray(contribs)[:, :2]).mean(axis=0)
    assert ev.shap == pytest.approx({"signal": expected[0], "noise": expected[1]}, rel=1e-5)


def test_multiclass_shap_is_the_mean_over_the_classes(project: Path) -> None:
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=300), "w": rng.normal(size=300)})
    frame["label"] = np.where(frame["x"] < -0.5, "low", np.where(frame["x"] > 0.5, "high", "mid"))
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        frame[["x", "w"]], frame["label"]
    )
    loopml.save_model(tree, project / "t", input_example=frame[["x", "w"]].head())
    ev = loopml.evaluate(
        project / "t", frame, target="label", explain=True, store=False, latency=False
    )
    assert ev.shap is not None and set(ev.shap) == {"x", "w"}
    assert ev.shap["x"] > 0 and ev.shap["x"] > 10 * ev.shap["w"]


def test_explain_on_a_model_that_is_not_a_tree_is_refused_before_anything_runs(
    churn_model: str, churn: Any
) -> None:
    with pytest.raises(InvalidInput, match="tree models only.*LogisticRegression"):
        loopml.evaluate(churn_model, churn, target="churned", explain=True)
    assert loopml.evaluation.list_evaluations() == []


def test_explain_without_shap_names_the_extra(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    frame = _signal_and_noise(100)
    tree = DecisionTreeClassifier(max_depth=2).fit(frame[["signal", "noise"]], frame["y"])
    loopml.save_model(tree, project / "t", input_example=frame[["signal", "noise"]].head())
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap -> ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'loopml\[explain\]'"):
        loopml.evaluate(project / "t", frame, target="y", explain=True)
    assert loopml.evaluation.list_evaluations() == []


def test_a_bad_seed_is_one_clear_error(churn_model: str, churn: Any) -> None:
    for seed in (-1, 1.5, "0", True):
        with pytest.raises(InvalidInput, match="seed must be a whole number"):
            loopml.evaluate(churn_model, churn, target="churned", seed=seed)
