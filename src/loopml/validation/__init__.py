"""Data validation: infer expectations from reference data, check new data against them.

A :class:`Suite` is a list of :class:`Check` objects (types, nulls, ranges,
allowed values, uniqueness, columns, row count), each with a severity:
``"error"`` fails the validation, ``"warning"`` is only reported. Suites are
inferred from reference data, written by hand with the ``expect_*`` helpers,
and saved as JSON or YAML to edit and reuse::

    import loopml

    suite = loopml.infer_suite("data:/orders@3")
    suite.save("orders.suite.yaml")
    result = loopml.validate("data:/orders@4", "orders.suite.yaml")
    result.passed, result.failures, result.uri
    result.to_html("report.html")
    result.raise_for_errors()           # ValidationFailed in a pipeline step

Inferred checks and their defaults (see :mod:`loopml.validation._infer`):

==========  ========  ==========================================================
check       severity  inferred as
==========  ========  ==========================================================
columns     error     the reference's columns must be present (extras allowed)
type        error     the same broad type (numeric, string, boolean, temporal...)
between     error     reference [min, max] widened by 10% of its range per side
in_set      error     the reference's values, for text with ≤ 50 distinct values
unique      error     identifier-like columns (``id``, ``*_id``) unique in the reference
not_null    warning   no nulls, or at most twice the reference's null fraction (+1%)
row_count   warning   between 0.5× and 2× the reference's row count
==========  ========  ==========================================================

``between`` and ``in_set`` tolerate 1 in 100,000 non-null rows breaking them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Check": "loopml.validation._suite",
    "CheckResult": "loopml.validation._result",
    "Suite": "loopml.validation._suite",
    "ValidationResult": "loopml.validation._result",
    "expect_column_type": "loopml.validation._suite",
    "expect_column_values_between": "loopml.validation._suite",
    "expect_column_values_in_set": "loopml.validation._suite",
    "expect_column_values_not_null": "loopml.validation._suite",
    "expect_column_values_unique": "loopml.validation._suite",
    "expect_columns": "loopml.validation._suite",
    "expect_row_count_between": "loopml.validation._suite",
    "infer_suite": "loopml.validation._api",
    "validate": "loopml.validation._api",
}

__all__ = [
    "Check",
    "CheckResult",
    "Suite",
    "ValidationResult",
    "expect_column_type",
    "expect_column_values_between",
    "expect_column_values_in_set",
    "expect_column_values_not_null",
    "expect_column_values_unique",
    "expect_columns",
    "expect_row_count_between",
    "infer_suite",
    "validate",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from loopml.validation._api import infer_suite, validate
    from loopml.validation._result import CheckResult, ValidationResult
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
