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
scikit-learn estimators    skops       needs ``pip install skops``
anything else              pickle      only with ``@step(allow_pickle=True)``; loading
                                       needs the reader's opt-in (see ``_records``)
=========================  ==========  ===========================================

The bytes are a function of the value, in any process: equal values are
stored as equal bytes (JSON in the dict's order, arrays in C order, skops
archives with fixed timestamps and ids numbered in order, pickles with sets
sorted), so an equal output recomputed upstream leaves downstream keys as
they were.

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
    if _is_estimator(value) and _has_skops():
        return _SKOPS
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
_BUILTIN = {m.name: m for m in (_JSON, _JSON_EXACT, _PARQUET, _NPY, _SKOPS, _PICKLE)}
