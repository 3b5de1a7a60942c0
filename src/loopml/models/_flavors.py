"""Flavors: how a model of one library is written to a package folder, read back and called.

A flavor is a small object with

- ``name``: the name the manifest records (``"sklearn"``),
- ``needs_pickle``: loading it runs code its bytes name (a pickle), so saving
  and loading it both need ``allow_pickle=True``,
- ``modules``: the top-level modules its files need besides the model's own
  classes (``skops`` for scikit-learn), for the package's requirements,
- ``handles(model) -> bool``: whether it stores ``model``; it imports nothing
  (a library that is not imported yet made no object of the process),
- ``save(model, folder) -> {file name: info}``: writes the native files into
  ``folder`` and returns what ``load`` needs besides them (JSON values),
- ``load(folder, manifest) -> native``,
- ``predict(native, frame)`` and, where the library has it,
  ``predict_proba(native, frame)``; ``frame`` is a pandas DataFrame whose
  columns are the signature's (or the caller's data when there is none).

Flavors are named by ``"module:attribute"`` path in :data:`FLAVORS` (the
built-in ones) and in a context's ``flavors`` registry (a client's, or the
default context's: :func:`register_flavor`), so a new flavor is one module
and one registration. Each library is imported inside its flavor, when a
model of it is saved or loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from loopml import _validate
from loopml._lazy import load as load_path
from loopml.errors import InvalidInput, Untrusted

if TYPE_CHECKING:
    from loopml.context import Context

__all__ = [
    "FLAVORS",
    "Flavor",
    "ModelContext",
    "find_flavor",
    "get_flavor",
    "register_flavor",
]


@runtime_checkable
class Flavor(Protocol):
    """The interface every flavor offers (see the module docstring)."""

    name: str
    needs_pickle: bool
    modules: tuple[str, ...]

    def handles(self, model: Any) -> bool: ...

    def save(self, model: Any, folder: Path) -> dict[str, Any]: ...

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any: ...

    def predict(self, native: Any, frame: Any) -> Any: ...


class ModelContext:
    """What a ``python_function`` model's ``load_context(context)`` receives: the package
    folder it was loaded from and its manifest."""

    def __init__(self, path: Path, metadata: dict[str, Any]) -> None:
        self.path = path
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"ModelContext({str(self.path)!r})"


def _cls_named(model: Any, module: str, name: str) -> bool:
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod is not None else None
    return isinstance(cls, type) and isinstance(model, cls)


def _flavor_info(manifest: dict[str, Any]) -> dict[str, Any]:
    info = manifest.get("flavor", {}).get("info", {})
    return info if isinstance(info, dict) else {}


# -- scikit-learn ---------------------------------------------------------------------


class SklearnFlavor:
    """scikit-learn estimators and pipelines, as a deterministic skops archive."""

    name = "sklearn"
    needs_pickle = False
    modules: tuple[str, ...] = ("sklearn", "skops")
    FILE = "model.skops"

    def handles(self, model: Any) -> bool:
        return _cls_named(model, "sklearn.base", "BaseEstimator")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        from loopml.models._skops import skops_dumps

        (folder / self.FILE).write_bytes(skops_dumps(model))
        return {"file": self.FILE}

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        from loopml.models._skops import skops_loads

        return skops_loads((folder / self.FILE).read_bytes())

    def predict(self, native: Any, frame: Any) -> Any:
        return native.predict(_unnamed(native, frame))

    def predict_proba(self, native: Any, frame: Any) -> Any:
        if not hasattr(native, "predict_proba"):
            raise _no_proba(self.name, native)
        return native.predict_proba(_unnamed(native, frame))


def _unnamed(native: Any, frame: Any) -> Any:
    """The frame's values when the estimator was fitted on an array (no
    ``feature_names_in_``), so scikit-learn does not warn about the signature's names."""
    if hasattr(native, "n_features_in_") and not hasattr(native, "feature_names_in_"):
        return frame.to_numpy() if hasattr(frame, "to_numpy") else frame
    return frame


def _no_proba(flavor: str, native: Any) -> InvalidInput:
    cls = type(native)
    return InvalidInput(
        f"this {flavor} model ({cls.__module__}.{cls.__qualname__}) has no predict_proba: "
        "it is not a probabilistic classifier. Call predict(data) instead."
    )


