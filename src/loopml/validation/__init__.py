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

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
