"""Materializers: how a step's output value becomes bytes in the artifact store, and back.

Chosen by the value's type (the most specific registered type in its MRO):

=========================  ==========  ===========================================
type                       format      notes
=========================  ==========  ===========================================
``pandas.DataFrame``       Parquet     via pyarrow; index and dtypes kept
``numpy.ndarray``          ``.npy``    object arrays are refused (they need pickle)
dict/list/str/int/float/   JSON        only values that round-trip exactly (str keys);
bool/None                              ``json-exact`` (Python's json) when they hold
                                       NaN, ±inf or integers beyond 64 bits
models of a known flavor   model       a model package folder (see below)
anything else              pickle      only with ``@step(allow_pickle=True)``; loading
                                       needs the reader's opt-in (see ``_records``)
=========================  ==========  ===========================================

The bytes are a function of the value, in any process: equal values are
stored as equal bytes (JSON in the dict's order, arrays in C order, skops
archives with fixed timestamps and ids numbered in order, pickles with sets
sorted), so an equal output recomputed upstream leaves downstream keys as
they were.

**Models.** A value that a model flavor of :mod:`loopml.models` stores (a
scikit-learn estimator, an XGBoost or LightGBM model, an ONNX ``ModelProto``)
or a :class:`loopml.Model` is stored as a *model package*: the folder
:func:`loopml.save_model` writes, in the step's run under ``model/`` (a step's
single output) or ``<output name>/`` (a step with named outputs), so
``runs:/<step run id>/model`` loads with :func:`loopml.load_model` and
registers with :func:`loopml.register_model`. The output's stored digest is
the package's manifest, which names (and hashes) every other file of it; the
step's cache entry therefore points at the same bytes on every hit. A later
step receives the model as the step returned it (the estimator, or the
``loopml.Model``). The package's signature is inferred from the frame the model
was fitted on: the step's first pandas DataFrame argument that holds every
column of the model's ``feature_names_in_`` (restricted to those columns, in
that order; its first rows become the input example). A model fitted on
something else (a NumPy array, a frame made inside the step) gets no
signature: log it yourself with ``loopml.log_model(model, input_example=...)``.
Outputs stored as skops archives before packages existed stay loadable.

Add your own with :func:`register_materializer` (it goes into the current
context's ``materializers``: the default one, or a client's)::

    loopml.pipelines.register_materializer(
        MyModel, save=lambda m: m.to_bytes(), load=MyModel.from_bytes, ext="mym"
    )

Built-in types are recognised without importing their libraries: pandas,
NumPy and scikit-learn are only imported when a value of theirs is stored
or loaded.
"""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.context import Context

__all__ = [
    "Materializer",
    "find_materializer",
    "get_materializer",
    "register_materializer",
    "registered_materializer",
]

PICKLE = "pickle"


MODEL = "model"  # a model package; the step returned the library's own object
LOOPML_MODEL = "loopml-model"  # a model package; the step returned a loopml.Model
PACKAGES = (MODEL, LOOPML_MODEL)
MANIFEST = "loopml-model.json"
_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Materializer:
    """A way to store values: ``save(value) -> bytes``, ``load(bytes) -> value``.

    ``name`` identifies it in stored records (a loaded run finds its
    materializer by this name), ``ext`` is the file suffix of the artifact.
    The model-package materializers (``name`` in :data:`PACKAGES`) store a
    folder instead: see :func:`store_package` and :func:`load_package`.
    """

    name: str
    ext: str
    save: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


def register_materializer(
    type_: type,
    save: Callable[[Any], bytes],
    load: Callable[[bytes], Any],
    ext: str,
    *,
    name: str | None = None,
) -> Materializer:
    """Store values of ``type_`` (and its subclasses) with ``save``/``load``.

    A registration wins over the built-in materializers. ``name`` defaults
    to the type's ``module.QualName``; keep it stable, stored outputs are
    loaded by it. It is kept by the current context (:mod:`loopml.context`).
    """
    if not isinstance(type_, type):
        raise InvalidInput(f"register_materializer needs a type, got {type_!r}.")
    if not callable(save) or not callable(load):
        raise InvalidInput("register_materializer needs callables save(value) and load(bytes).")
    if not isinstance(ext, str) or not ext.strip(".").isalnum():
        raise InvalidInput(f"ext must be a file suffix such as 'json' or 'npy', got {ext!r}.")
    mat = Materializer(
        name or f"{type_.__module__}.{type_.__qualname__}", ext.strip("."), save, load
    )
    from loopml.context import current

    current().materializers[type_] = mat
    return mat


