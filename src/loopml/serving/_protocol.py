"""What a request holds and what a response says, for both protocols.

A request's rows are parsed into :class:`Rows`: the columns the model's signature
names (values as JSON gave them, column by column), how many rows, and the
columns that were given and not used. :func:`frame_of` builds the pandas frame
the model's signature then checks. Every shape error is a :class:`BadRequest`
naming where it is (``records[3]``, ``inputs[1].data``), so nothing malformed
reaches the model.

JSON (v1)::

    {"records": [{"age": 41, "plan": "pro"}, ...]}
    {"columns": ["age", "plan"], "data": [[41, "pro"], ...]}

Open Inference Protocol v2: ``inputs`` holds one tensor per column (shape
``[N]`` or ``[N, 1]``), or one tensor of shape ``[N, k]`` whose columns are the
signature's in order; ``data`` is flat (row-major) or nested as the shape.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from loopml._validate import shown

__all__ = [
    "BadOutput",
    "BadRequest",
    "Rows",
    "float_block",
    "frame_of",
    "oip_datatype",
    "parse_body",
    "rows_from_json",
    "rows_from_oip",
    "to_jsonable",
]

_SIGNATURE_ERROR = re.compile(r"^column '(?P<col>.+?)' row (?P<row>\d+):")
_NUMERIC = {
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
}
_DATATYPES = _NUMERIC | {"BYTES"}
#: The most columns a request may hold for a model without a signature (one with a
#: signature takes its own columns and ignores the rest), and the most values (columns ×
#: rows) its sparse records may spread over: a body of a few kilobytes naming a new
#: column in each record must not become a frame of millions of cells.
MAX_COLUMNS = 4096
MAX_CELLS = 2**23


class BadRequest(Exception):
    """A request the server refuses: ``status`` (4xx), ``message`` (what was wrong and
    what is expected) and ``loc`` (where: ``["records", 3, "age"]``)."""

    def __init__(self, status: int, message: str, loc: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.loc = list(loc)


@dataclass
class Rows:
    """A request's data, column by column: ``columns`` maps each column to its values,
    ``n`` counts the rows, ``ignored`` lists columns given that the model does not take."""

    columns: dict[str, list[Any]]
    n: int
    ignored: list[str] = field(default_factory=list)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a mapping of column to value (what the prediction log keeps)."""
        return {name: values[i] for name, values in self.columns.items()}


def _listed(names: list[str], most: int = 8) -> str:
    """``names`` for a message: all of them, or the first few and how many there are."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])}, … ({len(names)} columns: GET the deployment for all)"


def parse_body(body: bytes) -> Any:
    """The JSON document ``body`` holds; BadRequest 400 naming the error's position."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            400, f"the body is not valid JSON ({exc}): send a JSON object.", ["body"]
        ) from None


