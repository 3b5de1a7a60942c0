"""Checks and suites: what a table is expected to hold, and how it is saved.

A :class:`Check` is one expectation (``kind`` plus its parameters) on one
column, or on the whole table when ``column`` is None. A :class:`Suite` is a
list of checks; it saves to JSON or YAML (chosen by the file's extension) so
it can be read, edited and reused::

    suite = Suite([
        expect_columns(["age", "city"]),
        expect_column_values_between("age", 0, 120),
        expect_column_values_in_set("city", ["Paris", "Lyon"], severity="warning"),
    ])
    suite.save("suite.yaml")
    Suite.load("suite.yaml")

Check kinds and their parameters:

============  ========  =============================================================
kind          column    parameters
============  ========  =============================================================
columns       --        ``columns`` (list), ``allow_extra`` (bool, default true)
row_count     --        ``min``, ``max`` (either may be null)
type          required  ``type``: numeric, string, boolean, temporal, binary or other
not_null      required  ``max_fraction``: share of rows allowed to be null (default 0)
between       required  ``min``, ``max`` (either may be null), ``max_fraction``
in_set        required  ``values`` (list), ``max_fraction``
unique        required  --
============  ========  =============================================================

``max_fraction`` on ``between`` and ``in_set`` is the share of non-null rows
allowed to break the check before it fails (0: none).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml import _files, _validate
from loopml.errors import InvalidInput, NotFound

__all__ = [
    "KINDS",
    "SEVERITIES",
    "TYPES",
    "Check",
    "Suite",
    "expect_column_type",
    "expect_column_values_between",
    "expect_column_values_in_set",
    "expect_column_values_not_null",
    "expect_column_values_unique",
    "expect_columns",
    "expect_row_count_between",
]

SEVERITIES = ("error", "warning")
TYPES = ("numeric", "string", "boolean", "temporal", "binary", "other")

# kind -> (needs a column, allowed parameter names, required parameter names)
KINDS: dict[str, tuple[bool, frozenset[str], frozenset[str]]] = {
    "columns": (False, frozenset({"columns", "allow_extra"}), frozenset({"columns"})),
    "row_count": (False, frozenset({"min", "max"}), frozenset()),
    "type": (True, frozenset({"type"}), frozenset({"type"})),
    "not_null": (True, frozenset({"max_fraction"}), frozenset()),
    "between": (True, frozenset({"min", "max", "max_fraction"}), frozenset()),
    "in_set": (True, frozenset({"values", "max_fraction"}), frozenset({"values"})),
    "unique": (True, frozenset(), frozenset()),
}


@dataclass
class Check:
    """One expectation: ``kind`` with its ``params``, on ``column`` (None: the whole table).

    ``severity`` is ``"error"`` (a failure makes the validation fail) or
    ``"warning"`` (reported, but the validation still passes).
    """

    kind: str
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"

    def __post_init__(self) -> None:
        _check_valid(self)

    @property
    def name(self) -> str:
        """A short, stable label: ``between(age)``, ``row_count``."""
        return f"{self.kind}({self.column})" if self.column is not None else self.kind

    def describe(self) -> str:
        """What the check expects, in words."""
        p = self.params
        if self.kind == "columns":
            extra = "" if p.get("allow_extra", True) else " and no others"
            return f"columns {', '.join(p['columns'])} present{extra}"
        if self.kind == "row_count":
            return f"row count in [{_fmt(p.get('min'))}, {_fmt(p.get('max'))}]"
        if self.kind == "type":
            return f"{self.column} is {p['type']}"
        if self.kind == "not_null":
            return f"{self.column} null fraction ≤ {_fmt(p.get('max_fraction', 0.0))}"
        if self.kind == "between":
            return f"{self.column} in [{_fmt(p.get('min'))}, {_fmt(p.get('max'))}]"
        if self.kind == "in_set":
            values = [str(v) for v in p["values"]]
            shown = ", ".join(values[:8]) + (", …" if len(values) > 8 else "")
            return f"{self.column} in {{{shown}}}"
        return f"{self.column} values unique"

    def to_dict(self) -> dict[str, Any]:
        """The check as a flat mapping: ``kind``, ``column``, ``severity`` and its parameters."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.column is not None:
            out["column"] = self.column
        out.update(self.params)
        out["severity"] = self.severity
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "check") -> Check:
        """A check from :meth:`to_dict`'s mapping; a malformed one raises :class:`InvalidInput`."""
        if not isinstance(data, dict):
            raise InvalidInput(
                f"{where}: expected a mapping with 'kind', got {type(data).__name__}."
            )
        rest = dict(data)
        kind = rest.pop("kind", None)
        column = rest.pop("column", None)
        severity = rest.pop("severity", "error")
        try:
            return cls(kind=kind, column=column, params=rest, severity=severity)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None


