"""Alert rules: ``metric op number`` over a window's flat metrics.

A rule reads one metric of a window (``drift_share``, ``dataset_drift``,
``data.missing_rate``, ``system.error_rate``, ``live.f1``, ``estimated.roc_auc``...,
see :class:`~loopml.monitoring.MonitorWindow`), an operator (``>``, ``>=``, ``<``,
``<=``, ``==``, ``!=``) and a number: ``"drift_share > 0.3"``, ``"live.f1 < 0.8"``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from loopml._validate import shown
from loopml.errors import InvalidInput

__all__ = ["Rule", "parse_rule"]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_RULE_RE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_.=-]*)?)\s*"
    r"(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$",
    re.ASCII,  # '\d' of other scripts ('\u0665' is 5 and looks like 0) is refused
)


@dataclass(frozen=True)
class Rule:
    """``metric op threshold``; ``text`` is the rule as written (normalised spaces)."""

    metric: str
    op: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    def __str__(self) -> str:
        return self.text

    def value(self, metrics: Mapping[str, float]) -> float | None:
        """The rule's metric in ``metrics``; None when the window has none (no labels yet,
        a check that did not run) or it is not a finite number."""
        found = metrics.get(self.metric)
        if found is None or isinstance(found, bool):
            return None if found is None else float(found)
        number = float(found)
        return number if math.isfinite(number) else None

    def crossed(self, value: float) -> bool:
        """Whether ``value`` meets the rule's condition (the alert's condition)."""
        return _OPERATORS[self.op](value, self.threshold)


def parse_rule(text: object) -> Rule:
    """Parse ``"drift_share > 0.3"``; InvalidInput saying the expected form otherwise."""
    m = _RULE_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput(
            f"alert rule {shown(text)} is not 'metric op number': expected e.g. "
            "'drift_share > 0.3', 'live.f1 < 0.8' or 'system.error_rate >= 0.02' (operators "
            "> >= < <= == !=)."
        )
    threshold = float(m.group("value"))
    if not math.isfinite(threshold):
        raise InvalidInput(
            f"alert rule {shown(text)} compares with {threshold}: use a finite number."
        )
    return Rule(m.group("metric"), m.group("op"), threshold)
