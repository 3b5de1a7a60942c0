"""Materializers: how a step's output value becomes bytes in the artifact store, and back.

Chosen by the value's type (the most specific registered type in its MRO):

=========================  ==========  ===========================================
type                       format      notes
=========================  ==========  ===========================================
``pandas.DataFrame``       Parquet     via pyarrow; index and dtypes kept
``numpy.ndarray``          ``.npy``    object arrays are refused (they need pickle)
dict/list/str/int/float/   JSON        only values that round-trip exactly
bool/None
scikit-learn estimators    skops       needs ``pip install skops``
anything else              pickle      only with ``@step(allow_pickle=True)``
=========================  ==========  ===========================================

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

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.context import Context

__all__ = ["Materializer", "find_materializer", "get_materializer", "register_materializer"]

PICKLE = "pickle"
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Materializer:
    """A way to store values: ``save(value) -> bytes``, ``load(bytes) -> value``.

    ``name`` identifies it in stored records (a loaded run finds its
    materializer by this name), ``ext`` is the file suffix of the artifact.
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
    registered = _registered(context)
    if registered:
        for base in cls.__mro__:
            found = registered.get(base)
            if found is not None:
                return found
    if _is_json(value):
        return _JSON
    module = cls.__module__.split(".", 1)[0]
    if module == "pandas" and _isinstance(value, "pandas", "DataFrame"):
        return _PARQUET
    if module == "numpy" and _isinstance(value, "numpy", "ndarray") and value.dtype != object:
        return _NPY
    if _is_estimator(value) and _has_skops():
        return _SKOPS
    return _PICKLE if allow_pickle else None


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


def _is_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made only of JSON types (so it round-trips exactly)."""
    cls = type(value)
    if cls in _JSON_SCALARS:
        return not (cls is float and value != value)  # NaN does not round-trip
    if depth > 100:
        return False
    if cls is list:
        return all(_is_json(v, depth + 1) for v in value)
    if cls is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _is_estimator(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    estimator = getattr(base, "BaseEstimator", None)
    return estimator is not None and isinstance(value, estimator)


def _has_skops() -> bool:
    try:
        import skops.io  # noqa: F401
    except ImportError:
        return False
    return True


# -- the built-in formats --------------------------------------------------------------


def _json_save(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _json_load(data: bytes) -> Any:
    import orjson

    return orjson.loads(data)


def _parquet_save(frame: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow")
    return buf.getvalue()


def _parquet_load(data: bytes) -> Any:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _npy_save(array: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _npy_load(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


_SKOPS_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def _skops_save(estimator: Any) -> bytes:
    import skops.io

    return bytes(skops.io.dumps(estimator))


def _skops_load(data: bytes) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=data)
    foreign = [t for t in untrusted if not t.startswith(_SKOPS_TRUSTED_PREFIXES)]
    if foreign:
        raise InvalidInput(
            f"the stored estimator contains types outside scikit-learn/NumPy/SciPy: "
            f"{', '.join(sorted(foreign))}. Load it yourself with skops.io.loads(data, "
            "trusted=[...]) after checking them."
        )
    return skops.io.loads(data, trusted=untrusted)


def _pickle_save(value: Any) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


_JSON = Materializer("json", "json", _json_save, _json_load)
_PARQUET = Materializer("parquet", "parquet", _parquet_save, _parquet_load)
_NPY = Materializer("npy", "npy", _npy_save, _npy_load)
_SKOPS = Materializer("skops", "skops", _skops_save, _skops_load)
_PICKLE = Materializer(PICKLE, "pkl", _pickle_save, _pickle_load)
_BUILTIN = {m.name: m for m in (_JSON, _PARQUET, _NPY, _SKOPS, _PICKLE)}
