"""Signatures: the columns a model takes (name, dtype, whether NaN may appear) and what it
returns, inferred from an input example and enforced on every predict.

Inference (:func:`infer_signature`) reads the example's columns in order: a
pandas or polars DataFrame, a pyarrow Table, a 2-D NumPy array (columns
``x0, x1, ...`` unless the model names its features) or a list of records
(dicts). A column **allows NaN only when the example holds one** in it:
a float column whose example has no missing value refuses NaN at predict
time, so a gap reaches the caller as an error naming the column and row
instead of as whatever the estimator makes of it. To let NaN through (a
model that handles missing values), put one in the example, or build the
:class:`Signature` yourself with ``allow_nan=True`` for that column.

Enforcement (:meth:`Signature.conform`) turns the caller's data into a
pandas DataFrame with exactly the signature's columns, in its order:

- a missing column → :class:`~loopml.errors.InvalidInput` naming it;
- a value that cannot be cast safely (``"abc"`` into a float column, ``1.5``
  into an int column, a number into a datetime column, a complex number, a list
  or dict into a text column) → InvalidInput naming the column, the row and the
  value;
- a column given twice → InvalidInput naming it;
- NaN (or None) where the signature forbids it → InvalidInput naming the
  column and the row;
- extra columns are dropped with one :class:`SignatureWarning` naming them.

A pandas frame that already matches (same columns in the same order, same
dtypes, no forbidden NaN) is passed on as it is, so the check costs a few
microseconds.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from loopml import _validate
from loopml.errors import InvalidInput

__all__ = [
    "ColumnSpec",
    "OutputSpec",
    "Signature",
    "SignatureWarning",
    "infer_signature",
    "to_frame",
]

_EXAMPLE_ROWS = 10  # rows of the input example kept in the manifest


class SignatureWarning(UserWarning):
    """Data given to ``Model.predict`` carried columns the signature does not name; they were
    dropped."""


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name, its dtype (``float64``, ``int64``, ``bool``,
    ``string``, ``datetime64[ns]``...) and whether NaN (a missing value) may appear."""

    name: str
    dtype: str
    allow_nan: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "allow_nan": self.allow_nan}


@dataclass(frozen=True)
class OutputSpec:
    """What predict returns: its type (``ndarray``, ``DataFrame``, ``Series``, ``list``),
    dtype and shape (``-1`` for the number of rows)."""

    type: str
    dtype: str | None = None
    shape: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    """The columns a model takes, in order, and what it returns."""

    inputs: tuple[ColumnSpec, ...]
    output: OutputSpec | None = None
    _plan: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "output": self.output.to_dict() if self.output is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        """The signature a manifest (or :meth:`to_dict`) holds."""
        try:
            inputs = tuple(
                ColumnSpec(str(c["name"]), str(c["dtype"]), bool(c.get("allow_nan", False)))
                for c in data["inputs"]
            )
            out = data.get("output")
            output = (
                OutputSpec(str(out["type"]), out.get("dtype"), tuple(out.get("shape") or ()))
                if out
                else None
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"malformed signature {_validate.shown(data)} ({exc}): expected "
                "{'inputs': [{'name', 'dtype', 'allow_nan'}...], 'output': {...} or null}."
            ) from None
        names = [c.name for c in inputs]
        if len(set(names)) != len(names):
            raise InvalidInput(f"signature names a column twice: {names}.")
        return cls(inputs, output)

    def conform(self, data: Any) -> Any:
        """``data`` as a pandas DataFrame with exactly this signature's columns (see the
        module docstring for what is refused)."""
        return self._compiled().conform(data)

    def conform_floats(self, block: Any) -> Any | None:
        """A 2-D float64 NumPy ``block`` (rows × this signature's columns, in order) as
        the checked DataFrame :meth:`conform` would give, without building a frame to check
        first; None when this signature is not all float64 columns or the block does not
        fit it (a NaN a column refuses, another width): :meth:`conform` of the frame then
        says what is wrong and where."""
        return self._compiled().floats(block)

    @property
    def columns(self) -> Any:
        """The pandas Index of :attr:`names`, built once: a frame made with it is known to
        hold these columns in this order without comparing them again."""
        return self._compiled().columns

    def _compiled(self) -> _Plan:
        plan = self._plan
        if plan is None:
            plan = _Plan(self)
            object.__setattr__(self, "_plan", plan)
        return plan