def find_materializer(
    value: Any, context: Context | None = None, *, allow_pickle: bool = False
) -> Materializer | None:
    """The materializer for ``value``, or None when there is none."""
    cls = type(value)
    found = registered_materializer(value, context)
    if found is not None:
        return found
    kind = _json_kind(value)
    if kind:
        return _JSON if kind == _PLAIN else _JSON_EXACT
    module = cls.__module__.split(".", 1)[0]
    if module == "pandas" and _isinstance(value, "pandas", "DataFrame"):
        return _PARQUET
    if module == "numpy" and _isinstance(value, "numpy", "ndarray") and value.dtype != object:
        return _NPY
    if _is_loopml_model(value):
        return _LOOPML_MODEL
    if _is_flavored(value) and (not _is_estimator(value) or _has_skops()):
        return _MODEL
    return _PICKLE if allow_pickle else None


def registered_materializer(value: Any, context: Context | None = None) -> Materializer | None:
    """The materializer registered for ``value``'s type (or a base of it), if any."""
    registered = _registered(context)
    if registered:
        for base in type(value).__mro__:
            found = registered.get(base)
            if found is not None:
                return found
    return None


def get_materializer(name: str, context: Context | None = None) -> Materializer:
    """The materializer stored outputs name (built-in or registered)."""
    by_name = {m.name: m for m in _registered(context).values()}
    found = by_name.get(name) or _BUILTIN.get(name)
    if found is None:
        raise InvalidInput(
            f"no materializer named {name!r} is registered in this process. "
            "Import the module that calls loopml.pipelines.register_materializer for it."
        )
    return found


def unmaterializable(value: Any, step: str) -> InvalidInput:
    """The error for an output no materializer can store."""
    cls = type(value)
    hint = ""
    if _is_estimator(value):
        hint = " scikit-learn estimators are stored with skops: pip install skops."
    return InvalidInput(
        f"step {step!r} returned a {cls.__module__}.{cls.__qualname__}, which loopml cannot "
        "store: expected a pandas DataFrame, a NumPy array, JSON-able data (dict, list, str, "
        f"int, float, bool, None) or a scikit-learn estimator.{hint} Register a materializer "
        "with loopml.pipelines.register_materializer(type, save, load, ext), or allow pickle "
        "for this step with @loopml.step(allow_pickle=True)."
    )


def _registered(context: Context | None) -> dict[type, Materializer]:
    if context is None:
        from loopml.context import current

        context = current()
    return context.materializers


# -- checks that import nothing --------------------------------------------------------


def _isinstance(value: Any, module: str, name: str) -> bool:
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod is not None else None
    return cls is not None and isinstance(value, cls)


_PLAIN, _EXACT = 1, 2
_INT64 = (-(2**63), 2**64 - 1)  # the integers orjson writes and reads back exactly


def _json_kind(value: Any, depth: int = 0) -> int:
    """0 when ``value`` is not made only of JSON types (it would not round-trip), else
    :data:`_PLAIN`, or :data:`_EXACT` when it holds NaN, an infinity or an integer beyond
    64 bits, which plain JSON (and orjson) would change."""
    cls = type(value)
    if cls is str or cls is bool or value is None:
        return _PLAIN
    if cls is float:
        return _PLAIN if value - value == 0.0 else _EXACT  # NaN and ±inf are not finite
    if cls is int:
        return _PLAIN if _INT64[0] <= value <= _INT64[1] else _EXACT
    if depth > 100:
        return 0
    kind = _PLAIN
    if cls is list:
        items: Any = value
    elif cls is dict:
        if not all(type(k) is str for k in value):
            return 0
        items = value.values()
    else:
        return 0
    for item in items:
        found = _json_kind(item, depth + 1)
        if not found:
            return 0
        kind = max(kind, found)
    return kind


