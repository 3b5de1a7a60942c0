"""Gates: the checks a model version passes to enter an environment.

Declared per environment in ``loopml.toml``; a key is an expression over the
candidate's evaluation and the champion's, a value a comparison::

    [gates.prod]
    "metrics.f1" = ">= 0.85"
    "metrics.f1 - champion.metrics.f1" = ">= -0.01"
    "slices.region.f1" = ">= 0.75"
    "fairness.sex.demographic_parity_difference" = "<= 0.1"
    "latency.p99_ms" = "<= 20"

    [gates.prod.options]
    data = "data:/churn-holdout"
    require_validation = true
    approval = true

An expression is arithmetic (``+ - * /``, parentheses, numbers, ``abs(...)``)
over these names, each also under ``champion.``:

- ``metrics.<metric>``: a metric of :data:`~loopml.evaluation.METRICS`;
- ``slices.<column>.<metric>``: that metric on the *worst* slice of the
  column (the lowest value of a higher-is-better metric, the highest of a
  lower-is-better one);
- ``fairness.<column>.<name>``: ``demographic_parity_difference``,
  ``equal_opportunity_difference`` or ``demographic_parity_ratio`` for a
  sensitive column;
- ``latency.<key>``: ``p50_ms``, ``p99_ms``, ``batch_1000_p50_ms``,
  ``batch_1000_p99_ms``, ``package_bytes``;
- ``importance.<feature>``: the feature's mean permutation importance.

The expressions are parsed by a small parser here (never ``eval``), and every
name and option is checked when the gates are read, so a typo is one
:class:`~loopml.errors.InvalidInput` before anything is evaluated. When they
run, a check whose names all have values is ``passed`` or ``failed``; a check
naming the champion when the environment has none is ``skipped`` (never
passed); a name nobody computed (``roc_auc`` of a model without
``predict_proba``, a slice column that is not in the data) fails with a
message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml import _validate
from loopml._enum import StrEnum
from loopml.errors import InvalidInput
from loopml.evaluation._records import FAIRNESS_METRICS, LATENCY_KEYS, METRICS

__all__ = [
    "GateCheck",
    "GateOptions",
    "GateStatus",
    "Gates",
    "check_gates",
    "read_gates",
]

_METRICS = METRICS
_NAMESPACES = ("metrics", "slices", "fairness", "latency", "importance")
_OPS = (">=", "<=", "==", "!=", ">", "<")
_OPTIONS = {
    "data": 'a data:/ URI, e.g. "data:/churn-holdout"',
    "target": "the name of the target column",
    "require_validation": "true or false",
    "suite": "the path of a saved validation suite",
    "approval": "true or false",
    "tolerance": "a number of 0 or more (how close '==' must be)",
    "positive_label": "the positive class (a string, number or boolean)",
}
_DEFAULT_TOLERANCE = 1e-9


class GateStatus(StrEnum):
    """How one gate check went: ``passed``, ``failed``, or ``skipped`` (it compares with
    a champion and the environment has none)."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class GateCheck:
    """One gate check and how it went: ``expression op threshold`` (``metrics.f1 >=
    0.85``), the ``value`` the expression had (None when it had none) and a ``message``
    saying why it failed or was skipped."""

    expression: str
    op: str
    threshold: float
    value: float | None
    status: GateStatus
    message: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == GateStatus.PASSED

    @property
    def failed(self) -> bool:
        return self.status == GateStatus.FAILED

    @property
    def text(self) -> str:
        """``metrics.f1 >= 0.85``."""
        return f"{self.expression} {self.op} {_number(self.threshold)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "op": self.op,
            "threshold": self.threshold,
            "value": self.value,
            "status": self.status.value,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateCheck:
        value = data.get("value")
        return cls(
            expression=str(data["expression"]),
            op=str(data["op"]),
            threshold=float(data["threshold"]),
            value=None if value is None else float(value),
            status=GateStatus(data["status"]),
            message=data.get("message"),
        )


@dataclass(frozen=True)
class GateOptions:
    """``[gates.<env>.options]``: the evaluation ``data`` (a ``data:/`` URI; the champion
    is evaluated on the same), its ``target`` column (default: what the evaluation
    infers), ``require_validation`` (the data must pass its stored validation, or
    ``suite`` now), ``approval`` (a person approves a passing candidate),
    ``tolerance`` (how close ``==`` must be) and ``positive_label``."""

    data: str | None = None
    target: str | None = None
    require_validation: bool = False
    suite: str | None = None
    approval: bool = False
    tolerance: float = _DEFAULT_TOLERANCE
    positive_label: Any = None