def _dtype_name(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    if kind in "fiu":
        return str(dtype)
    if kind == "b":
        return "bool"
    if kind == "M":
        return "datetime64[ns]"
    name = str(dtype)
    if name in ("Int64", "Int32", "Float64", "Float32", "boolean"):
        return {"boolean": "bool"}.get(name, name.lower())
    return "string"


def to_frame(data: Any, names: list[str] | None = None) -> Any:
    """``data`` (pandas, polars, pyarrow Table, 2-D NumPy array, list of records) as a pandas
    DataFrame; a NumPy array gets the columns ``names`` (its width must match)."""
    loaded = sys.modules.get("pandas")
    if loaded is not None and isinstance(data, loaded.DataFrame):
        return data
    import pandas as pd

    module = type(data).__module__.split(".", 1)[0]
    if module == "polars" and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if module == "pyarrow" and hasattr(data, "to_pandas") and hasattr(data, "column_names"):
        return data.to_pandas()
    if module == "numpy" and hasattr(data, "ndim"):
        if data.ndim != 2:
            raise InvalidInput(
                f"a NumPy array given as model input must be 2-D (rows × columns), got "
                f"shape {data.shape}. Reshape it, e.g. array.reshape(1, -1) for one row."
            )
        width = data.shape[1]
        if names is not None and width != len(names):
            raise InvalidInput(
                f"the NumPy array has {width} columns, but the model's signature has "
                f"{len(names)} ({', '.join(names)}). Pass an array of that width, columns in "
                "that order, or a DataFrame with those column names."
            )
        return pd.DataFrame(data, columns=names or [f"x{i}" for i in range(width)])
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        if not data:
            raise InvalidInput("the list of records is empty: pass at least one row.")
        return pd.DataFrame.from_records(data)
    if isinstance(data, pd.Series):
        return data.to_frame().T if names is None or len(names) > 1 else data.to_frame()
    raise InvalidInput(
        f"model input must be a pandas, polars or pyarrow table, a 2-D NumPy array or a "
        f"list of records (dicts), got {type(data).__module__}.{type(data).__qualname__}."
    )


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """The signature ``input_example`` implies (and ``output``, a prediction on it, when
    given); see the module docstring for the NaN rule.

    Example::

        sig = loopml.models.infer_signature(X_train.head(), model.predict(X_train.head()))
    """
    frame = to_frame(input_example)
    if frame.shape[1] == 0:
        raise InvalidInput("the input example has no columns: pass at least one column.")
    cols = []
    for name in frame.columns:
        if not isinstance(name, str):
            raise InvalidInput(
                f"input example column {name!r} is not text: signatures name columns by "
                "text; rename the columns (e.g. frame.columns = frame.columns.astype(str))."
            )
        series = frame[name]
        cols.append(ColumnSpec(name, _dtype_name(series.dtype), bool(series.isna().any())))
    return Signature(tuple(cols), infer_output(output) if output is not None else None)


def infer_output(output: Any) -> OutputSpec:
    """The :class:`OutputSpec` of one prediction."""
    import numpy as np

    kind = type(output).__name__
    if kind in ("DataFrame", "Series") or isinstance(output, np.ndarray):
        shape = (-1, *output.shape[1:])
        dtype = (
            _dtype_name(output.dtype)
            if hasattr(output, "dtype")
            else ",".join(sorted({_dtype_name(d) for d in output.dtypes}))
        )
        return OutputSpec("ndarray" if isinstance(output, np.ndarray) else kind, dtype, shape)
    if isinstance(output, list):
        return OutputSpec("list", None, (-1,))
    return OutputSpec(kind)


def example_records(example: Any) -> list[dict[str, Any]]:
    """The first rows of an input example as JSON-able records (NaN as None)."""
    import json

    frame = to_frame(example).head(_EXAMPLE_ROWS)
    text = frame.to_json(orient="records", date_format="iso", double_precision=15)
    records: list[dict[str, Any]] = json.loads(text)
    return records


def _dtypes_of(frame: Any) -> list[Any]:
    """The dtypes of ``frame``'s columns. ``frame.dtypes`` builds a Series (about 10 µs,
    a third of a matching frame's whole check); the block manager's list of them is
    read directly where this pandas has it, else ``frame.dtypes``."""
    get = getattr(getattr(frame, "_mgr", None), "get_dtypes", None)
    if get is not None:
        try:
            found = list(get())
        except Exception:  # another pandas: take the public route
            found = []
        if len(found) == frame.shape[1]:
            return found
    return list(frame.dtypes)


class _Plan:
    """A signature compiled for fast checks: the names, the dtypes a matching frame has,
    and which columns must be searched for NaN."""

    def __init__(self, sig: Signature) -> None:
        import numpy as np

        self.sig = sig
        self.names = sig.names
        self.index = {c.name: c for c in sig.inputs}
        self.dtypes: list[Any] = []
        for c in sig.inputs:
            try:
                self.dtypes.append(np.dtype(c.dtype) if c.dtype != "string" else None)
            except TypeError:
                self.dtypes.append(None)
        self.nan_checked = [
            i for i, c in enumerate(sig.inputs) if not c.allow_nan and c.dtype[:1] in "fsd"
        ]
        # every column of one float dtype, none allowing NaN: one array, one check
        self.one_float_block = (
            len(self.nan_checked) == len(self.names)
            and len({c.dtype for c in sig.inputs}) == 1
            and sig.inputs[0].dtype.startswith("float")
        )
        self.all_float64 = bool(sig.inputs) and all(c.dtype == "float64" for c in sig.inputs)
        self._columns: Any = None

    @property
    def columns(self) -> Any:
        if self._columns is None:
            import pandas as pd

            # object dtype: a model reading the frame's column names (scikit-learn checks
            # them on every call) gets them without converting pandas' Arrow-backed text
            self._columns = pd.Index(self.names, dtype=object)
        return self._columns

    def conform(self, data: Any) -> Any:
        frame = to_frame(data, self.names)
        cols = frame.columns
        if (cols is self._columns or cols.tolist() == self.names) and self._dtypes_match(frame):
            self._check_nan(frame)
            return frame
        return self._fix(frame)

    def floats(self, block: Any) -> Any | None:
        import numpy as np
        import pandas as pd

        if (
            not self.all_float64
            or getattr(block, "dtype", None) != np.float64
            or block.ndim != 2
            or block.shape[1] != len(self.names)
        ):
            return None
        if self.nan_checked:
            checked = block if self.one_float_block else block[:, self.nan_checked]
            if np.isnan(checked).any():
                return None
        return pd.DataFrame(block, columns=self.columns, copy=False)

    def _dtypes_match(self, frame: Any) -> bool:
        for i, (want, got) in enumerate(zip(self.dtypes, _dtypes_of(frame), strict=True)):
            if want is None:
                if getattr(got, "kind", "O") not in "OU" and str(got) not in ("str", "string"):
                    return False
                if getattr(got, "kind", "") == "O" and not _all_text(frame.iloc[:, i]):
                    return False
            elif got != want:
                return False
        return True

    def _check_nan(self, frame: Any) -> None:
        if not self.nan_checked:
            return
        import numpy as np

        if self.one_float_block and not np.isnan(frame.to_numpy()).any():
            return
        for i in self.nan_checked:
            values = frame[self.names[i]].to_numpy()
            if values.dtype.kind == "f":
                mask = np.isnan(values)
            else:
                import pandas as pd

                mask = pd.isna(values)
            if mask.any():
                row = int(mask.argmax())
                raise InvalidInput(
                    f"column {self.names[i]!r} row {row}: a missing value (NaN), which the "
                    "model's signature does not allow (its input example had none). Fill it "
                    "in, or drop the row."
                )

    def _fix(self, frame: Any) -> Any:
        cols = [c for c in frame.columns]
        twice = sorted({str(c) for c in cols if cols.count(c) > 1 and c in self.index})
        if twice:
            raise InvalidInput(
                f"model input has column {twice[0]!r} more than once: the model's signature "
                "takes each column once. Drop or rename the copies."
            )
        missing = [n for n in self.names if n not in cols]
        if missing:
            raise InvalidInput(
                f"model input is missing column {missing[0]!r}"
                + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
                + f": the model's signature needs {', '.join(self.names)}."
            )
        extra = [str(c) for c in cols if c not in self.index]
        if extra:
            warnings.warn(
                f"model input has columns the signature does not name, dropped: "
                f"{', '.join(extra)}.",
                SignatureWarning,
                stacklevel=4,
            )
        out = frame.loc[:, self.names].copy()
        out.columns = self.names
        # positions, not the caller's labels: a cast column (numbered from 0) must line up
        # with the rest when the frame is a slice (df.iloc[100:200]) of a larger one
        out = out.reset_index(drop=True)
        for i, spec in enumerate(self.sig.inputs):
            want = self.dtypes[i]
            series = out.iloc[:, i]
            if want is None:
                if series.dtype.kind not in "OU" and str(series.dtype) not in ("str", "string"):
                    out[spec.name] = _cast_to_text(series)
                elif series.dtype.kind == "O" and not _all_text(series):
                    out[spec.name] = _objects_to_text(series.reset_index(drop=True), spec)
                continue
            if series.dtype != want:
                out[spec.name] = _cast(series, spec, want)
        self._check_nan(out)
        return out


def _cast_to_text(series: Any) -> Any:
    return series.map(lambda v: v if v is None or v != v else str(v)).astype(object)


def _all_text(series: Any) -> bool:
    """Whether an object column holds text (and missing values) only."""
    from pandas.api.types import infer_dtype

    return infer_dtype(series, skipna=True) in ("string", "empty")


def _objects_to_text(values: Any, spec: ColumnSpec) -> Any:
    """An object column for a text column: text stays, a number or bool becomes its text
    (as a numeric column would), anything else (a list, a dict, an object) is refused."""
    import numbers

    out = []
    for row, v in enumerate(values.tolist()):
        if v is None or isinstance(v, str) or (isinstance(v, float) and v != v):
            out.append(v)
        elif isinstance(v, (numbers.Number, bool)) and not isinstance(v, complex):
            out.append(str(v))
        else:
            raise _bad(spec, row, v, f" (its type is {type(v).__name__}, not text)")
    import pandas as pd

    return pd.Series(out, index=values.index, dtype=object)


def _bad(spec: ColumnSpec, row: int, value: Any, why: str = "") -> InvalidInput:
    if hasattr(value, "item"):  # a NumPy scalar: shown as the plain number
        value = value.item()
    return InvalidInput(
        f"column {spec.name!r} row {row}: {_validate.shown(value)} cannot be cast safely to "
        f"{spec.dtype}{why}. Fix the value, or convert the column yourself."
    )


def _cast(series: Any, spec: ColumnSpec, want: Any) -> Any:
    import numpy as np
    import pandas as pd

    values = series.reset_index(drop=True)
    kind = want.kind
    if values.dtype.kind == "c" or (
        values.dtype.kind == "O" and values.map(lambda v: isinstance(v, complex)).any()
    ):
        row = int(values.map(lambda v: isinstance(v, complex)).to_numpy().argmax())
        return _raise(_bad(spec, row, values.iloc[row], " (it is a complex number)"))
    if kind in "fiu":
        if values.dtype.kind == "b":
            numeric = values.astype("int64")
        elif values.dtype.kind in "fiu":
            numeric = values
        else:
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna().to_numpy() & ~pd.isna(values.to_numpy())
            if bad.any():
                row = int(bad.argmax())
                return _raise(_bad(spec, row, values.iloc[row]))
        if kind == "f":
            return numeric.astype(want)
        arr = numeric.to_numpy(dtype="float64", na_value=np.nan)
        nan = np.isnan(arr)
        if nan.any():
            row = int(nan.argmax())
            raise InvalidInput(
                f"column {spec.name!r} row {row}: a missing value (NaN), which an {spec.dtype} "
                "column cannot hold. Fill it in, or drop the row."
            )
        info = np.iinfo(want)
        lossy = (arr != np.round(arr)) | (arr < info.min) | (arr > info.max)
        # a float rounds 2**63 and 2**63 - 1 alike: values at the edges are checked as
        # whole numbers, so one just out of range is refused instead of wrapping around
        edge = ~lossy & ((arr >= float(info.max)) | (arr <= float(info.min)))
        for at in np.flatnonzero(edge).tolist():
            if not info.min <= _whole(values.iloc[at]) <= info.max:
                lossy[at] = True
        if lossy.any():
            row = int(lossy.argmax())
            return _raise(_bad(spec, row, values.iloc[row], " (it is not a whole number in range)"))
        return numeric.astype(want)
    if kind == "b":
        if values.dtype.kind == "b":
            return values
        ok = values.isin([True, False, 0, 1]).to_numpy()
        if not ok.all():
            row = int((~ok).argmax())
            return _raise(_bad(spec, row, values.iloc[row]))
        return values.astype(bool)
    if kind == "M":
        if values.dtype.kind in "fiub":
            numeric = ~pd.isna(values.to_numpy())
        elif values.dtype.kind == "O":
            numeric = values.map(
                lambda v: isinstance(v, (int, float, np.number)) and v == v
            ).to_numpy(dtype=bool)
        else:
            numeric = np.zeros(len(values), dtype=bool)
        if numeric.any():  # a number is not a date: to_datetime would read it as nanoseconds
            row = int(numeric.argmax())
            return _raise(_bad(spec, row, values.iloc[row], " (a number is not a date)"))
        parsed = pd.to_datetime(values, errors="coerce")
        bad = parsed.isna().to_numpy() & ~pd.isna(values.to_numpy())
        if bad.any():
            row = int(bad.argmax())
            return _raise(_bad(spec, row, values.iloc[row]))
        return parsed
    return values.astype(want)


def _whole(value: Any) -> int:
    """``value`` (a whole number, as a number or as text) as a Python int, exactly."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(float(value))


def _raise(exc: Exception) -> Any:
    raise exc