def _is_estimator(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    estimator = getattr(base, "BaseEstimator", None)
    return estimator is not None and isinstance(value, estimator)


#: (module, class) of the models the built-in flavors store, checked without importing
_FLAVORED = (
    ("sklearn.base", "BaseEstimator"),
    ("xgboost", "Booster"),
    ("xgboost", "XGBModel"),
    ("lightgbm", "Booster"),
    ("lightgbm", "LGBMModel"),
    ("onnx", "ModelProto"),
)


def _is_flavored(value: Any) -> bool:
    return any(_isinstance(value, module, name) for module, name in _FLAVORED)


def _is_loopml_model(value: Any) -> bool:
    return "loopml.models" in sys.modules and _isinstance(value, "loopml.models", "Model")


def _has_skops() -> bool:
    try:
        import skops.io  # noqa: F401
    except ImportError:
        return False
    return True


# -- the built-in formats --------------------------------------------------------------


def _json_save(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def _json_load(data: bytes) -> Any:
    import orjson

    return orjson.loads(data)


def _exact_json_save(value: Any) -> bytes:
    """JSON as Python writes it: NaN, Infinity, -Infinity and integers of any size kept
    (read back with :func:`json.loads`, as :func:`_exact_json_load` does)."""
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def _exact_json_load(data: bytes) -> Any:
    import json

    return json.loads(data.decode("utf-8", "surrogatepass"))


def _parquet_save(frame: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow")
    return buf.getvalue()


def _parquet_load(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _npy_save(array: Any) -> bytes:
    import numpy as np

    if not array.flags.c_contiguous:  # equal arrays, equal bytes: one layout (C order)
        array = array.copy(order="C")
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _npy_load(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


_PICKLE_PROTOCOL = 5
_SET_OPCODES = (b"\x8f", b"\x91")  # EMPTY_SET, FROZENSET


def _skops_save(estimator: Any) -> bytes:
    from loopml.models import skops_dumps

    return skops_dumps(estimator)


def _skops_load(data: bytes) -> Any:
    from loopml.models import skops_loads

    return skops_loads(data)


def _pickle_save(value: Any) -> bytes:
    """A pickle whose bytes depend on the value only: sets are written in a sorted order
    (the order a set iterates in changes with the process's string hash seed)."""
    import pickle

    data = pickle.dumps(value, protocol=_PICKLE_PROTOCOL)
    if any(op in data for op in _SET_OPCODES):  # maybe a set: write it again, sorted
        buf = io.BytesIO()
        _sorted_set_pickler()(buf, _PICKLE_PROTOCOL).dump(value)
        data = buf.getvalue()
    return data


def _pickle_load(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


@functools.lru_cache(maxsize=1)
def _sorted_set_pickler() -> type:
    import pickle
    from itertools import islice

    base: Any = pickle._Pickler  # the Python one: its dispatch table can be changed

    class SortedSetPickler(base):
        """The pure-Python pickler, writing each set's items sorted by their own pickle."""

        dispatch = dict(base.dispatch)

        def _sorted(self, items: Any) -> list[Any]:
            return sorted(items, key=_pickle_save)

        def save_set(self, obj: Any) -> None:
            write = self.write
            write(pickle.EMPTY_SET)
            self.memoize(obj)
            it = iter(self._sorted(obj))
            while True:
                batch = list(islice(it, self._BATCHSIZE))
                if batch:
                    write(pickle.MARK)
                    for item in batch:
                        self.save(item)
                    write(pickle.ADDITEMS)
                if len(batch) < self._BATCHSIZE:
                    return

        def save_frozenset(self, obj: Any) -> None:
            write = self.write
            write(pickle.MARK)
            for item in self._sorted(obj):
                self.save(item)
            if id(obj) in self.memo:  # a frozenset that (through its items) holds itself
                write(pickle.POP_MARK + self.get(self.memo[id(obj)][0]))
                return
            write(pickle.FROZENSET)
            self.memoize(obj)

        dispatch[set] = save_set
        dispatch[frozenset] = save_frozenset

    return SortedSetPickler


_JSON = Materializer("json", "json", _json_save, _json_load)
_JSON_EXACT = Materializer("json-exact", "json", _exact_json_save, _exact_json_load)
_PARQUET = Materializer("parquet", "parquet", _parquet_save, _parquet_load)
_NPY = Materializer("npy", "npy", _npy_save, _npy_load)
_SKOPS = Materializer("skops", "skops", _skops_save, _skops_load)
_PICKLE = Materializer(PICKLE, "pkl", _pickle_save, _pickle_load)


# -- model packages -----------------------------------------------------------------------


def _package_only(data: bytes) -> Any:
    raise InvalidInput(
        "a model package is a folder, not one object: load it with "
        "loopml.load_model('runs:/<step run id>/model') or the step run's outputs."
    )


def _manifest_bytes(value: Any) -> bytes:
    """The manifest of ``value``'s package: it hashes every file, so it identifies the
    model's bytes (what a cache key made from a model argument uses)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix=".loopml-step-model.") as tmp:
        folder = Path(tmp) / "model"
        _save(value, folder, {})
        return (folder / MANIFEST).read_bytes()


_MODEL = Materializer(MODEL, "", _manifest_bytes, _package_only)
_LOOPML_MODEL = Materializer(LOOPML_MODEL, "", _manifest_bytes, _package_only)
_BUILTIN = {
    m.name: m for m in (_JSON, _JSON_EXACT, _PARQUET, _NPY, _SKOPS, _PICKLE, _MODEL, _LOOPML_MODEL)
}


def package_folder(output: str) -> str:
    """The artifact folder of a model output: ``model`` for a step's single output (named
    ``output``), else the output's name."""
    return "model" if output == "output" else output


def training_example(model: Any, arguments: dict[str, Any]) -> Any:
    """The frame ``model`` was fitted on, as far as the step's arguments show it: the first
    pandas DataFrame argument holding every column of ``model.feature_names_in_``, cut to
    those columns, or for a model fitted on an array (``n_features_in_`` only) the first
    2-D NumPy argument of that width; None when there is none."""
    names = getattr(model, "feature_names_in_", None)
    width = getattr(model, "n_features_in_", None)
    if names is None and isinstance(width, int) and "numpy" in sys.modules:
        for value in arguments.values():
            array = _isinstance(value, "numpy", "ndarray") and value.ndim == 2
            if array and len(value) and value.shape[1] == width:
                return value
        return None
    if names is None or "pandas" not in sys.modules:
        return None
    columns = [str(n) for n in names]
    for value in arguments.values():
        if _isinstance(value, "pandas", "DataFrame") and len(value):
            have = set(map(str, value.columns))
            if all(c in have for c in columns) and len(set(columns)) == len(columns):
                return value[columns]
    return None


def _head(frame: Any) -> Any:
    return frame.head(_EXAMPLE_ROWS) if hasattr(frame, "head") else frame[:_EXAMPLE_ROWS]


def _package_signature(model: Any, frame: Any) -> Any:
    """The signature of ``model`` fitted on ``frame``: every row decides which columns may
    hold NaN; the output is described from a prediction on the first rows."""
    from loopml.models import infer_signature

    head = _head(frame)
    try:
        output = model.predict(head)
    except Exception:  # a model that cannot predict on its frame keeps the input side
        output = None
    return infer_signature(frame, output)


def _save(value: Any, folder: Any, arguments: dict[str, Any]) -> None:
    from loopml.models import save_model

    if _is_loopml_model(value):
        example = (value.metadata or {}).get("input_example")
        save_model(
            value.native,
            folder,
            signature=value.signature,
            input_example=example or None,
            flavor=value.flavor,
        )
        return
    frame = training_example(value, arguments)
    save_model(
        value,
        folder,
        signature=_package_signature(value, frame) if frame is not None else None,
        input_example=None if frame is None else _head(frame),
    )


def store_package(value: Any, artifacts: Any, arguments: dict[str, Any]) -> tuple[str, int]:
    """Save ``value`` as a model package (:func:`loopml.save_model`) and put each of its
    files into ``artifacts``; returns the manifest's digest and the package's size."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix=".loopml-step-model.") as tmp:
        folder = Path(tmp) / "model"
        _save(value, folder, arguments)
        size = 0
        digest = ""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = artifacts.put_file(path)
            size += info.size
            if path.name == MANIFEST and path.parent == folder:
                digest = info.digest
    return digest, size


def package_files(digest: str, artifacts: Any) -> dict[str, tuple[str, int]]:
    """File name → (digest, size) of the package whose manifest is the object ``digest``,
    the manifest included."""
    import json

    data = artifacts.get_bytes(digest)
    try:
        listed = json.loads(data)["files"]
        files = {str(n): (str(f["blake3"]), int(f["size"])) for n, f in listed.items()}
        outside = [n for n in files if not _validate.inside(n) or n == MANIFEST]
        if outside:
            raise ValueError(f"the file name {outside[0]!r} is not a path inside the package")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        from loopml.errors import CorruptObject

        raise CorruptObject(
            f"object {digest[:12]} is not a loopml model manifest ({exc}): the store was "
            "damaged; run the step again with --no-cache."
        ) from None
    files[MANIFEST] = (digest, len(data))
    return files


def load_package(name: str, digest: str, artifacts: Any) -> Any:
    """The value a model output holds: the package is fetched into a temporary folder and
    loaded with :func:`loopml.load_model` (every file checked against its hash); the
    library's own object for :data:`MODEL`, the :class:`loopml.Model` for
    :data:`LOOPML_MODEL`."""
    import tempfile
    from pathlib import Path

    from loopml.models import load_model

    with tempfile.TemporaryDirectory(prefix=".loopml-step-model.") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        for file, (file_digest, _) in package_files(digest, artifacts).items():
            target = folder / file
            target.parent.mkdir(parents=True, exist_ok=True)
            artifacts.get_file(file_digest, target)
        model = load_model(folder)
    return model if name == LOOPML_MODEL else model.native
