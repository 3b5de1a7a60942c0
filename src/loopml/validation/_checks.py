"""Evaluating a suite's checks on an Arrow table, one vectorised pass per check.

Everything runs in pyarrow.compute kernels over whole columns: comparisons
for ranges, one hash pass (``value_counts``) for sets and uniqueness. Only the
few sample values of a failing check are turned into Python objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput
from loopml.validation._frames import column_type, json_scalar, nan_count, plain_column
from loopml.validation._result import CheckResult, CheckStatus
from loopml.validation._suite import Check, Suite

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["SAMPLES", "run_checks"]

#: How many offending values (and row positions) a failed check keeps.
SAMPLES = 5
_FIRST = ("columns", "row_count", "type")


def run_checks(table: pa.Table, suite: Suite) -> list[CheckResult]:
    """Evaluate every check of ``suite`` on ``table``, in the suite's order.

    A check on a column the table lacks is skipped when a ``columns`` check
    expects that column (that check reports it); otherwise the suite does not
    fit the data and :class:`InvalidInput` is raised.
    """
    present = set(table.column_names)
    expected = {c for ch in suite.checks if ch.kind == "columns" for c in ch.params["columns"]}
    unknown = [c for c in suite.columns if c not in present and c not in expected]
    if unknown:
        raise InvalidInput(
            f"the suite checks column(s) {', '.join(map(repr, unknown))}, which the data does "
            f"not have (it has {', '.join(table.column_names) or 'no columns'}). Fix the "
            "column names in the suite, or add an expect_columns check if they are required."
        )
    results: dict[int, CheckResult] = {}
    bad_type: set[str] = set()
    order = sorted(range(len(suite.checks)), key=lambda i: suite.checks[i].kind not in _FIRST)
    columns: dict[str, pa.ChunkedArray] = {}
    for i in order:
        check = suite.checks[i]
        col = check.column
        if col is not None and col not in present:
            results[i] = CheckResult(
                check,
                CheckStatus.SKIPPED,
                message=f"column {col!r} is missing (see the columns check)",
            )
            continue
        if col is not None and col in bad_type and check.kind != "type":
            results[i] = CheckResult(
                check,
                CheckStatus.SKIPPED,
                message=f"column {col!r} has the wrong type (see its type check)",
            )
            continue
        if col is not None and col not in columns:
            columns[col] = plain_column(table.column(col))
        result = _EVALUATORS[check.kind](check, table, columns.get(col) if col else None)
        if check.kind == "type" and result.failed and col is not None:
            bad_type.add(col)
        results[i] = result
    return [results[i] for i in range(len(suite.checks))]


def _columns(check: Check, table: pa.Table, _col: Any) -> CheckResult:
    expected = list(check.params["columns"])
    names = table.column_names
    present = set(names)
    missing = [c for c in expected if c not in present]
    extra = [] if check.params.get("allow_extra", True) else [c for c in names if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected {', '.join(extra)}")
    bad = missing + extra
    return CheckResult(
        check,
        CheckStatus.FAILED if bad else CheckStatus.PASSED,
        failed_count=len(bad),
        sample_values=bad[:SAMPLES],
        message="; ".join(parts) if bad else f"all {len(expected)} expected columns present",
        observed={"missing": missing, "unexpected": extra},
    )


def _row_count(check: Check, table: pa.Table, _col: Any) -> CheckResult:
    n = table.num_rows
    lo, hi = check.params.get("min"), check.params.get("max")
    ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    return CheckResult(
        check,
        CheckStatus.PASSED if ok else CheckStatus.FAILED,
        failed_count=0 if ok else 1,
        sample_values=[] if ok else [n],
        message=f"{n:,} rows" + ("" if ok else f", expected {check.describe()}"),
        observed={"n_rows": n},
    )


def _type(check: Check, table: pa.Table, col: pa.ChunkedArray) -> CheckResult:
    raw = table.column(check.column).type
    got = column_type(raw)
    want = check.params["type"]
    ok = got == want
    return CheckResult(
        check,
        CheckStatus.PASSED if ok else CheckStatus.FAILED,
        failed_count=0 if ok else len(col),
        sample_values=[] if ok else [str(raw)],
        message=f"{got} ({raw})" if ok else f"expected {want}, got {got} ({raw})",
        observed={"type": got, "arrow_type": str(raw)},
    )


def _not_null(check: Check, table: pa.Table, col: pa.ChunkedArray) -> CheckResult:
    import pyarrow.compute as pc

    count = col.null_count + nan_count(col)
    n = len(col)
    frac = count / n if n else 0.0
    allowed = float(check.params.get("max_fraction", 0.0))
    ok = frac <= allowed
    rows = [] if ok else _first_rows(pc.is_null(col, nan_is_null=True))
    return CheckResult(
        check,
        CheckStatus.PASSED if ok else CheckStatus.FAILED,
        failed_count=count,
        sample_rows=rows,
        message=f"{count:,} null(s) of {n:,} rows ({frac:.4%}), allowed {allowed:.4%}",
        observed={"null_count": count, "null_fraction": frac},
    )


def _between(check: Check, table: pa.Table, col: pa.ChunkedArray) -> CheckResult:
    import pyarrow.compute as pc

    if column_type(col.type) != "numeric":
        return _not_comparable(check, col, "numbers")
    lo, hi = check.params.get("min"), check.params.get("max")
    stats = pc.min_max(col)
    seen_min, seen_max = (
        json_scalar(stats["min"].as_py()),
        json_scalar(stats["max"].as_py()),
    )
    observed = {"min": seen_min, "max": seen_max}
    below = lo is not None and seen_min is not None and seen_min < lo
    above = hi is not None and seen_max is not None and seen_max > hi
    if not (below or above):
        return CheckResult(
            check,
            CheckStatus.PASSED,
            message=f"observed [{seen_min}, {seen_max}]",
            observed=observed,
        )
    masks = []
    if below:
        masks.append(pc.less(col, lo))
    if above:
        masks.append(pc.greater(col, hi))
    mask = masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])
    mask = pc.fill_null(mask, False)
    count = int(pc.sum(mask).as_py() or 0)
    valid = len(col) - col.null_count - nan_count(col)
    return _tolerate(
        check,
        count,
        valid,
        pc.filter(col, mask),
        mask,
        f"{count:,} value(s) outside [{lo}, {hi}] (observed min {seen_min}, max {seen_max})",
        observed,
    )


def _in_set(check: Check, table: pa.Table, col: pa.ChunkedArray) -> CheckResult:
    import pyarrow as pa
    import pyarrow.compute as pc

    counts = pc.value_counts(col)
    values = counts.field("values")
    numbers = counts.field("counts")
    allowed = _value_set(check.params["values"], values.type)
    if allowed is None:
        return _not_comparable(check, col, f"values like {check.params['values'][:3]!r}")
    outside = pc.and_(pc.invert(pc.is_in(values, value_set=allowed)), pc.is_valid(values))
    outside = pc.fill_null(outside, False)
    if pa.types.is_floating(values.type):
        outside = pc.and_(outside, pc.invert(pc.fill_null(pc.is_nan(values), False)))
    unseen = pc.filter(values, outside)
    unseen_counts = pc.filter(numbers, outside)
    count = int(pc.sum(unseen_counts).as_py() or 0)
    valid = len(col) - col.null_count - nan_count(col)
    top = pc.take(unseen, pc.sort_indices(unseen_counts, sort_keys=[("x", "descending")]))
    samples = [json_scalar(v) for v in top.slice(0, SAMPLES).to_pylist()]
    mask = None
    if count:
        mask = pc.fill_null(pc.is_in(col, value_set=unseen), False)
    message = (
        f"{count:,} value(s) not in the allowed set ({len(unseen):,} unseen value(s): "
        f"{', '.join(map(str, samples))}{', …' if len(unseen) > SAMPLES else ''})"
        if count
        else f"all values in the allowed set of {len(check.params['values'])}"
    )
    result = _tolerate(check, count, valid, None, mask, message, {"unseen": len(unseen)})
    result.sample_values = samples
    return result


def _unique(check: Check, table: pa.Table, col: pa.ChunkedArray) -> CheckResult:
    import pyarrow.compute as pc

    counts = pc.value_counts(col.drop_null())
    numbers = counts.field("counts")
    dup = pc.greater(numbers, 1)
    repeated = int(pc.sum(pc.subtract(pc.filter(numbers, dup), 1)).as_py() or 0)
    if not repeated:
        return CheckResult(check, CheckStatus.PASSED, message="all values unique")
    values = pc.filter(counts.field("values"), dup)
    dup_counts = pc.filter(numbers, dup)
    top = pc.take(values, pc.sort_indices(dup_counts, sort_keys=[("x", "descending")]))
    return CheckResult(
        check,
        CheckStatus.FAILED,
        failed_count=repeated,
        sample_values=[json_scalar(v) for v in top.slice(0, SAMPLES).to_pylist()],
        message=f"{repeated:,} row(s) repeat an earlier value ({len(values):,} repeated value(s))",
        observed={"repeated_values": len(values)},
    )


def _tolerate(
    check: Check,
    count: int,
    valid: int,
    failing: pa.ChunkedArray | None,
    mask: pa.ChunkedArray | None,
    message: str,
    observed: dict[str, Any],
) -> CheckResult:
    """Pass while ``count`` stays within ``max_fraction`` of the ``valid`` rows; else fail."""
    import pyarrow.compute as pc

    allowed = float(check.params.get("max_fraction", 0.0)) * valid
    if count <= allowed:
        tail = (
            f"; within the allowed {check.params.get('max_fraction', 0.0):g} of rows"
            if count
            else ""
        )
        return CheckResult(
            check, CheckStatus.PASSED, failed_count=count, message=message + tail, observed=observed
        )
    samples: list[Any] = []
    if failing is not None:
        head = failing.slice(0, 1000)
        samples = [json_scalar(v) for v in pc.unique(head).slice(0, SAMPLES).to_pylist()]
    rows = _first_rows(mask) if mask is not None else []
    return CheckResult(
        check,
        CheckStatus.FAILED,
        failed_count=count,
        sample_values=samples,
        sample_rows=rows,
        message=message,
        observed=observed,
    )


def _not_comparable(check: Check, col: pa.ChunkedArray, wanted: str) -> CheckResult:
    got = column_type(col.type)
    return CheckResult(
        check,
        CheckStatus.FAILED,
        failed_count=len(col),
        sample_values=[str(col.type)],
        message=f"cannot compare a {got} column ({col.type}) with {wanted}",
        observed={"type": got},
    )


def _value_set(values: list[Any], typ: pa.DataType) -> pa.Array | None:
    """``values`` as an Arrow array of ``typ``; None when they cannot be converted."""
    import pyarrow as pa

    try:
        return pa.array(values, type=typ)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    try:
        return pa.array(values).cast(typ)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _first_rows(mask: pa.ChunkedArray) -> list[int]:
    """The first few row positions where ``mask`` is true."""
    import pyarrow.compute as pc

    positions: list[int] = []
    offset = 0
    for chunk in mask.chunks:
        if len(positions) >= SAMPLES:
            break
        idx = pc.indices_nonzero(chunk).slice(0, SAMPLES - len(positions))
        positions.extend(offset + int(i) for i in idx.to_pylist())
        offset += len(chunk)
    return positions


_EVALUATORS = {
    "columns": _columns,
    "row_count": _row_count,
    "type": _type,
    "not_null": _not_null,
    "between": _between,
    "in_set": _in_set,
    "unique": _unique,
}