@dataclass
class Suite:
    """A named list of checks, saved and loaded as JSON or YAML.

    Example::

        suite = loopml.infer_suite(reference_frame, name="orders")
        suite.save("orders.suite.json")
        loopml.validate(new_frame, Suite.load("orders.suite.json")).raise_for_errors()
    """

    checks: list[Check] = field(default_factory=list)
    name: str | None = None

    def __post_init__(self) -> None:
        for i, check in enumerate(self.checks):
            if not isinstance(check, Check):
                raise InvalidInput(
                    f"Suite checks must be Check objects (see the expect_* helpers), "
                    f"got {type(check).__name__} at position {i}."
                )

    @property
    def columns(self) -> list[str]:
        """The columns the suite's checks name, in order of first mention."""
        seen: dict[str, None] = {}
        for check in self.checks:
            if check.column is not None:
                seen.setdefault(check.column, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        """The suite as plain data: ``{"name": ..., "checks": [...]}``."""
        return {"name": self.name, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "suite") -> Suite:
        """A suite from :meth:`to_dict`'s mapping; a malformed one raises :class:`InvalidInput`."""
        if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
            raise InvalidInput(
                f"{where}: expected a mapping with a 'checks' list, got "
                f"{type(data).__name__}{' without checks' if isinstance(data, dict) else ''}."
            )
        checks = [
            Check.from_dict(c, where=f"{where}, check {i + 1}")
            for i, c in enumerate(data["checks"])
        ]
        name = data.get("name")
        return cls(checks=checks, name=None if name is None else str(name))

    def save(self, path: str | Path) -> Path:
        """Write the suite to ``path``: YAML for ``.yaml``/``.yml``, JSON otherwise."""
        target = _validate.path(path, "suite path")
        data = self.to_dict()
        if _is_yaml(target):
            text = _yaml().safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        return _files.write_text(target, text, "suite")

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        """Read a suite saved by :meth:`save` (or written by hand).

        A file that does not parse raises :class:`InvalidInput` naming the file and line.
        """
        source = _validate.path(path, "suite path")
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(
                f"suite file {source} does not exist; write one with Suite.save() or "
                "'loopml data validate ... --save-suite FILE'."
            ) from None
        except UnicodeDecodeError:
            raise InvalidInput(
                f"suite file {source} is not UTF-8 text; expected a suite written by "
                "Suite.save() (YAML or JSON)."
            ) from None
        except OSError as exc:
            raise InvalidInput(
                f"cannot read the suite file {source}: {exc.strerror or type(exc).__name__}. "
                "Expected a readable file written by Suite.save() (YAML or JSON)."
            ) from None
        if _is_yaml(source):
            yaml = _yaml()
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = f", line {mark.line + 1}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or str(exc)
                raise InvalidInput(
                    f"{source}{line}: not valid YAML ({problem}). Fix the file, or write it "
                    "again with Suite.save()."
                ) from None
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"{source}, line {exc.lineno}, column {exc.colno}: not valid JSON "
                    f"({exc.msg}). Fix the file, or write it again with Suite.save()."
                ) from None
        return cls.from_dict(data, where=str(source))


def expect_columns(
    columns: list[str], *, allow_extra: bool = True, severity: str = "error"
) -> Check:
    """The table has every one of ``columns`` (and, unless ``allow_extra``, no others)."""
    return Check("columns", None, {"columns": list(columns), "allow_extra": allow_extra}, severity)


def expect_row_count_between(
    lo: int | None = None, hi: int | None = None, *, severity: str = "error"
) -> Check:
    """The table has between ``lo`` and ``hi`` rows (inclusive; None: unbounded)."""
    return Check("row_count", None, {"min": lo, "max": hi}, severity)


