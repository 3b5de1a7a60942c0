"""Each built-in flavor round-trips: the loaded model predicts what the original did, and
saving twice gives the same bytes; pickle-based flavors need the opt-in on both sides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.errors import InvalidInput, Untrusted


def _same_bytes(a: Path, b: Path) -> bool:
    return {p.name: p.read_bytes() for p in a.iterdir()} == {
        p.name: p.read_bytes() for p in b.iterdir()
    }


def _round_trip(tmp_path: Path, model: Any, frame: Any, **kw: Any) -> Any:
    loopml.save_model(model, tmp_path / "a", input_example=frame.head(), **kw)
    loopml.save_model(model, tmp_path / "b", input_example=frame.head(), **kw)
    assert _same_bytes(tmp_path / "a", tmp_path / "b")
    return loopml.load_model(tmp_path / "a", allow_pickle=kw.get("allow_pickle", False))


def test_sklearn_classifier(tmp_path: Path, classifier: Any, frame: Any) -> None:
    model = _round_trip(tmp_path, classifier, frame)
    assert model.flavor == "sklearn"
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    np.testing.assert_allclose(model.predict_proba(frame), classifier.predict_proba(frame))


def test_sklearn_regressor_has_no_predict_proba(tmp_path: Path, frame: Any, target: Any) -> None:
    from sklearn.linear_model import Ridge

    reg = Ridge().fit(frame, target)
    model = _round_trip(tmp_path, reg, frame)
    np.testing.assert_allclose(model.predict(frame), reg.predict(frame))
    with pytest.raises(InvalidInput, match="has no predict_proba"):
        model.predict_proba(frame)


def test_sklearn_pipeline(tmp_path: Path, frame: Any, target: Any) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0))
    pipe.fit(frame, target)
    model = _round_trip(tmp_path, pipe, frame)
    np.testing.assert_array_equal(model.predict(frame), pipe.predict(frame))


def test_xgboost(tmp_path: Path, frame: Any, target: Any) -> None:
    xgboost = pytest.importorskip("xgboost")
    clf = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(frame, target)
    model = _round_trip(tmp_path, clf, frame)
    assert model.flavor == "xgboost" and (tmp_path / "a" / "model.ubj").is_file()
    assert any(r.startswith("xgboost") for r in model.metadata["requirements"])
    np.testing.assert_array_equal(model.predict(frame), clf.predict(frame))
    np.testing.assert_allclose(model.predict_proba(frame), clf.predict_proba(frame))


def test_lightgbm(tmp_path: Path, frame: Any, target: Any) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    clf = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=2, verbose=-1)
    clf.fit(frame, target)
    model = _round_trip(tmp_path, clf, frame)
    assert model.flavor == "lightgbm" and (tmp_path / "a" / "model.txt").is_file()
    np.testing.assert_array_equal(model.predict(frame), clf.predict(frame))
    np.testing.assert_allclose(model.predict_proba(frame), clf.predict_proba(frame))
    reg = lightgbm.LGBMRegressor(n_estimators=5, min_child_samples=2, verbose=-1)
    reg.fit(frame, target.astype(float))
    loopml.save_model(reg, tmp_path / "r")
    np.testing.assert_allclose(loopml.load_model(tmp_path / "r").predict(frame), reg.predict(frame))


def test_onnx(tmp_path: Path, classifier: Any, frame: Any) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    proto = skl2onnx.convert_sklearn(
        classifier,
        initial_types=[("input", FloatTensorType([None, 2]))],
        options={id(classifier): {"zipmap": False}},
    )
    model = _round_trip(tmp_path, proto, frame)
    assert model.flavor == "onnx"
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    np.testing.assert_allclose(
        model.predict_proba(frame), classifier.predict_proba(frame), atol=1e-5
    )


class Doubler:
    """A python_function model: its context sets the factor."""

    def load_context(self, context: Any) -> None:
        self.loaded_from = context.path
        self.factor = 2

    def predict(self, frame: Any) -> Any:
        return frame["age"].to_numpy() * self.factor


def test_python_function_needs_allow_pickle_to_save_and_to_load(
    tmp_path: Path, frame: Any, project: Path
) -> None:
    with pytest.raises(Untrusted, match="allow_pickle=True"):
        loopml.save_model(Doubler(), tmp_path / "m", input_example=frame.head())
    assert not (tmp_path / "m").exists()
    loopml.save_model(Doubler(), tmp_path / "m", input_example=frame.head(), allow_pickle=True)
    with pytest.raises(Untrusted, match="allow_pickle=True.*trust_pickle"):
        loopml.load_model(tmp_path / "m")
    model = loopml.load_model(tmp_path / "m", allow_pickle=True)
    assert model.flavor == "python_function"
    assert model.native.loaded_from == tmp_path / "m"
    np.testing.assert_allclose(model.predict(frame.head()), frame["age"].head() * 2)


def test_trust_pickle_setting_is_the_reader_side_opt_in(
    tmp_path: Path, frame: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopml.save_model(Doubler(), tmp_path / "m", allow_pickle=True)
    monkeypatch.setenv("LOOPML_TRUST_PICKLE", "1")
    assert loopml.load_model(tmp_path / "m").flavor == "python_function"


class OnlyPredict:
    def predict(self, frame: Any) -> Any:
        return [1] * len(frame)


def test_unknown_objects_fall_back_to_pickle_only_with_the_opt_in(
    tmp_path: Path, project: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"OnlyPredict.*allow_pickle=True"):
        loopml.save_model(OnlyPredict(), tmp_path / "m")
    loopml.save_model(OnlyPredict(), tmp_path / "m", allow_pickle=True)
    with pytest.raises(Untrusted):
        loopml.load_model(tmp_path / "m")
    model = loopml.load_model(tmp_path / "m", allow_pickle=True)
    assert model.flavor == "pickle" and model.predict([{"a": 1}, {"a": 2}]) == [1, 1]


class ConstantFlavor:
    """A flavor for ints: the model is a number, predict returns it for each row."""

    name = "constant"
    needs_pickle = False
    modules = ()

    def handles(self, model: Any) -> bool:
        return type(model) is int

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        (folder / "value.txt").write_text(str(model))
        return {}

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        return int((folder / "value.txt").read_text())

    def predict(self, native: Any, frame: Any) -> Any:
        return [native] * len(frame)


CONSTANT = ConstantFlavor()


def test_a_flavor_registered_on_a_client_is_used_by_that_client_only(
    tmp_path: Path, project: Path
) -> None:
    client = loopml.Client(project)
    client.register_flavor("constant", f"{__name__}:CONSTANT")
    client.save_model(7, tmp_path / "m")
    assert client.load_model(tmp_path / "m").predict([{"x": 1}, {"x": 2}]) == [7, 7]
    with pytest.raises(InvalidInput, match="unknown model flavor 'constant'"):
        loopml.load_model(tmp_path / "m")
    with pytest.raises(InvalidInput, match="calls itself 'constant', not 'other'"):
        client.register_flavor("other", f"{__name__}:CONSTANT")
    with pytest.raises(InvalidInput, match="cannot be imported"):
        client.register_flavor("x", "no_such_module_here:X")