# -- expressions ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Num:
    value: float


@dataclass(frozen=True)
class _Name:
    name: str


@dataclass(frozen=True)
class _Neg:
    item: _Expr


@dataclass(frozen=True)
class _Abs:
    item: _Expr


@dataclass(frozen=True)
class _Bin:
    op: str
    left: _Expr
    right: _Expr


_Expr = _Num | _Name | _Neg | _Abs | _Bin

_TOKEN = re.compile(
    r"[ \t]*(?:(?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op>[-+*/()]))",
    re.ASCII,
)
# a threshold: ASCII digits only (float() would also take "0_85" as 85, "٠.٨" or "inf")
_THRESHOLD = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_MAX_KEY = 500  # characters of one expression
_MAX_DEPTH = 50  # nested parentheses, abs( and signs


class _Syntax(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip(" \t")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip(" \t"))
            raise _Syntax(f"unexpected {text[at]!r} at position {at + 1}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := '-' unary | '+' unary | atom; atom := number | name | abs(expr) | (expr)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Syntax(f"it nests more than {_MAX_DEPTH} levels deep")

    def parse(self) -> _Expr:
        if not self.tokens:
            raise _Syntax("the expression is empty")
        expr = self._expr()
        if self.pos != len(self.tokens):
            raise _Syntax(f"unexpected {self.tokens[self.pos][1]!r} after a complete expression")
        return expr

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, value: str) -> bool:
        tok = self._peek()
        if tok is not None and tok[0] == "op" and tok[1] == value:
            self.pos += 1
            return True
        return False

    def _expr(self) -> _Expr:
        left = self._term()
        while True:
            tok = self._peek()
            if tok is not None and tok[0] == "op" and tok[1] in "+-":
                self.pos += 1
                left = _Bin(tok[1], left, self._term())
            else:
                return left

    def _term(self) -> _Expr:
        left = self._unary()
        while True:
            tok = self._peek()
            if tok is not None and tok[0] == "op" and tok[1] in "*/":
                self.pos += 1
                left = _Bin(tok[1], left, self._unary())
            else:
                return left

    def _unary(self) -> _Expr:
        if self._take("-"):
            self._nest()
            return _Neg(self._unary())
        if self._take("+"):
            self._nest()
            return self._unary()
        return self._atom()

    def _atom(self) -> _Expr:
        tok = self._peek()
        if tok is None:
            raise _Syntax("the expression ends too early")
        self.pos += 1
        kind, value = tok
        if kind == "num":
            number = float(value)
            if not math.isfinite(number):
                raise _Syntax(f"{value} is not a finite number")
            return _Num(number)
        if kind == "name":
            if value == "abs":
                if not self._take("("):
                    raise _Syntax("abs must be followed by '(', as in abs(metrics.f1)")
                self._nest()
                inner = self._expr()
                if not self._take(")"):
                    raise _Syntax("abs( is not closed by ')'")
                return _Abs(inner)
            after = self._peek()
            if after is not None and after == ("op", "("):
                raise _Syntax(f"unknown function {value!r}: abs(...) is the only one")
            return _Name(value)
        if value == "(":
            self._nest()
            inner = self._expr()
            if not self._take(")"):
                raise _Syntax("'(' is not closed by ')'")
            return inner
        raise _Syntax(f"unexpected {value!r}")


def _names(expr: _Expr) -> list[str]:
    if isinstance(expr, _Name):
        return [expr.name]
    if isinstance(expr, (_Neg, _Abs)):
        return _names(expr.item)
    if isinstance(expr, _Bin):
        return _names(expr.left) + _names(expr.right)
    return []


def _column(parts: list[str]) -> str:
    """The column (or feature) a split name holds: everything between the namespace and
    the measure (``slices.re.g.f1`` → ``re.g``), or after the namespace for importance."""
    return ".".join(parts[1:] if parts[0] == "importance" else parts[1:-1])