def _object(payload: Any, example: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest(
            422,
            f"the body must be a JSON object, got {type(payload).__name__} "
            f"{shown(payload)}: e.g. {example}.",
            ["body"],
        )
    return payload


_V1_EXAMPLE = '{"records": [{"age": 41}]} or {"columns": ["age"], "data": [[41]]}'


def rows_from_json(payload: Any, names: list[str] | None) -> Rows:
    """The rows of a v1 request: ``records`` or ``columns`` + ``data``. ``names`` are the
    signature's columns (None: the model has no signature; every column is kept)."""
    body = _object(payload, _V1_EXAMPLE)
    if "records" in body:
        return _records(body["records"], names)
    if "columns" in body or "data" in body:
        return _columns_data(body.get("columns"), body.get("data"), names)
    raise BadRequest(
        422,
        f"the body has neither 'records' nor 'columns' and 'data' (keys: "
        f"{shown(sorted(body)[:10])}): send {_V1_EXAMPLE}.",
        ["body"],
    )


def _nonempty_list(value: Any, where: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(422, f"{where} must be a list of {what}, got {shown(value)}.", [where])
    if not value:
        raise BadRequest(422, f"{where} is empty: send at least one row.", [where])
    return value


def _records(records: Any, names: list[str] | None) -> Rows:
    records = _nonempty_list(records, "records", "objects (one per row)")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise BadRequest(
                422,
                f"records[{i}] must be an object of column: value, got {shown(rec)}.",
                ["records", i],
            )
    if names is None:
        return _unsigned_records(records)
    ignored: set[str] = set()
    width = len(names)
    wanted = set(names)
    for i, rec in enumerate(records):
        if len(rec) != width or any(n not in rec for n in names):
            missing = [n for n in names if n not in rec]
            if missing:
                raise BadRequest(
                    422,
                    f"records[{i}] has no {missing[0]!r}: the model takes {', '.join(names)}.",
                    ["records", i, missing[0]],
                )
            ignored.update(k for k in rec if k not in wanted)
    columns = {n: [rec[n] for rec in records] for n in names}
    return Rows(columns, len(records), sorted(ignored))


def _unsigned_records(records: list[dict[str, Any]]) -> Rows:
    """The rows of records for a model without a signature: every column any record names
    (None where a record lacks it), built in one pass over the records."""
    n = len(records)
    columns: dict[str, list[Any]] = {}
    for i, rec in enumerate(records):
        for key, value in rec.items():
            values = columns.get(key)
            if values is None:
                _room_for_column(len(columns) + 1, ["records", i, key], n)
                values = columns[key] = [None] * n
            values[i] = value
    if not columns:
        raise BadRequest(
            422,
            "the records name no column: send at least one column: value in each record.",
            ["records"],
        )
    return Rows(columns, n)


def _room_for_column(count: int, loc: list[Any], rows: int = 1, status: int = 422) -> None:
    """BadRequest when ``count`` columns (of sparse records over ``rows`` rows) are more than
    a model without a signature takes."""
    if count > MAX_COLUMNS or count * rows > MAX_CELLS:
        raise BadRequest(
            status,
            f"the request names {count} columns"
            + (f" over {rows} records" if rows > 1 else "")
            + f"; a model without a signature takes at most {MAX_COLUMNS} columns, and "
            f"{MAX_CELLS} values (columns × records) in sparse records: send fewer columns, "
            "or fewer records per request.",
            loc,
        )


def _columns_data(columns: Any, data: Any, names: list[str] | None) -> Rows:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadRequest(
            422, f"columns must be a list of column names, got {shown(columns)}.", ["columns"]
        )
    if len(set(columns)) != len(columns):
        twice = sorted(c for c, times in Counter(columns).items() if times > 1)
        raise BadRequest(422, f"columns names {twice[0]!r} more than once.", ["columns"])
    if not columns:
        raise BadRequest(422, "columns is empty: name at least one column.", ["columns"])
    data = _nonempty_list(data, "data", "rows (lists of values, one per column)")
    width = len(columns)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise BadRequest(
                422,
                f"data[{i}] must be a list of {width} values (one per column), got {shown(row)}.",
                ["data", i],
            )
    if names is None:
        _room_for_column(width, ["columns"])
        wanted = columns
    else:
        given = set(columns)
        missing = [n for n in names if n not in given]
        if missing:
            raise BadRequest(
                422,
                f"columns has no {missing[0]!r}: the model takes {_listed(names)}.",
                ["columns"],
            )
        wanted = names
    position = {c: j for j, c in enumerate(columns)}
    out = {n: [row[position[n]] for row in data] for n in wanted}
    known = set(wanted)
    ignored = [c for c in columns if c not in known]
    return Rows(out, len(data), ignored)


# -- the Open Inference Protocol v2 --------------------------------------------------------


def _flat(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise BadRequest(400, f"{where}.data must be a list, got {shown(data)}.", [where, "data"])
    if any(isinstance(item, list) for item in data):
        return _flatten_in_order(data)
    return data


def _flatten_in_order(data: list[Any]) -> list[Any]:
    out: list[Any] = []

    def walk(items: list[Any], depth: int) -> None:
        if depth > 32:
            raise BadRequest(400, "tensor data nests deeper than 32 levels.", ["inputs"])
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                out.append(item)

    walk(data, 0)
    return out


def _shape(value: Any, where: str) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)
    ):
        raise BadRequest(
            400,
            f"{where}.shape must be a list of non-negative whole numbers, got {shown(value)}.",
            [where, "shape"],
        )
    return value


def rows_from_oip(payload: Any, names: list[str] | None) -> Rows:
    """The rows of an OIP v2 ``infer`` request: one tensor per column, or one 2-D tensor
    with the signature's columns in order."""
    body = _object(
        payload, '{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [41]}]}'
    )
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest(
            400, f"inputs must be a non-empty list of tensors, got {shown(inputs)}.", ["inputs"]
        )
    tensors: list[tuple[str, list[int], list[Any]]] = []
    named: set[str] = set()
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            raise BadRequest(400, f"{where} must be a tensor object, got {shown(tensor)}.", [where])
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(400, f"{where}.name must be text, got {shown(name)}.", [where, "name"])
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in _DATATYPES:
            raise BadRequest(
                400,
                f"{where}.datatype must be one of {', '.join(sorted(_DATATYPES))}, got "
                f"{shown(datatype)}.",
                [where, "datatype"],
            )
        shape = _shape(tensor.get("shape"), where)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1 and len(inputs) > 1):
            raise BadRequest(  # before the product: a shape of a million dims is refused here
                400,
                f"{where} has shape {shown(shape)}: send one tensor per column (shape [N] or "
                "[N, 1]), or one tensor of shape [N, columns].",
                [where, "shape"],
            )
        data = _flat(tensor.get("data"), where)
        size = math.prod(shape)
        if size != len(data):
            raise BadRequest(
                400,
                f"{where} has {len(data)} values for shape {shape} ({size} values).",
                [where, "data"],
            )
        if datatype == "BYTES" and not all(isinstance(v, str) or v is None for v in data):
            raise BadRequest(400, f"{where} is BYTES: its data must be text.", [where, "data"])
        if datatype in _NUMERIC and any(isinstance(v, str) for v in data):
            raise BadRequest(
                400,
                f"{where} is {datatype}: its data must be numbers, got text.",
                [where, "data"],
            )
        if name in named:
            raise BadRequest(
                400,
                f"{where} is named {name!r} like an earlier tensor: send each column once.",
                [where, "name"],
            )
        named.add(name)
        tensors.append((name, shape, data))
    if names is None:
        _room_for_column(len(tensors), ["inputs"], status=400)
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] != 1:
        name, (n, k), data = tensors[0]
        if n == 0:
            raise BadRequest(400, "inputs[0] holds no rows (its shape is [0, ...]).", ["inputs"])
        if names is None:
            _room_for_column(k, ["inputs", 0, "shape"], status=400)
            names = [f"x{j}" for j in range(k)]
        if k != len(names):
            raise BadRequest(
                400,
                f"inputs[0] has {k} columns; the model takes {len(names)} ({_listed(names)}).",
                ["inputs", 0, "shape"],
            )
        columns = {c: data[j::k] for j, c in enumerate(names)}
        return Rows(columns, n)
    given = {name: data for name, _shape_, data in tensors}
    counts = {len(data) for data in given.values()}
    if len(counts) != 1:
        raise BadRequest(
            400, f"the input tensors hold different numbers of rows: {sorted(counts)}.", ["inputs"]
        )
    n = counts.pop()
    if n == 0:
        raise BadRequest(400, "the input tensors hold no rows.", ["inputs"])
    if names is None:
        return Rows(given, n)
    missing = [c for c in names if c not in given]
    if missing:
        raise BadRequest(
            400,
            f"inputs has no tensor {missing[0]!r}: the model takes {_listed(names)} (one "
            "tensor each, or one tensor of shape [N, columns]).",
            ["inputs"],
        )
    return Rows({c: given[c] for c in names}, n, sorted(set(given) - set(names)))


