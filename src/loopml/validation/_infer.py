"""Inferring a suite of checks from a reference table.

What is inferred, per column of the reference:

- ``type`` (error): its broad type (numeric, string, boolean, temporal, ...).
- ``not_null`` (warning): no nulls if the reference has none; otherwise at
  most ``max(2 × the reference's null fraction, that fraction + 1%)``.
- ``between`` (error), numeric columns: the reference's ``[min, max]``
  widened on each side by :data:`RANGE_MARGIN` (10%) of the reference range
  (10% of ``|value|`` for a constant column); a lower bound never goes below
  zero when the reference has no negative values. A sample drawn from the
  same distribution can land a little beyond the reference's extremes,
  which the margin absorbs.
- ``in_set`` (error), string columns with few distinct values: at most
  :data:`MAX_CATEGORIES` (50), or at most :data:`MAX_CATEGORIES_WIDE` (1,000)
  when that is no more than 5% of the rows.
- ``unique`` (error): a column whose name looks like an identifier (``id``,
  ``user_id``, ``orderKey``, ``uuid``...) and whose reference values are all
  present and distinct. Identifier columns get no range or set check, since
  new data brings new identifiers.

``between`` and ``in_set`` allow :data:`ROW_TOLERANCE` (1 in 100,000) of the
non-null rows to break them before they fail: a heavy-tailed column or a very
rare category can otherwise flag a clean sample by chance. Below 100,000 rows
this allows nothing.

Table level: ``columns`` (error) with the reference's columns (extra columns
allowed), and ``row_count`` (warning) between half and twice the reference's
row count.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from loopml.validation._frames import column_type, json_scalar, nan_count, plain_column
from loopml.validation._suite import (
    Check,
    Suite,
    expect_column_type,
    expect_column_values_between,
    expect_column_values_in_set,
    expect_column_values_not_null,
    expect_column_values_unique,
    expect_columns,
    expect_row_count_between,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "MAX_CATEGORIES",
    "MAX_CATEGORIES_WIDE",
    "RANGE_MARGIN",
    "ROWS_HIGH",
    "ROWS_LOW",
    "ROW_TOLERANCE",
    "infer_from_table",
]

RANGE_MARGIN = 0.10
ROW_TOLERANCE = 1e-5
MAX_CATEGORIES = 50
MAX_CATEGORIES_WIDE = 1000
CATEGORY_SHARE = 0.05
ROWS_LOW, ROWS_HIGH = 0.5, 2.0
_ID = re.compile(r"(^|[_\-\s.])(id|key|uuid|guid)$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|Uuid)$")


def infer_from_table(table: pa.Table, name: str | None = None) -> Suite:
    """The checks :mod:`this module <loopml.validation._infer>` infers from ``table``."""
    n = table.num_rows
    checks: list[Check] = [
        expect_columns(list(table.column_names)),
        expect_row_count_between(
            math.floor(n * ROWS_LOW), math.ceil(n * ROWS_HIGH), severity="warning"
        ),
    ]
    for col_name in table.column_names:
        checks.extend(_column_checks(col_name, plain_column(table.column(col_name)), n))
    return Suite(checks=checks, name=name)


def _column_checks(name: str, col: pa.ChunkedArray, n: int) -> list[Check]:
    import pyarrow.compute as pc

    kind = column_type(col.type)
    checks = [expect_column_type(name, kind)]
    nulls = col.null_count + nan_count(col)
    frac = nulls / n if n else 0.0
    allowed = 0.0 if nulls == 0 else min(1.0, max(2 * frac, frac + 0.01))
    checks.append(
        expect_column_values_not_null(name, max_fraction=round(allowed, 6), severity="warning")
    )
    valid = n - nulls
    if valid == 0:
        return checks
    if _looks_like_id(name) and kind in ("numeric", "string") and nulls == 0:
        distinct = int(pc.count_distinct(col).as_py())
        if distinct == n:
            checks.append(expect_column_values_unique(name))
            return checks
    if kind == "numeric":
        stats = pc.min_max(col)
        lo, hi = stats["min"].as_py(), stats["max"].as_py()
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            checks.append(_range_check(name, lo, hi))
    elif kind == "string":
        counts = pc.value_counts(col)
        distinct = len(counts) - (1 if col.null_count else 0)
        wide_ok = distinct <= MAX_CATEGORIES_WIDE and distinct <= CATEGORY_SHARE * valid
        if distinct <= MAX_CATEGORIES or wide_ok:
            values = pc.drop_null(counts.field("values"))
            checks.append(
                expect_column_values_in_set(
                    name,
                    sorted(json_scalar(v) for v in values.to_pylist()),
                    max_fraction=ROW_TOLERANCE,
                )
            )
    return checks


def _range_check(name: str, lo: Any, hi: Any) -> Check:
    span = float(hi) - float(lo)
    margin = RANGE_MARGIN * (span if span > 0 else abs(float(hi)))
    low = float(lo) - margin
    if lo >= 0:
        low = max(low, 0.0)
    high = float(hi) + margin
    if isinstance(lo, int) and isinstance(hi, int):
        return expect_column_values_between(
            name, math.floor(low), math.ceil(high), max_fraction=ROW_TOLERANCE
        )
    if margin > 0:
        low, high = _round_out(low, high, margin)
    return expect_column_values_between(name, low, high, max_fraction=ROW_TOLERANCE)


def _round_out(low: float, high: float, margin: float) -> tuple[float, float]:
    """``low`` rounded down and ``high`` up, at a step below a tenth of ``margin``.

    The bounds only ever widen, and a suite file shows ``-3.1`` rather than
    ``-3.0871524396``.
    """
    exponent = math.floor(math.log10(margin)) - 1
    step = 10.0**exponent
    digits = max(0, -exponent)
    return (
        round(math.floor(low / step) * step, digits),
        round(math.ceil(high / step) * step, digits),
    )


def _looks_like_id(name: str) -> bool:
    text = name.strip()
    return bool(_ID.search(text) or _CAMEL_ID.search(text))