def expect_column_type(column: str, type: str, *, severity: str = "error") -> Check:
    """``column`` holds ``type`` values: numeric, string, boolean, temporal, binary or other."""
    return Check("type", column, {"type": type}, severity)


def expect_column_values_not_null(
    column: str, *, max_fraction: float = 0.0, severity: str = "error"
) -> Check:
    """At most ``max_fraction`` of ``column``'s rows are null (NaN counts as null)."""
    return Check("not_null", column, {"max_fraction": max_fraction}, severity)


def expect_column_values_between(
    column: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    max_fraction: float = 0.0,
    severity: str = "error",
) -> Check:
    """``column``'s non-null values lie in ``[lo, hi]`` (None: unbounded on that side)."""
    return Check("between", column, {"min": lo, "max": hi, "max_fraction": max_fraction}, severity)


def expect_column_values_in_set(
    column: str, values: list[Any], *, max_fraction: float = 0.0, severity: str = "error"
) -> Check:
    """``column``'s non-null values are among ``values``."""
    return Check("in_set", column, {"values": list(values), "max_fraction": max_fraction}, severity)


def expect_column_values_unique(column: str, *, severity: str = "error") -> Check:
    """No non-null value of ``column`` appears twice."""
    return Check("unique", column, {}, severity)


def _check_valid(check: Check) -> None:
    spec = KINDS.get(check.kind)
    if spec is None:
        raise InvalidInput(
            f"unknown check kind {check.kind!r}: expected one of {', '.join(KINDS)}."
        )
    needs_column, allowed, required = spec
    if needs_column and not (isinstance(check.column, str) and check.column):
        raise InvalidInput(f"a {check.kind!r} check needs a column name, got {check.column!r}.")
    if not needs_column and check.column is not None:
        raise InvalidInput(
            f"a {check.kind!r} check is about the whole table: expected no column, "
            f"got {check.column!r}."
        )
    if check.severity not in SEVERITIES:
        raise InvalidInput(
            f"{check.name}: severity must be 'error' or 'warning', got {check.severity!r}."
        )
    if not isinstance(check.params, dict):
        raise InvalidInput(f"{check.name}: params must be a mapping, got {check.params!r}.")
    unknown = sorted(set(check.params) - allowed)
    if unknown:
        raise InvalidInput(
            f"{check.name}: unknown parameter(s) {', '.join(unknown)}; "
            f"a {check.kind!r} check takes {', '.join(sorted(allowed)) or 'none'}."
        )
    missing = sorted(required - set(check.params))
    if missing:
        raise InvalidInput(f"{check.name}: missing parameter(s) {', '.join(missing)}.")
    _check_params(check)


def _check_params(check: Check) -> None:
    p = check.params
    if "max_fraction" in p:
        frac = p["max_fraction"]
        if not _is_number(frac) or not 0.0 <= float(frac) <= 1.0:
            raise InvalidInput(
                f"{check.name}: max_fraction must be a number in [0, 1], got {frac!r}."
            )
    if check.kind in ("between", "row_count"):
        lo, hi = p.get("min"), p.get("max")
        for label, value in (("min", lo), ("max", hi)):
            if value is not None and (not _is_number(value) or math.isnan(float(value))):
                raise InvalidInput(
                    f"{check.name}: {label} must be a number or null, got {value!r}."
                )
        if lo is not None and hi is not None and float(lo) > float(hi):
            raise InvalidInput(
                f"{check.name}: invalid range, min {lo!r} is greater than max {hi!r}; "
                "expected min ≤ max."
            )
    elif check.kind == "type" and p["type"] not in TYPES:
        raise InvalidInput(
            f"{check.name}: type must be one of {', '.join(TYPES)}, got {p['type']!r}."
        )
    elif check.kind == "in_set" and not isinstance(p["values"], (list, tuple)):
        raise InvalidInput(f"{check.name}: values must be a list, got {p['values']!r}.")
    elif check.kind == "columns":
        cols = p["columns"]
        if not isinstance(cols, (list, tuple)) or not all(isinstance(c, str) for c in cols):
            raise InvalidInput(f"columns: expected a list of column names, got {cols!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if value is None:
        return "…"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml ships with the dev extras
        raise InvalidInput(
            "YAML suites need the 'pyyaml' package, which is not installed. Install it with "
            "'pip install pyyaml', or save the suite as .json."
        ) from None
    return yaml