# -- XGBoost ----------------------------------------------------------------------------


class XGBoostFlavor:
    """XGBoost boosters and their scikit-learn wrappers, in XGBoost's own UBJSON format."""

    name = "xgboost"
    needs_pickle = False
    modules: tuple[str, ...] = ("xgboost",)
    FILE = "model.ubj"

    def handles(self, model: Any) -> bool:
        return _cls_named(model, "xgboost", "Booster") or _cls_named(model, "xgboost", "XGBModel")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        model.save_model(str(folder / self.FILE))
        cls = type(model)
        return {"file": self.FILE, "class": f"{cls.__module__}:{cls.__qualname__}"}

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        import xgboost

        info = _flavor_info(manifest)
        classes = {
            "Booster": xgboost.Booster,
            "XGBClassifier": xgboost.XGBClassifier,
            "XGBRegressor": xgboost.XGBRegressor,
            "XGBRanker": xgboost.XGBRanker,
            "XGBRFClassifier": xgboost.XGBRFClassifier,
            "XGBRFRegressor": xgboost.XGBRFRegressor,
        }
        name = str(info.get("class", "")).rpartition(":")[2]
        cls = classes.get(name, xgboost.Booster)
        native = cls()
        native.load_model(str(folder / self.FILE))
        return native

    def predict(self, native: Any, frame: Any) -> Any:
        import xgboost

        if isinstance(native, xgboost.Booster):
            return native.inplace_predict(frame)
        return native.predict(frame)

    def predict_proba(self, native: Any, frame: Any) -> Any:
        if not hasattr(native, "predict_proba"):
            raise _no_proba(self.name, native)
        return native.predict_proba(frame)


# -- LightGBM ---------------------------------------------------------------------------


