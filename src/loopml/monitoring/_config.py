"""The settings of a drift check: methods, thresholds, the small-sample rule, overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from loopml._validate import shown
from loopml.errors import InvalidInput

__all__ = ["METHODS", "THRESHOLDS", "ColumnConfig", "DriftConfig", "as_config"]

#: every method, and the kind of column it applies to (None: both kinds)
METHODS: dict[str, str | None] = {
    "wasserstein": "numeric",
    "ks": "numeric",
    "jensenshannon": "categorical",
    "chi2": "categorical",
    "psi": None,
}

#: the default threshold of each method's score (for ks and chi2: of the effect size
#: that must go with a significant p-value, the normalised Wasserstein distance and the
#: Jensen-Shannon distance)
THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.2,
    "ks": 0.1,
    "chi2": 0.1,
}

CORRECTIONS = ("bh", "bonferroni")


@dataclass(frozen=True)
class ColumnConfig:
    """A per-column override: the method (see :data:`METHODS`) and/or its threshold."""

    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class DriftConfig:
    """How :func:`~loopml.detect_drift` decides; every field has a default (see the
    :mod:`loopml.monitoring` docstring for why each is what it is).

    Example::

        DriftConfig(columns={"income": "psi", "age": {"threshold": 0.2}}, multivariate=True)
    """

    numeric_method: str = "wasserstein"
    categorical_method: str = "jensenshannon"
    thresholds: Mapping[str, float] = field(default_factory=dict)
    small_sample: int = 5000
    alpha: float = 0.05
    correction: str = "bh"
    drift_share: float = 0.5
    missing_threshold: float = 0.1
    max_buckets: int = 20
    min_bucket_share: float = 0.01
    columns: Mapping[str, ColumnConfig] = field(default_factory=dict)
    multivariate: bool = False
    multivariate_threshold: float = 0.55
    multivariate_sample: int = 20_000
    seed: int = 0

    def __post_init__(self) -> None:
        _method(self.numeric_method, "numeric_method", "numeric")
        _method(self.categorical_method, "categorical_method", "categorical")
        if not isinstance(self.thresholds, Mapping):
            raise _bad("thresholds", "a mapping of method name to threshold", self.thresholds)
        for name, value in self.thresholds.items():
            _method(name, "a key of thresholds", None)
            _positive(value, f"thresholds[{name!r}]")
        object.__setattr__(self, "thresholds", {**THRESHOLDS, **self.thresholds})
        _int(self.small_sample, "small_sample", 0)
        _fraction(self.alpha, "alpha", open_top=True)
        if self.correction not in CORRECTIONS:
            raise _bad("correction", "'bh' (Benjamini-Hochberg) or 'bonferroni'", self.correction)
        _fraction(self.drift_share, "drift_share")
        _fraction(self.missing_threshold, "missing_threshold")
        _int(self.max_buckets, "max_buckets", 1)
        _fraction(self.min_bucket_share, "min_bucket_share", open_top=True, zero=True)
        if not isinstance(self.multivariate, bool):
            raise _bad("multivariate", "True or False", self.multivariate)
        _fraction(self.multivariate_threshold, "multivariate_threshold")
        if self.multivariate_threshold <= 0.5:
            raise _bad("multivariate_threshold", "a ROC AUC above 0.5", self.multivariate_threshold)
        _int(self.multivariate_sample, "multivariate_sample", 100)
        _int(self.seed, "seed", 0)
        if not isinstance(self.columns, Mapping):
            raise _bad("columns", "a mapping of column name to method or override", self.columns)
        object.__setattr__(
            self, "columns", {str(k): _column(str(k), v) for k, v in self.columns.items()}
        )

    def method_for(self, column: str, kind: str) -> tuple[str, float]:
        """The method and threshold for ``column`` of ``kind`` (numeric / categorical)."""
        override = self.columns.get(column, ColumnConfig())
        default = self.numeric_method if kind == "numeric" else self.categorical_method
        method = override.method or default
        applies = METHODS[method]
        if applies is not None and applies != kind:
            raise InvalidInput(
                f"the method {method!r} set for column {column!r} applies to {applies} "
                f"columns, but {column!r} is {kind}: use one of {', '.join(_for(kind))}."
            )
        threshold = (
            override.threshold if override.threshold is not None else self.thresholds[method]
        )
        return method, threshold


def as_config(config: Any) -> DriftConfig:
    """``config`` as a DriftConfig: None (the defaults), a DriftConfig, or a mapping of
    its fields (as loopml.toml would hold them)."""
    if config is None:
        return DriftConfig()
    if isinstance(config, DriftConfig):
        return config
    if isinstance(config, Mapping):
        known = {f.name for f in fields(DriftConfig)}
        unknown = [str(k) for k in config if k not in known]
        if unknown:
            raise InvalidInput(
                f"unknown drift setting {', '.join(map(repr, unknown))}: expected among "
                f"{', '.join(sorted(known))}."
            )
        return DriftConfig(**{str(k): v for k, v in config.items()})
    raise _bad("config", "a DriftConfig, a mapping of its settings, or None", config)


def _for(kind: str) -> list[str]:
    return [m for m, k in METHODS.items() if k in (None, kind)]


def _method(value: Any, what: str, kind: str | None) -> str:
    allowed = list(METHODS) if kind is None else _for(kind)
    if value not in allowed:
        raise InvalidInput(
            f"unknown drift method {shown(value)} for {what}: expected one of {', '.join(allowed)}."
        )
    return str(value)


def _column(name: str, value: Any) -> ColumnConfig:
    if isinstance(value, str):
        value = ColumnConfig(method=value)
    elif isinstance(value, Mapping):
        unknown = [str(k) for k in value if k not in ("method", "threshold")]
        if unknown:
            raise InvalidInput(
                f"unknown setting {', '.join(map(repr, unknown))} for column {name!r}: "
                "expected 'method' and/or 'threshold'."
            )
        value = ColumnConfig(method=value.get("method"), threshold=value.get("threshold"))
    elif not isinstance(value, ColumnConfig):
        raise _bad(
            f"the override of column {name!r}",
            "a method name, {'method': ..., 'threshold': ...} or a ColumnConfig",
            value,
        )
    if value.method is not None:
        _method(value.method, f"column {name!r}", None)
    if value.threshold is not None:
        _positive(value.threshold, f"the threshold of column {name!r}")
    return value


def _bad(what: str, expected: str, got: Any) -> InvalidInput:
    return InvalidInput(f"{what} must be {expected}, got {shown(got)}.")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(what, "a finite number", value)
    return float(value)


def _positive(value: Any, what: str) -> None:
    if _number(value, what) <= 0:
        raise _bad(what, "a number above 0", value)


def _fraction(value: Any, what: str, *, open_top: bool = False, zero: bool = False) -> None:
    v = _number(value, what)
    low_ok = v >= 0 if zero else v > 0
    high_ok = v < 1 if open_top else v <= 1
    if not (low_ok and high_ok):
        interval = ("[0" if zero else "(0") + (", 1)" if open_top else ", 1]")
        raise _bad(what, f"a number in {interval}", value)


def _int(value: Any, what: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(what, f"an integer >= {low}", value)
