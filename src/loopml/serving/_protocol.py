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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from loopml._validate import shown

__all__ = [
    "BadRequest",
    "Rows",
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
    ignored: set[str] = set()
    if names is None:
        names = list(dict.fromkeys(k for rec in records for k in rec))
    else:
        width = len(names)
        for i, rec in enumerate(records):
            if len(rec) != width or any(n not in rec for n in names):
                missing = [n for n in names if n not in rec]
                if missing:
                    raise BadRequest(
                        422,
                        f"records[{i}] has no {missing[0]!r}: the model takes {', '.join(names)}.",
                        ["records", i, missing[0]],
                    )
                ignored.update(k for k in rec if k not in names)
    columns = {n: [rec.get(n) for rec in records] for n in names}
    return Rows(columns, len(records), sorted(ignored))


def _columns_data(columns: Any, data: Any, names: list[str] | None) -> Rows:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadRequest(
            422, f"columns must be a list of column names, got {shown(columns)}.", ["columns"]
        )
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise BadRequest(422, f"columns names {twice[0]!r} more than once.", ["columns"])
    data = _nonempty_list(data, "data", "rows (lists of values, one per column)")
    width = len(columns)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise BadRequest(
                422,
                f"data[{i}] must be a list of {width} values (one per column), got {shown(row)}.",
                ["data", i],
            )
    if names is not None:
        missing = [n for n in names if n not in columns]
        if missing:
            raise BadRequest(
                422,
                f"columns has no {missing[0]!r}: the model takes {', '.join(names)}.",
                ["columns"],
            )
        wanted = names
    else:
        wanted = columns
    position = {c: j for j, c in enumerate(columns)}
    out = {n: [row[position[n]] for row in data] for n in wanted}
    ignored = [c for c in columns if names is not None and c not in names]
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
        data = _flat(tensor.get("data"), where)
        size = math.prod(shape)
        if size != len(data):
            raise BadRequest(
                400,
                f"{where} has {len(data)} values for shape {shape} ({size} values).",
                [where, "data"],
            )
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1 and len(inputs) > 1):
            raise BadRequest(
                400,
                f"{where} has shape {shape}: send one tensor per column (shape [N] or [N, 1]), "
                "or one tensor of shape [N, columns].",
                [where, "shape"],
            )
        if datatype == "BYTES" and not all(isinstance(v, str) or v is None for v in data):
            raise BadRequest(400, f"{where} is BYTES: its data must be text.", [where, "data"])
        if datatype in _NUMERIC and any(isinstance(v, str) for v in data):
            raise BadRequest(
                400,
                f"{where} is {datatype}: its data must be numbers, got text.",
                [where, "data"],
            )
        tensors.append((name, shape, data))
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] != 1:
        name, (n, k), data = tensors[0]
        if names is None:
            names = [f"x{j}" for j in range(k)]
        if k != len(names):
            raise BadRequest(
                400,
                f"inputs[0] has {k} columns; the model takes {len(names)} ({', '.join(names)}).",
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
            f"inputs has no tensor {missing[0]!r}: the model takes {', '.join(names)} (one "
            "tensor each, or one tensor of shape [N, columns]).",
            ["inputs"],
        )
    return Rows({c: given[c] for c in names}, n, sorted(set(given) - set(names)))


# -- frames and answers --------------------------------------------------------------------


def frame_of(rows: Rows, float_block: bool) -> Any:
    """The pandas frame of ``rows``. ``float_block``: every column of the signature is a
    float, so one NumPy array (the usual case of a numeric model) is built at once."""
    import numpy as np
    import pandas as pd

    names = list(rows.columns)
    if float_block:
        try:
            block = np.array([rows.columns[c] for c in names], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            pass  # text, nested values...: the signature check below says which
        else:
            return pd.DataFrame(block.T, columns=names, copy=False)
    return pd.DataFrame(rows.columns, columns=names)


def located(message: str) -> list[Any]:
    """Where a signature error points (``["age", 3]`` for ``column 'age' row 3: ...``)."""
    m = _SIGNATURE_ERROR.match(message)
    return [m.group("col"), int(m.group("row"))] if m else []


def to_jsonable(values: Any) -> Any:
    """A model's output as JSON values: a list (one item per row), or a list of row objects
    for a frame."""
    kind = type(values).__name__
    if kind == "DataFrame":
        return values.to_dict(orient="records")
    if kind == "Series":
        values = values.to_numpy()
    tolist = getattr(values, "tolist", None)
    if tolist is not None:
        return tolist()
    return list(values)


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