# -- frames and answers --------------------------------------------------------------------


def float_block(rows: Rows) -> Any:
    """``rows`` as one 2-D float64 NumPy array (rows × columns, in the order of
    ``rows.columns``), or None when a value is not a number (text, a nested value...: the
    signature check of the frame then says which)."""
    import numpy as np

    try:
        return np.array(list(rows.columns.values()), dtype=np.float64).T
    except (TypeError, ValueError, OverflowError):
        return None


def frame_of(rows: Rows, floats: bool, columns: Any = None) -> Any:
    """The pandas frame of ``rows``. ``floats``: every column of the signature is a
    float, so one NumPy array (the usual case of a numeric model) is built at once.
    ``columns``: the pandas Index of the signature's names, built once per deployment
    (building it costs more than the rest of a one-row frame); rows parsed with those
    names, as :func:`rows_from_json` and :func:`rows_from_oip` give them, hold exactly
    those columns in that order."""
    import pandas as pd

    names = list(rows.columns)
    if columns is None or len(columns) != len(names):
        columns = names
    if floats:
        block = float_block(rows)
        if block is not None:
            return pd.DataFrame(block, columns=columns, copy=False)
    return pd.DataFrame(rows.columns, columns=columns)


def located(message: str) -> list[Any]:
    """Where a signature error points (``["age", 3]`` for ``column 'age' row 3: ...``)."""
    m = _SIGNATURE_ERROR.match(message)
    return [m.group("col"), int(m.group("row"))] if m else []