def _check_name(name: str) -> str | None:
    """Why ``name`` is not a gate name (None when it is one)."""
    parts = name.split(".")
    if parts[0] == "champion":
        parts = parts[1:]
        if not parts:
            return "'champion' must be followed by a name, as in champion.metrics.f1"
    head = parts[0]
    metrics = ", ".join(_METRICS)
    if head == "metrics":
        if len(parts) != 2:
            return f"expected metrics.<metric>, e.g. metrics.f1 (metrics: {metrics})"
        if parts[1] not in _METRICS:
            return f"unknown metric {parts[1]!r}; expected one of {metrics}"
        return None
    if head == "slices":
        if len(parts) < 3 or not all(parts[1:-1]):
            return "expected slices.<column>.<metric>, e.g. slices.region.f1"
        column = ".".join(parts[1:-1])
        if parts[-1] not in _METRICS:
            return f"unknown metric {parts[-1]!r} of slices.{column}; expected one of {metrics}"
        return None
    if head == "fairness":
        known = ", ".join(FAIRNESS_METRICS)
        if len(parts) < 3 or not all(parts[1:-1]):
            return f"expected fairness.<column>.<measure> with a measure of {known}"
        if parts[-1] not in FAIRNESS_METRICS:
            return f"unknown fairness measure {parts[-1]!r}; expected one of {known}"
        return None
    if head == "latency":
        known = ", ".join(LATENCY_KEYS)
        if len(parts) != 2 or parts[1] not in LATENCY_KEYS:
            shown = ".".join(parts[1:]) or "nothing"
            return f"unknown latency key {shown!r}; expected latency.<key> with a key of {known}"
        return None
    if head == "importance":
        if len(parts) < 2 or not all(parts[1:]):
            return "expected importance.<feature>, e.g. importance.age"
        return None
    return (
        f"unknown name {name!r}: a name starts with "
        f"{', '.join(_NAMESPACES)} (or champion. and one of them)"
    )


@dataclass(frozen=True)
class _Rule:
    expression: str
    op: str
    threshold: float
    tree: _Expr
    names: tuple[str, ...]


@dataclass(frozen=True)
class Gates:
    """The gates of one environment, checked: its rules (``expression op threshold``,
    in file order) and :class:`GateOptions`. ``slice_columns`` and
    ``sensitive_features`` are the columns the rules name, which the evaluation must
    slice by and measure fairness on."""

    environment: str
    rules: tuple[_Rule, ...] = ()
    options: GateOptions = field(default_factory=GateOptions)
    declared: bool = False

    @property
    def checks(self) -> list[str]:
        """Each rule as written: ``metrics.f1 >= 0.85``."""
        return [f"{r.expression} {r.op} {_number(r.threshold)}" for r in self.rules]

    @property
    def uses_champion(self) -> bool:
        return any(n.startswith("champion.") for r in self.rules for n in r.names)

    def _columns(self, namespace: str) -> list[str]:
        found: dict[str, None] = {}
        for rule in self.rules:
            for name in rule.names:
                parts = name.removeprefix("champion.").split(".")
                if parts[0] == namespace:
                    found[_column(parts)] = None
        return list(found)

    @property
    def slice_columns(self) -> list[str]:
        return self._columns("slices")

    @property
    def sensitive_features(self) -> list[str]:
        return self._columns("fairness")

    @property
    def needs_importance(self) -> bool:
        return bool(self._columns("importance"))


def _where(env: str, key: str | None = None) -> str:
    head = f"loopml.toml [gates.{env}]"
    return f"{head} {_validate.shown(key)}" if key is not None else head


def _parse_rule(env: str, key: Any, value: Any) -> _Rule:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"{_where(env)}: a check needs an expression as its key, got {key!r}.")
    if len(key) > _MAX_KEY:
        raise InvalidInput(
            f"{_where(env, key)}: the expression is {len(key):,} characters long; "
            f"write one of at most {_MAX_KEY:,}."
        )
    if isinstance(value, dict):  # metrics.f1 = "..." unquoted: TOML made it a table
        inner = next(iter(value), "f1")
        raise InvalidInput(
            f"{_where(env, key)}: a dotted name must be quoted in loopml.toml, or TOML reads "
            f'it as tables: write "{key}.{inner}" = "..." instead of {key}.{inner} = "...".'
        )
    if not isinstance(value, str):
        raise InvalidInput(
            f'{_where(env, key)}: expected a comparison as text, such as ">= 0.85", got '
            f"{_validate.shown(value)}."
        )
    text = value.strip()
    op = next((o for o in _OPS if text.startswith(o)), None)
    if op is None:
        raise InvalidInput(
            f"{_where(env, key)} = {_validate.shown(value)}: expected a comparison: one of "
            f'{", ".join(_OPS)} and a number, e.g. ">= 0.85".'
        )
    number = text[len(op) :].strip()
    threshold = float(number) if _THRESHOLD.fullmatch(number) else math.nan
    if not math.isfinite(threshold):
        raise InvalidInput(
            f"{_where(env, key)} = {_validate.shown(value)}: {_validate.shown(number or 'nothing')} is not a number; "
            f'expected {op} and a finite number, e.g. "{op} 0.85".'
        )
    try:
        tree = _Parser(key).parse()
    except _Syntax as exc:
        raise InvalidInput(
            f"{_where(env, key)}: malformed expression: {exc}. Expected arithmetic (+ - * /, "
            "parentheses, numbers, abs()) over names such as metrics.f1."
        ) from None
    names = tuple(_names(tree))
    if not names:
        raise InvalidInput(
            f"{_where(env, key)}: the expression names nothing to check; use a name such as "
            "metrics.f1."
        )
    for name in names:
        why = _check_name(name)
        if why is not None:
            raise InvalidInput(f"{_where(env, key)}: {why}.")
    return _Rule(key, op, threshold, tree, names)


