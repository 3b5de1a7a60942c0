"""loopml.autolog(): fit logs params, training metrics and the model, once, and can be undone."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.models._autolog import _MARK, AutologWarning


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    loopml.autolog(disable=True)


def _runs() -> list[Any]:
    return loopml.search_runs()


def test_a_fit_inside_a_run_logs_params_metrics_and_a_loadable_model(
    project: Path, frame: Any, target: Any
) -> None:
    from sklearn.linear_model import LogisticRegression

    loopml.autolog()
    with loopml.start_run(experiment="auto") as run:
        clf = LogisticRegression(C=0.5).fit(frame, target)
    stored = loopml.get_run(run.id)
    assert stored.params["C"] == 0.5 and stored.params["solver"] == "lbfgs"
    expected = {
        "training_score",
        "training_accuracy_score",
        "training_f1_score",
        "training_precision_score",
        "training_recall_score",
        "training_log_loss",
        "training_roc_auc",
    }
    assert expected <= set(stored.metrics)
    assert stored.metrics["training_score"] == pytest.approx(clf.score(frame, target))
    from sklearn.metrics import f1_score, log_loss

    assert stored.metrics["training_f1_score"] == pytest.approx(
        f1_score(target, clf.predict(frame))
    )
    assert stored.metrics["training_log_loss"] == pytest.approx(
        log_loss(target, clf.predict_proba(frame))
    )
    model = loopml.load_model(f"runs:/{run.id}/model")
    np.testing.assert_array_equal(model.predict(frame), clf.predict(frame))
    assert model.signature is not None and model.signature.names == ["age", "visits"]
    assert model.metadata["input_example"] is None


def test_a_regressor_logs_error_metrics_and_input_examples_on_request(
    project: Path, frame: Any
) -> None:
    from sklearn.linear_model import Ridge

    loopml.autolog(log_input_examples=True)
    y = frame["age"] * 2.0
    with loopml.start_run() as run:
        reg = Ridge().fit(frame, y)
    metrics = loopml.get_run(run.id).metrics
    assert metrics["training_r2_score"] == pytest.approx(reg.score(frame, y))
    assert metrics["training_score"] == metrics["training_r2_score"]
    assert metrics["training_root_mean_squared_error"] == pytest.approx(
        metrics["training_mean_squared_error"] ** 0.5
    )
    assert "training_mean_absolute_error" in metrics
    assert "training_accuracy_score" not in metrics
    model = loopml.load_model(f"runs:/{run.id}/model")
    assert len(model.metadata["input_example"]) == 5


def test_a_fit_outside_a_run_starts_one_named_after_the_class_and_ends_it(
    project: Path, frame: Any, target: Any
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    loopml.autolog()
    DecisionTreeClassifier(max_depth=2).fit(frame, target)
    assert loopml.active_run() is None
    (run,) = _runs()
    assert run.name == "DecisionTreeClassifier" and run.status == "FINISHED"
    assert run.params["max_depth"] == 2 and "training_score" in run.metrics


def test_a_failing_fit_propagates_and_its_run_ends_failed(project: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    loopml.autolog()
    with pytest.raises(ValueError, match="(?i)class"):
        LogisticRegression().fit(np.zeros((4, 2)), [1, 1, 1, 1])  # one class only
    (run,) = _runs()
    assert run.status == "FAILED" and loopml.active_run() is None


def test_a_pipeline_logs_once_with_its_steps_flattened(
    project: Path, frame: Any, target: Any
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    loopml.autolog()
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=2.0))])
    pipe.fit(frame, target)
    (run,) = _runs()
    assert run.name == "Pipeline"
    assert run.params["steps.clf.class"] == "LogisticRegression"
    assert run.params["steps.clf.C"] == 2.0 and run.params["steps.scale.with_mean"] is True
    artifacts = {e.path for e in loopml.Client().list_artifacts(run.id)}
    assert {p.split("/")[0] for p in artifacts} == {"model"}
    model = loopml.load_model(f"runs:/{run.id}/model")
    np.testing.assert_array_equal(model.predict(frame), pipe.predict(frame))


def test_a_grid_search_logs_once_with_its_best_params(
    project: Path, frame: Any, target: Any
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    loopml.autolog()
    with loopml.start_run() as outer:
        search = GridSearchCV(LogisticRegression(), {"C": [0.01, 10.0]}, cv=3)
        search.fit(frame, target)
    assert [r.id for r in _runs()] == [outer.id]
    stored = loopml.get_run(outer.id)
    assert stored.params["best_C"] == search.best_params_["C"]
    assert stored.params["estimator.class"] == "LogisticRegression"
    assert stored.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    model = loopml.load_model(f"runs:/{outer.id}/model")
    np.testing.assert_array_equal(model.predict(frame), search.predict(frame))


def test_disable_restores_the_original_methods(project: Path, frame: Any, target: Any) -> None:
    from sklearn.base import BaseEstimator
    from sklearn.linear_model import LogisticRegression

    original = LogisticRegression.__dict__["fit"]
    hook = BaseEstimator.__dict__.get("__init_subclass__")
    loopml.autolog()
    assert hasattr(LogisticRegression.__dict__["fit"], _MARK)
    loopml.autolog(disable=True)
    assert LogisticRegression.__dict__["fit"] is original
    assert BaseEstimator.__dict__.get("__init_subclass__") is hook
    LogisticRegression().fit(frame, target)
    assert _runs() == []


def test_disable_restores_the_native_train_functions(project: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    originals = (xgboost.train, lightgbm.train)
    loopml.autolog()
    assert hasattr(xgboost.train, _MARK) and hasattr(lightgbm.train, _MARK)
    loopml.autolog(disable=True)
    assert (xgboost.train, lightgbm.train) == originals


def test_libraries_imported_after_autolog_are_patched_on_import(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("xgboost")
    code = (
        "import sys, loopml\n"
        "loopml.autolog()\n"
        "assert 'sklearn' not in sys.modules\n"
        "from sklearn.linear_model import Ridge\n"
        "import xgboost\n"
        f"print(hasattr(Ridge.__dict__['fit'], {_MARK!r}), hasattr(xgboost.train, {_MARK!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert out.stdout.split() == ["True", "True"]


def test_autolog_twice_does_not_wrap_twice(project: Path, frame: Any, target: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    loopml.autolog()
    wrapped = LogisticRegression.__dict__["fit"]
    loopml.autolog(log_models=False)
    assert LogisticRegression.__dict__["fit"] is wrapped
    assert not hasattr(getattr(wrapped, _MARK), _MARK)
    with loopml.start_run() as run:
        LogisticRegression().fit(frame, target)
    assert loopml.Client().list_artifacts(run.id) == []  # the second call's settings hold
    assert "training_score" in loopml.get_run(run.id).metrics


def test_a_class_defined_after_autolog_is_patched_and_super_fit_logs_once(
    project: Path, frame: Any, target: Any
) -> None:
    from sklearn.linear_model import LogisticRegression

    loopml.autolog(log_models=False)

    class Tuned(LogisticRegression):
        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Tuned:
            return super().fit(X, y, sample_weight)

    assert hasattr(Tuned.__dict__["fit"], _MARK)
    Tuned().fit(frame, target)
    (run,) = _runs()
    assert run.name == "Tuned"


def test_a_failing_metric_does_not_break_fit(
    project: Path, frame: Any, target: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.metrics
    from sklearn.linear_model import LogisticRegression

    def broken(*args: Any, **kwargs: Any) -> float:
        raise RuntimeError("metric exploded")

    monkeypatch.setattr(sklearn.metrics, "log_loss", broken)
    loopml.autolog()
    with loopml.start_run() as run, pytest.warns(AutologWarning, match="metric exploded"):
        clf = LogisticRegression().fit(frame, target)
    assert hasattr(clf, "coef_")
    metrics = loopml.get_run(run.id).metrics
    assert "training_log_loss" not in metrics
    assert {"training_accuracy_score", "training_f1_score", "training_roc_auc"} <= set(metrics)


def test_silent_hides_the_warnings(
    project: Path, frame: Any, target: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.metrics
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setattr(sklearn.metrics, "roc_auc_score", lambda *a, **k: 1 / 0)
    loopml.autolog(silent=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutologWarning)
        with loopml.start_run():
            LogisticRegression().fit(frame, target)


def test_exclusive_leaves_the_users_run_alone(project: Path, frame: Any, target: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    loopml.autolog(exclusive=True)
    with loopml.start_run() as run:
        LogisticRegression().fit(frame, target)
    stored = loopml.get_run(run.id)
    assert stored.params == {} and stored.metrics == {}


def test_fits_in_threads_each_log_their_own_run(project: Path, frame: Any, target: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    loopml.autolog(log_models=False)
    errors: list[BaseException] = []

    def fit(depth: int) -> None:
        try:
            DecisionTreeClassifier(max_depth=depth).fit(frame, target)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(d,)) for d in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.params["max_depth"] for r in _runs()) == [1, 2, 3]


def test_bad_options_are_refused(project: Path) -> None:
    with pytest.raises(InvalidInput, match="log_models must be True or False, got str 'yes'"):
        loopml.autolog(log_models="yes")  # type: ignore[arg-type]


def test_an_xgboost_fit_logs_its_eval_results_per_iteration(
    project: Path, frame: Any, target: Any
) -> None:
    xgboost = pytest.importorskip("xgboost")
    loopml.autolog()
    with loopml.start_run() as run:
        clf = xgboost.XGBClassifier(n_estimators=4, max_depth=2)
        clf.fit(frame, target, eval_set=[(frame, target)], verbose=False)
    stored = loopml.get_run(run.id)
    assert stored.params["n_estimators"] == 4 and "training_accuracy_score" in stored.metrics
    history = loopml.get_metric_history(run.id, "validation_0-logloss")
    assert [m.step for m in history] == [0, 1, 2, 3]
    expected = clf.evals_result()["validation_0"]["logloss"]
    assert [m.value for m in history] == pytest.approx(expected)
    model = loopml.load_model(f"runs:/{run.id}/model")
    assert model.flavor == "xgboost"
    np.testing.assert_array_equal(model.predict(frame), clf.predict(frame))


def test_a_lightgbm_fit_logs_its_eval_results_per_iteration(
    project: Path, frame: Any, target: Any
) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    loopml.autolog()
    with loopml.start_run() as run:
        reg = lightgbm.LGBMRegressor(n_estimators=3, min_child_samples=2, verbose=-1)
        reg.fit(frame, frame["age"], eval_X=frame, eval_y=frame["age"])
    stored = loopml.get_run(run.id)
    assert stored.params["n_estimators"] == 3 and "training_r2_score" in stored.metrics
    history = loopml.get_metric_history(run.id, "valid_0-l2")
    assert [m.step for m in history] == [0, 1, 2]
    model = loopml.load_model(f"runs:/{run.id}/model")
    assert model.flavor == "lightgbm"
    np.testing.assert_allclose(model.predict(frame), reg.predict(frame))


def test_the_client_has_autolog(project: Path) -> None:
    assert loopml.Client(project).autolog.__wrapped__ is loopml.autolog  # type: ignore[attr-defined]


def test_native_xgboost_train_logs_params_evals_and_the_booster(
    project: Path, frame: Any, target: Any
) -> None:
    xgboost = pytest.importorskip("xgboost")
    loopml.autolog()
    dtrain = xgboost.DMatrix(frame, label=target)
    params = {"objective": "binary:logistic", "max_depth": 2}
    booster = xgboost.train(params, dtrain, 3, evals=[(dtrain, "train")], verbose_eval=False)
    (run,) = _runs()
    assert run.name == "xgboost.train" and run.status == "FINISHED"
    assert run.params["max_depth"] == 2 and run.params["num_boost_round"] == 3
    history = loopml.get_metric_history(run.id, "train-logloss")
    assert [m.step for m in history] == [0, 1, 2]
    model = loopml.load_model(f"runs:/{run.id}/model")
    np.testing.assert_allclose(model.predict(frame), booster.predict(dtrain))


def test_native_lightgbm_train_logs_params_and_evals_and_sklearn_fit_logs_once(
    project: Path, frame: Any
) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    loopml.autolog(log_models=False)
    data = lightgbm.Dataset(frame, label=frame["age"])
    params = {"objective": "regression", "verbose": -1, "min_data_in_leaf": 2}
    lightgbm.train(params, data, num_boost_round=2, valid_sets=[data], valid_names=["train"])
    lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(frame, frame["age"])
    native, fitted = sorted(_runs(), key=lambda r: r.name)[::-1]
    assert native.name == "lightgbm.train" and native.params["num_boost_round"] == 2
    assert [m.step for m in loopml.get_metric_history(native.id, "train-l2")] == [0, 1]
    assert fitted.name == "LGBMRegressor" and fitted.params["n_estimators"] == 2
    assert len(_runs()) == 2  # LGBMModel.fit calling lightgbm.train logs once


def test_a_second_fit_in_one_run_logs_its_own_model_beside_the_first(
    project: Path, frame: Any, target: Any
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    loopml.autolog()
    with loopml.start_run() as run:
        first = LogisticRegression().fit(frame, target)
        with pytest.warns(AutologWarning, match="random_state"):  # params are fixed once logged
            second = DecisionTreeClassifier(max_depth=2, random_state=0).fit(frame, target)
    a = loopml.load_model(f"runs:/{run.id}/model")
    b = loopml.load_model(f"runs:/{run.id}/model-2")
    np.testing.assert_array_equal(a.predict(frame), first.predict(frame))
    np.testing.assert_array_equal(b.predict(frame), second.predict(frame))
    assert b.signature is not None and b.signature.names == ["age", "visits"]