class LightGBMFlavor:
    """LightGBM boosters and their scikit-learn wrappers, in LightGBM's model text format.

    A wrapper is stored as its booster; a classifier's classes are kept in the
    manifest, so ``predict`` gives labels and ``predict_proba`` probabilities."""

    name = "lightgbm"
    needs_pickle = False
    modules: tuple[str, ...] = ("lightgbm",)
    FILE = "model.txt"

    def handles(self, model: Any) -> bool:
        return _cls_named(model, "lightgbm", "Booster") or _cls_named(
            model, "lightgbm", "LGBMModel"
        )

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        booster = model if _cls_named(model, "lightgbm", "Booster") else model.booster_
        text = booster.model_to_string()
        (folder / self.FILE).write_bytes(text.encode("utf-8"))
        info: dict[str, Any] = {"file": self.FILE}
        classes = getattr(model, "classes_", None)
        if classes is not None and _cls_named(model, "lightgbm", "LGBMClassifier"):
            info["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
        return info

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        import lightgbm

        text = (folder / self.FILE).read_text(encoding="utf-8")
        booster = lightgbm.Booster(model_str=text)
        classes = _flavor_info(manifest).get("classes")
        return _LightGBMModel(booster, classes)

    def predict(self, native: Any, frame: Any) -> Any:
        raw = native.booster.predict(frame)
        if native.classes is None:
            return raw
        import numpy as np

        classes = np.asarray(native.classes)
        if raw.ndim == 1:  # binary: the probability of the second class
            return classes[(raw > 0.5).astype(int)]
        return classes[raw.argmax(axis=1)]

    def predict_proba(self, native: Any, frame: Any) -> Any:
        if native.classes is None:
            raise _no_proba(self.name, native.booster)
        import numpy as np

        raw = native.booster.predict(frame)
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw


class _LightGBMModel:
    """A LightGBM booster and, for a classifier, its class labels."""

    def __init__(self, booster: Any, classes: list[Any] | None) -> None:
        self.booster = booster
        self.classes = classes


# -- ONNX -------------------------------------------------------------------------------


class OnnxFlavor:
    """ONNX models (an ``onnx.ModelProto``), run with onnxruntime.

    A model with one input gets the frame as one tensor (columns in the
    signature's order); a model with one input per column gets each column.
    ``predict`` returns the first output, ``predict_proba`` the second (a
    list of per-class dicts, as skl2onnx's ZipMap writes it, becomes an array)."""

    name = "onnx"
    needs_pickle = False
    modules: tuple[str, ...] = ("onnx", "onnxruntime")
    FILE = "model.onnx"

    def handles(self, model: Any) -> bool:
        return _cls_named(model, "onnx", "ModelProto")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        (folder / self.FILE).write_bytes(model.SerializeToString(deterministic=True))
        return {"file": self.FILE}

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        import onnxruntime

        return onnxruntime.InferenceSession(
            (folder / self.FILE).read_bytes(), providers=["CPUExecutionProvider"]
        )

    def _run(self, session: Any, frame: Any) -> list[Any]:
        import numpy as np

        inputs = session.get_inputs()
        if len(inputs) == 1:
            array = frame.to_numpy() if hasattr(frame, "to_numpy") else np.asarray(frame)
            feeds = {inputs[0].name: array.astype(_onnx_dtype(inputs[0].type), copy=False)}
        else:
            feeds = {
                i.name: frame[i.name].to_numpy().astype(_onnx_dtype(i.type)).reshape(-1, 1)
                for i in inputs
            }
        result: list[Any] = session.run(None, feeds)
        return result

    def predict(self, native: Any, frame: Any) -> Any:
        return self._run(native, frame)[0]

    def predict_proba(self, native: Any, frame: Any) -> Any:
        outputs = self._run(native, frame)
        if len(outputs) < 2:
            raise InvalidInput(
                "this onnx model has one output, so no probabilities: call predict(data)."
            )
        proba = outputs[1]
        if isinstance(proba, list):
            import numpy as np

            keys = sorted(proba[0]) if proba else []
            return np.array([[row[k] for k in keys] for row in proba])
        return proba


def _onnx_dtype(type_name: str) -> str:
    return {
        "tensor(float)": "float32",
        "tensor(double)": "float64",
        "tensor(int64)": "int64",
        "tensor(int32)": "int32",
        "tensor(string)": "object",
        "tensor(bool)": "bool",
    }.get(type_name, "float32")


# -- pickles: python_function and the fallback -------------------------------------------


def _pickle_dump(model: Any, path: Path) -> None:
    """cloudpickle when installed (it stores classes defined in ``__main__`` or a notebook
    by value), else the standard pickle."""
    try:
        import cloudpickle as pickler
    except ImportError:
        import pickle as pickler

    path.write_bytes(pickler.dumps(model, protocol=5))


def _pickle_load(path: Path) -> Any:
    import pickle

    return pickle.loads(path.read_bytes())


class PythonFunctionFlavor:
    """A user class instance with ``load_context(context)`` and ``predict(frame)``, pickled
    with cloudpickle (so it needs ``allow_pickle=True`` to save and to load).
    ``load_context`` is called once when the model is loaded, with a
    :class:`ModelContext`."""

    name = "python_function"
    needs_pickle = True
    modules: tuple[str, ...] = ("cloudpickle",)
    FILE = "model.pkl"

    def handles(self, model: Any) -> bool:
        return (
            not isinstance(model, type)
            and callable(getattr(model, "predict", None))
            and callable(getattr(model, "load_context", None))
        )

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        _pickle_dump(model, folder / self.FILE)
        return {"file": self.FILE}

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        native = _pickle_load(folder / self.FILE)
        native.load_context(ModelContext(folder, manifest))
        return native

    def predict(self, native: Any, frame: Any) -> Any:
        return native.predict(frame)

    def predict_proba(self, native: Any, frame: Any) -> Any:
        if not callable(getattr(native, "predict_proba", None)):
            raise _no_proba(self.name, native)
        return native.predict_proba(frame)


class PickleFlavor(PythonFunctionFlavor):
    """Any object with a ``predict`` method no other flavor handles, pickled (opt-in)."""

    name = "pickle"

    def handles(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def load(self, folder: Path, manifest: dict[str, Any]) -> Any:
        return _pickle_load(folder / self.FILE)


SKLEARN = SklearnFlavor()
XGBOOST = XGBoostFlavor()
LIGHTGBM = LightGBMFlavor()
ONNX = OnnxFlavor()
PYTHON_FUNCTION = PythonFunctionFlavor()
PICKLE = PickleFlavor()

_HERE = __name__
#: the built-in flavors, tried in this order (the XGBoost and LightGBM wrappers are
#: scikit-learn estimators too, so they come first); ``pickle`` only with allow_pickle
FLAVORS: dict[str, str] = {
    "xgboost": f"{_HERE}:XGBOOST",
    "lightgbm": f"{_HERE}:LIGHTGBM",
    "onnx": f"{_HERE}:ONNX",
    "sklearn": f"{_HERE}:SKLEARN",
    "python_function": f"{_HERE}:PYTHON_FUNCTION",
    "pickle": f"{_HERE}:PICKLE",
}


def _table(ctx: Context | None) -> dict[str, str]:
    if ctx is None:
        from loopml.context import current

        ctx = current()
    registered: dict[str, str] = getattr(ctx, "flavors", {})
    return {**registered, **{k: v for k, v in FLAVORS.items() if k not in registered}}


def _load_flavor(name: str, path: str) -> Flavor:
    try:
        found = load_path(path)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"flavor {name!r} is registered as {path!r}, which cannot be imported ({exc}). "
            'Fix the path ("package.module:attribute") or install the package that has it.'
        ) from None
    if not isinstance(found, Flavor):
        raise InvalidInput(
            f"flavor {name!r} ({path!r}) is a {type(found).__name__}, not a flavor: expected "
            "an object with name, needs_pickle, modules, handles, save, load and predict."
        )
    return found


def get_flavor(name: str, ctx: Context | None = None) -> Flavor:
    """The flavor called ``name`` (registered in the context, or built in)."""
    table = _table(ctx)
    path = table.get(name)
    if path is None:
        raise InvalidInput(
            f"unknown model flavor {name!r}: loopml knows {', '.join(sorted(table))}. Register "
            "yours with loopml.models.register_flavor(name, 'package.module:attribute')."
        )
    return _load_flavor(name, path)


def find_flavor(model: Any, ctx: Context | None = None, *, allow_pickle: bool = False) -> Flavor:
    """The first flavor that handles ``model`` (registered ones first); the pickle
    fallback only with ``allow_pickle``. InvalidInput or Untrusted when there is none."""
    for name, path in _table(ctx).items():
        if name == PICKLE.name:
            continue
        flavor = _load_flavor(name, path)
        if flavor.handles(model):
            check_pickle(flavor, allow_pickle, "save")
            return flavor
    if allow_pickle and PICKLE.handles(model):
        return PICKLE
    cls = type(model)
    raise InvalidInput(
        f"no model flavor handles a {cls.__module__}.{cls.__qualname__}: loopml stores "
        "scikit-learn, XGBoost, LightGBM and ONNX models, and python_function objects (with "
        "load_context(context) and predict(frame)). Wrap it in such a class, register a "
        "flavor with loopml.models.register_flavor, or store it as a pickle with "
        "allow_pickle=True"
        + ("" if PICKLE.handles(model) else " (it needs a predict method)")
        + "."
    )


def check_pickle(flavor: Flavor, allowed: bool, what: str) -> None:
    """Untrusted when ``flavor`` stores a pickle and the caller has not opted in."""
    if not flavor.needs_pickle or allowed:
        return
    if what == "save":
        raise Untrusted(
            f"the {flavor.name} flavor stores the model as a pickle, and loading a pickle runs "
            "whatever code its bytes name. Pass allow_pickle=True to save it (whoever loads "
            "it must opt in too)."
        )
    raise Untrusted(
        f"this model ({what}) is stored by the {flavor.name} flavor as a pickle, and loading "
        "a pickle runs whatever code its bytes name: anyone who can write this store could "
        "run code in this process. If you trust everyone who writes it, load it with "
        "allow_pickle=True, or set trust_pickle = true under [store] in loopml.toml (or "
        "LOOPML_TRUST_PICKLE=1)."
    )


def register_flavor(name: str, path: str) -> None:
    """Register the flavor at ``"module:attribute"`` as ``name`` in the current context
    (a client's when called as its method); it is tried before the built-in ones.

    Example::

        loopml.models.register_flavor("catboost", "my_flavors:CATBOOST")
    """
    _validate.text(name, "flavor name")
    _validate.text(path, "flavor path")
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise InvalidInput(
            f'flavor path {path!r} must be "package.module:attribute", e.g. '
            "'my_flavors:CATBOOST'."
        )
    flavor = _load_flavor(name, path)
    if flavor.name != name:
        raise InvalidInput(
            f"the flavor at {path!r} calls itself {flavor.name!r}, not {name!r}: register it "
            f"under its own name, {flavor.name!r}."
        )
    from loopml.context import current

    current().flavors[name] = path