def _parse_options(env: str, table: Any) -> GateOptions:
    where = f"loopml.toml [gates.{env}.options]"
    if not isinstance(table, dict):
        raise InvalidInput(f"{where} must be a table of options, got {table!r}.")
    for key in table:
        if key not in _OPTIONS:
            raise InvalidInput(
                f"{where}: unknown option {key!r}; expected one of {', '.join(_OPTIONS)}."
            )
    opts: dict[str, Any] = {}
    for key in ("data", "target", "suite"):
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value.strip() or "\x00" in value:
                raise InvalidInput(f"{where} {key} must be {_OPTIONS[key]}, got {value!r}.")
            opts[key] = value.strip()
    for key in ("require_validation", "approval"):
        if key in table:
            if not isinstance(table[key], bool):
                raise InvalidInput(f"{where} {key} must be true or false, got {table[key]!r}.")
            opts[key] = table[key]
    if "tolerance" in table:
        tol = table["tolerance"]
        ok = isinstance(tol, (int, float)) and not isinstance(tol, bool)
        if not ok or not math.isfinite(tol) or tol < 0:
            raise InvalidInput(f"{where} tolerance must be {_OPTIONS['tolerance']}, got {tol!r}.")
        opts["tolerance"] = float(tol)
    if "positive_label" in table:
        label = table["positive_label"]
        if not isinstance(label, (str, int, float, bool)):
            raise InvalidInput(
                f"{where} positive_label must be {_OPTIONS['positive_label']}, got {label!r}."
            )
        opts["positive_label"] = label
    if "data" in opts:
        from loopml.uri import parse_data_uri

        try:
            parse_data_uri(opts["data"])
        except InvalidInput as exc:
            raise InvalidInput(f"{where} data: {exc}") from None
    return GateOptions(**opts)


def read_gates(environment: str, settings: Any = None) -> Gates:
    """The gates of ``environment``, checked: every expression parsed and every name and
    option known (else one :class:`~loopml.errors.InvalidInput` naming the key and what
    is valid). ``settings`` default to the current context's. An environment with no
    ``[gates.<env>]`` table has no rules (``declared`` False).

    Example::

        gates = loopml.evaluation.read_gates("prod")
        gates.checks        # ['metrics.f1 >= 0.85', 'latency.p99_ms <= 20']
    """
    if settings is None:
        from loopml.context import current

        settings = current().settings
    known = settings.models.environments
    if not isinstance(environment, str) or environment not in known:
        raise InvalidInput(
            f"unknown environment {environment!r}: expected one of {', '.join(known)} "
            "(add more under [models] environments in loopml.toml)."
        )
    table = settings.gates.get(environment)
    if table is None:
        return Gates(environment)
    rules: list[_Rule] = []
    options = GateOptions()
    for key, value in table.items():
        if key == "options":
            options = _parse_options(environment, value)
            continue
        rules.append(_parse_rule(environment, key, value))
    if (rules or options.require_validation) and options.data is None:
        raise InvalidInput(
            f"loopml.toml [gates.{environment}] checks need evaluation data: set data = "
            f'"data:/<dataset>" under [gates.{environment}.options].'
        )
    if options.suite is not None and not options.require_validation:
        raise InvalidInput(
            f"loopml.toml [gates.{environment}.options] suite is used only with "
            "require_validation = true: set that too, or remove suite."
        )
    return Gates(environment, tuple(rules), options, declared=True)


# -- checking ---------------------------------------------------------------------------


class _Missing(Exception):
    """A name without a value; ``skip`` when it names a champion that does not exist."""

    def __init__(self, message: str, skip: bool = False) -> None:
        super().__init__(message)
        self.skip = skip


def _number(value: float) -> str:
    return f"{value:g}"


def _finite(value: Any, name: str) -> float:
    if value is None or isinstance(value, bool):
        raise _Missing(f"{name} was not computed")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Missing(f"{name} is {value!r}, not a number") from None
    if math.isnan(number):
        raise _Missing(f"{name} is NaN (not defined for this data)")
    return number


