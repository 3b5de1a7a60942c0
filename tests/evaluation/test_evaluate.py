"""loopml.evaluate: metrics equal scikit-learn's, slices and fairness equal a group-by by
hand, the result is stored and linked, and bad input is one clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.errors import InvalidInput, NotFound


def test_a_binary_classifier_gets_sklearn_metrics_slices_fairness_and_latency(
    churn_model: str, churn: Any
) -> None:
    from sklearn import metrics as skm

    ev = loopml.evaluate(
        churn_model, churn, target="churned", slices=["region"], sensitive_features=["sex"]
    )
    model = loopml.load_model(churn_model)
    features = churn[["tenure", "charges"]]
    pred, proba = model.predict(features), model.predict_proba(features)[:, 1]
    y = churn["churned"]
    assert ev.task == "classification" and ev.rows == 600 and ev.target == "churned"
    assert ev.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert ev.metrics["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert ev.metrics["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert ev.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba))
    assert ev.metrics["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert ev.metrics["brier"] == pytest.approx(skm.brier_score_loss(y, proba))
    assert ev.confusion_matrix == {
        "labels": ["0", "1"],
        "matrix": skm.confusion_matrix(y, pred).tolist(),
    }
    bins = ev.calibration["bins"]  # type: ignore[index]
    assert sum(b["count"] for b in bins) == 600
    # slices: every value of region, and sex found by itself as a categorical column
    assert set(ev.slices) == {"region", "sex"}
    for region, rows in churn.groupby("region").groups.items():
        got = ev.slices["region"][region]
        assert got["count"] == len(rows)
        assert got["f1"] == pytest.approx(
            skm.f1_score(y[rows], pred[churn.index.get_indexer(rows)])
        )
    worst = ev.worst_slices["region"]
    assert [w["score"] for w in worst] == sorted(w["score"] for w in worst)
    # fairness: selection rates and true positive rates by group
    rates = {g: float(np.mean(pred[(churn["sex"] == g).to_numpy()] == 1)) for g in ("f", "m")}
    sex = ev.fairness["sex"]
    assert sex["groups"]["f"]["selection_rate"] == pytest.approx(rates["f"])
    assert sex["demographic_parity_difference"] == pytest.approx(abs(rates["f"] - rates["m"]))
    tpr = {
        g: float(np.mean(pred[((churn["sex"] == g) & (y == 1)).to_numpy()] == 1))
        for g in ("f", "m")
    }
    assert sex["equal_opportunity_difference"] == pytest.approx(abs(tpr["f"] - tpr["m"]))
    assert set(ev.latency) == {
        "p50_ms",
        "p99_ms",
        "batch_1000_p50_ms",
        "batch_1000_p99_ms",
        "package_bytes",
    }
    assert 0 < ev.latency["p50_ms"] <= ev.latency["p99_ms"]
    assert ev.latency["package_bytes"] > 0


def test_the_evaluation_is_stored_and_linked_to_the_version_and_dataset(
    churn_model: str, churn: Any, project: Path
) -> None:
    churn.to_csv(project / "holdout.csv", index=False)
    ds = loopml.add_dataset("holdout.csv", name="holdout")
    ev = loopml.evaluate(churn_model, ds.uri, target="churned")
    assert ev.id is not None and ev.uri == f"evaluation:/{ev.id}"
    assert ev.name == "churn" and ev.version == 1 and ev.dataset == ds.uri
    again = loopml.evaluation.get_evaluation(ev.uri)
    assert again.to_dict() == ev.to_dict()
    assert [e.id for e in loopml.evaluation.list_evaluations("churn", 1)] == [ev.id]
    up = loopml.get_lineage(ev.uri)
    sources = {(c.uri, c.relation) for c in up.upstream.children}
    assert sources == {(churn_model, "evaluated"), (ds.uri, "evaluated_on")}
    # the same frame gives the same data digest; a changed row does not
    other = churn.copy()
    other.loc[0, "tenure"] += 1
    a = loopml.evaluate(churn_model, churn, target="churned", latency=False, store=False)
    b = loopml.evaluate(churn_model, other, target="churned", latency=False, store=False)
    assert a.data_digest == ev.data_digest != b.data_digest
    assert a.id is None


def test_multiclass_uses_macro_averages_and_fairness_one_vs_rest(project: Path) -> None:
    import pandas as pd
    from sklearn import metrics as skm
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=300), "group": rng.choice(["a", "b"], 300)})
    frame["label"] = np.where(frame["x"] < -0.5, "low", np.where(frame["x"] > 0.5, "high", "mid"))
    flip = rng.random(300) < 0.15
    frame.loc[flip, "label"] = "mid"
    clf = DecisionTreeClassifier(max_depth=2, random_state=0).fit(frame[["x"]], frame["label"])
    path = project / "tree"
    loopml.save_model(clf, path, input_example=frame[["x"]].head())
    ev = loopml.evaluate(path, frame, sensitive_features=["group"], store=False, latency=False)
    pred = clf.predict(frame[["x"]])
    assert ev.target == "label"  # the one column that is neither an input nor a group
    assert ev.metrics["f1"] == pytest.approx(skm.f1_score(frame["label"], pred, average="macro"))
    assert ev.metrics["f1_weighted"] == pytest.approx(
        skm.f1_score(frame["label"], pred, average="weighted")
    )
    assert set(ev.per_class) == {"high", "low", "mid"}
    proba = clf.predict_proba(frame[["x"]])
    assert ev.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(frame["label"], proba, multi_class="ovr")
    )
    fair = ev.fairness["group"]
    per_class = fair["per_class"]
    assert set(per_class) == {"high", "low", "mid"}
    assert fair["demographic_parity_difference"] == pytest.approx(
        max(v["demographic_parity_difference"] for v in per_class.values())
    )


def test_a_regressor_gets_error_metrics_and_fairness_is_refused(project: Path) -> None:
    import pandas as pd
    from sklearn import metrics as skm
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.uniform(1, 10, 200), "kind": rng.choice(["p", "q"], 200)})
    frame["y"] = 3 * frame["x"] + rng.normal(0, 1, 200) + 5
    reg = LinearRegression().fit(frame[["x"]], frame["y"])
    path = project / "reg"
    loopml.save_model(reg, path, input_example=frame[["x"]].head())
    ev = loopml.evaluate(path, frame, target="y", store=False, latency=False)
    pred = reg.predict(frame[["x"]])
    assert ev.task == "regression"
    assert ev.metrics["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(frame["y"], pred)))
    assert ev.metrics["mae"] == pytest.approx(skm.mean_absolute_error(frame["y"], pred))
    assert ev.metrics["r2"] == pytest.approx(skm.r2_score(frame["y"], pred))
    assert ev.metrics["mape"] == pytest.approx(skm.mean_absolute_percentage_error(frame["y"], pred))
    assert ev.worst_slices["kind"][0]["metric"] == "rmse"
    with pytest.raises(InvalidInput, match="regression on 'y'"):
        loopml.evaluate(path, frame, target="y", sensitive_features=["kind"], store=False)


def test_a_model_without_probabilities_has_no_probability_metrics(project: Path) -> None:
    import pandas as pd
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=100)})
    frame["y"] = (frame["x"] > 0).astype(int)
    path = project / "svc"
    loopml.save_model(LinearSVC().fit(frame[["x"]], frame["y"]), path, input_example=frame[["x"]])
    ev = loopml.evaluate(path, frame, store=False, latency=False)
    assert "accuracy" in ev.metrics
    assert not {"roc_auc", "log_loss", "brier"} & set(ev.metrics)
    assert ev.calibration is None


def test_a_numeric_slice_column_is_binned(churn_model: str, churn: Any) -> None:
    ev = loopml.evaluate(
        churn_model, churn, target="churned", slices=["tenure"], store=False, latency=False
    )
    bins = ev.slices["tenure"]
    assert 2 <= len(bins) <= 5 and all(label.startswith("[") for label in bins)
    assert sum(v["count"] for v in bins.values()) == len(churn)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope"}, "target column 'nope' is not in the evaluation data"),
        ({"target": "churned", "slices": ["zone"]}, "slice column 'zone' is not in"),
        ({"target": "churned", "sensitive_features": ["gender"]}, "sensitive column 'gender'"),
        ({}, "cannot tell the target column: .*region, sex, churned"),
        ({"target": "churned", "task": "ranking"}, "task 'ranking' is not known"),
        ({"target": "churned", "positive_label": 7}, "positive_label 7 is not one of"),
    ],
)
def test_bad_arguments_are_one_clear_error_and_store_nothing(
    churn_model: str, churn: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        loopml.evaluate(churn_model, churn, **kwargs)
    assert loopml.evaluation.list_evaluations() == []


def test_bad_data_is_one_clear_error(churn_model: str, churn: Any) -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        loopml.evaluate(churn_model, churn.head(0), target="churned")
    gap = churn.astype({"churned": "float64"})
    gap.loc[5, "churned"] = np.nan
    with pytest.raises(InvalidInput, match="missing in row 5"):
        loopml.evaluate(churn_model, gap, target="churned")
    with pytest.raises(InvalidInput, match="lacks the model input column 'charges'"):
        loopml.evaluate(churn_model, churn.drop(columns=["charges"]), target="churned")
    # data of one class is evaluated (accuracy holds); what needs both classes is left out
    one = loopml.evaluate(churn_model, churn[churn["churned"] == 0], target="churned", store=False)
    assert "accuracy" in one.metrics and "roc_auc" not in one.metrics
    with pytest.raises(InvalidInput, match="NumPy array"):
        loopml.evaluate(churn_model, churn.to_numpy(), target="churned")
    with pytest.raises(NotFound):
        loopml.evaluation.get_evaluation(99)
    with pytest.raises(InvalidInput, match="malformed evaluation URI"):
        loopml.evaluation.get_evaluation("evaluation:/x")


def test_a_categorical_slice_with_many_values_keeps_the_most_frequent(
    churn_model: str, churn: Any
) -> None:
    from loopml.evaluation._slices import MAX_VALUES

    ids = churn.assign(customer=[f"c{i % 120}" if i < 500 else "big" for i in range(len(churn))])
    ev = loopml.evaluate(
        churn_model, ids, target="churned", slices=["customer"], store=False, latency=False
    )
    table = ev.slices["customer"]
    assert len(table) == MAX_VALUES and "<other>" in table and table["big"]["count"] == 100
    assert sum(v["count"] for v in table.values()) == len(churn)
