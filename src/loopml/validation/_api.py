"""The two entry points: infer a suite from reference data, and validate data against one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loopml.data import as_arrow_table
from loopml.errors import InvalidInput
from loopml.validation._frames import is_data_uri
from loopml.validation._result import ValidationResult
from loopml.validation._suite import Suite

__all__ = ["infer_suite", "validate"]


def infer_suite(frame_or_uri: Any, *, name: str | None = None) -> Suite:
    """A suite of checks inferred from reference data: a frame, Arrow table or ``data:/`` URI.

    Per column: its type, its nulls, a range for numbers, the allowed values of
    low-cardinality text, uniqueness for identifier-like columns; for the
    table: the expected columns and a row-count range. The margins and
    severities are listed in :mod:`loopml.validation`.

    Example::

        suite = loopml.infer_suite("data:/orders@3")
        suite.save("orders.suite.yaml")     # edit it, keep it with the code
    """
    from loopml.validation._infer import infer_from_table

    table, source = as_arrow_table(frame_or_uri)
    return infer_from_table(table, name=name if name is not None else source)


def validate(
    frame_or_uri: Any,
    suite: Suite | str | Path | None = None,
    *,
    reference: Any = None,
    store: bool | None = None,
) -> ValidationResult:
    """Check data against a suite; report every failed check with counts and sample values.

    ``suite`` is a :class:`Suite` or the path of a saved one; without it,
    ``reference`` (a frame, Arrow table or ``data:/`` URI) is used to infer
    one. A ``data:/`` URI's result is stored and linked in lineage
    (``data:/ds@N → validation:/<id>``, relation ``validated``) and its URI
    set on ``result.uri``; ``store`` overrides that (``False``: never store,
    ``True``: store a frame's result too).

    The result does not raise by itself; call ``.raise_for_errors()`` to
    stop a pipeline on a failure::

        loopml.validate(frame, suite).raise_for_errors()
    """
    from loopml.validation._checks import run_checks

    if suite is None and reference is None:
        raise InvalidInput(
            "validate() needs a suite or a reference to infer one from: pass "
            "suite=Suite.load('suite.json') or reference='data:/name@N' (or a frame)."
        )
    if suite is not None and reference is not None:
        raise InvalidInput("pass either suite= or reference=, not both.")
    the_suite = _as_suite(suite) if suite is not None else None
    if the_suite is None:
        from loopml.validation._infer import infer_from_table

        ref_table, ref_source = as_arrow_table(reference)
        the_suite = infer_from_table(ref_table, name=ref_source)
    table, source = as_arrow_table(frame_or_uri)
    result = ValidationResult(
        results=run_checks(table, the_suite),
        n_rows=table.num_rows,
        suite_name=the_suite.name,
        source=source,
        created_at=time.time(),
    )
    if store if store is not None else is_data_uri(frame_or_uri):
        from loopml.validation._store import store_result

        store_result(result)
    return result


def _as_suite(suite: Any) -> Suite:
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, (str, Path)):
        return Suite.load(suite)
    raise InvalidInput(
        f"expected a Suite or the path of a saved suite, got {type(suite).__name__}."
    )