def _lookup(name: str, result: Mapping[str, Any] | None, *, champion: bool) -> float:
    if result is None:
        raise _Missing("no champion to compare with", skip=champion)
    parts = name.split(".")
    head = parts[0]
    shown = ("champion." if champion else "") + name
    if head == "metrics":
        metrics = result.get("metrics") or {}
        if parts[1] not in metrics:
            have = ", ".join(sorted(metrics)) or "none"
            why = " (the model has no predict_proba)" if parts[1] in _PROBA else ""
            raise _Missing(f"{shown} was not computed{why}; computed: {have}")
        return _finite(metrics[parts[1]], shown)
    if head == "slices":
        column, metric = _column(parts), parts[-1]
        slices = (result.get("slices") or {}).get(column)
        if not slices:
            raise _Missing(f"no slices of column {column!r}: it is not in the evaluation data")
        values = []
        for group in slices.values():
            v = group.get(metric) if isinstance(group, Mapping) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v):
                values.append(float(v))
        if not values:
            raise _Missing(f"{metric} was not computed for the slices of {column!r}")
        return min(values) if _METRICS[metric] == "higher" else max(values)
    if head == "fairness":
        column = _column(parts)
        found = (result.get("fairness") or {}).get(column)
        if not found:
            raise _Missing(
                f"no fairness measures for column {column!r}: it is not in the evaluation data"
            )
        return _finite(found.get(parts[-1]), shown)
    if head == "latency":
        return _finite((result.get("latency") or {}).get(parts[1]), shown)
    if head == "importance":
        feature = _column(parts)
        found = (result.get("importance") or {}).get(feature)
        if found is None:
            raise _Missing(f"no permutation importance for feature {feature!r}")
        return _finite(found.get("mean") if isinstance(found, Mapping) else found, shown)
    raise AssertionError(f"unchecked name {name!r}")  # read_gates refuses it first


_PROBA = ("roc_auc", "log_loss", "brier")


def _value(expr: _Expr, candidate: Mapping[str, Any], champion: Mapping[str, Any] | None) -> float:
    if isinstance(expr, _Num):
        return expr.value
    if isinstance(expr, _Name):
        if expr.name.startswith("champion."):
            return _lookup(expr.name.removeprefix("champion."), champion, champion=True)
        return _lookup(expr.name, candidate, champion=False)
    if isinstance(expr, _Neg):
        return -_value(expr.item, candidate, champion)
    if isinstance(expr, _Abs):
        return abs(_value(expr.item, candidate, champion))
    left = _value(expr.left, candidate, champion)
    right = _value(expr.right, candidate, champion)
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    if right == 0:
        raise _Missing("division by zero")
    return left / right


def _compare(value: float, op: str, threshold: float, tolerance: float) -> bool:
    if op == "==":
        return abs(value - threshold) <= tolerance
    if op == "!=":
        return abs(value - threshold) > tolerance
    if op == ">=":
        return value >= threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    return value < threshold


def check_gates(
    gates: Gates,
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None = None,
) -> list[GateCheck]:
    """Run ``gates`` on a candidate's evaluation (``Evaluation.to_dict()``) and the
    champion's (None when the environment has no champion): one :class:`GateCheck` per
    rule, in order.

    Example::

        checks = check_gates(read_gates("prod"), evaluation.to_dict())
        [c.status for c in checks]    # ['passed', 'skipped', ...]
    """
    out: list[GateCheck] = []
    for rule in gates.rules:
        try:
            for name in rule.names:  # the candidate's own names first: missing ones fail
                if not name.startswith("champion."):
                    _lookup(name, candidate, champion=False)
            value = _value(rule.tree, candidate, champion)
        except _Missing as missing:
            status = GateStatus.SKIPPED if missing.skip else GateStatus.FAILED
            out.append(_check(rule, None, status, str(missing)))
            continue
        if not math.isfinite(value):
            out.append(_check(rule, None, GateStatus.FAILED, f"its value is {value}"))
            continue
        ok = _compare(value, rule.op, rule.threshold, gates.options.tolerance)
        message = None if ok else f"{_number(value)} is not {rule.op} {_number(rule.threshold)}"
        status = GateStatus.PASSED if ok else GateStatus.FAILED
        out.append(_check(rule, value, status, message))
    return out


def _check(rule: _Rule, value: float | None, status: GateStatus, message: str | None) -> GateCheck:
    return GateCheck(rule.expression, rule.op, rule.threshold, value, status, message)