class BadOutput(Exception):
    """A model's answer the server cannot send: not one value per row, not JSON, or a
    value that is not a finite number where a number is expected (NaN, infinity)."""


_JSON_DEPTH = 64


def to_jsonable(values: Any, rows: int, what: str = "predictions") -> list[Any]:
    """A model's output as a list of ``rows`` JSON values (one per row; a row object per
    row of a frame); :class:`BadOutput` for anything else: another number of values, a
    NaN or infinity, a value JSON has no form for (a Decimal, an object, a complex number,
    an integer beyond 64 bits), so a 200 never carries a null for a number or a shifted
    row."""
    import numpy as np

    kind = type(values).__name__
    if kind == "DataFrame":
        out = values.set_axis([str(c) for c in values.columns], axis=1).to_dict(orient="records")
        _check_values(out, what)
    else:
        if kind == "Series":
            values = values.to_numpy()
        if isinstance(values, np.ndarray):
            out = _array_values(values, what)
        elif isinstance(values, (list, tuple)):
            out = list(values)
            _check_values(out, what)
        else:
            raise BadOutput(
                f"the model returned {type(values).__name__} {shown(values)} as its {what}: "
                f"expected an array or list of {rows} values (one per row)."
            )
    if len(out) != rows:
        raise BadOutput(
            f"the model returned {len(out)} {what} for {rows} rows: expected one per row."
        )
    return out


def _array_values(values: Any, what: str) -> list[Any]:
    import numpy as np

    if values.ndim == 0:
        raise BadOutput(
            f"the model returned one value ({shown(values.item())}) as its {what}: expected "
            "one per row."
        )
    kind = values.dtype.kind
    if kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            at = np.unravel_index(int(bad.argmax()), values.shape)
            raise BadOutput(
                f"the model's {what} for row {int(at[0])} hold {float(values[at])!r}, not a "
                "finite number."
            )
        return list(values.tolist())
    if kind in "iub":
        return list(values.tolist())
    if kind == "M":  # dates as ISO 8601 text, not the integers tolist() gives for [ns]
        return list(np.datetime_as_string(values).tolist())
    out = list(values.tolist())
    _check_values(out, what)
    return out


def _check_values(values: list[Any], what: str) -> None:
    """BadOutput for a value of ``values`` that is not finite or has no JSON form."""
    for row, value in enumerate(values):
        problem = _json_problem(value, 0)
        if problem:
            raise BadOutput(f"the model's {what} for row {row} hold {problem}.")


def _json_problem(value: Any, depth: int) -> str:
    """What keeps ``value`` from being sent as JSON ('' when nothing does)."""
    if value is None or isinstance(value, (str, bool)):
        return ""
    if isinstance(value, int):
        return "" if -(2**63) <= value < 2**64 else f"{shown(value)}, an integer beyond 64 bits"
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"{value!r}, not a finite number"
    if depth >= _JSON_DEPTH:
        return f"values nested deeper than {_JSON_DEPTH} levels"
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return ""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"an object whose key {shown(key)} is not text"
            problem = _json_problem(item, depth + 1)
            if problem:
                return problem
        return ""
    plain = getattr(value, "item", None)  # a NumPy scalar: its Python value
    if plain is not None and type(value).__module__ == "numpy":
        return _json_problem(plain(), depth + 1)
    import datetime

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return ""
    return f"{shown(value)}, a {type(value).__name__} JSON has no form for"


def oip_datatype(values: Any) -> str:
    """The OIP datatype of a NumPy array (BYTES for text and anything else)."""
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        return "BYTES"
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind == "f":
        return {2: "FP16", 4: "FP32"}.get(size, "FP64")
    if kind == "i":
        return f"INT{8 * size}"
    if kind == "u":
        return f"UINT{8 * size}"
    return "BYTES"
