"""The search-space language of tuning: ranges for dotted pipeline parameters.

A space maps parameters (the dotted keys ``-p`` overrides take) to
distributions, as in ``loopml.toml``::

    [tune.space]
    "model.estimator" = { choices = ["random_forest", "logistic_regression"] }
    "model.max_depth" = { low = 2, high = 16 }             # ints: both bounds ints
    "model.C" = { low = 0.001, high = 100.0, log = true }  # floats, log scale
    "model.n_estimators" = { low = 50, high = 300, step = 50 }

Everything is checked when the space is parsed, and a bad range is an error
that names the key and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.errors import InvalidInput

__all__ = ["Distribution", "optuna_distributions", "parse_space", "suggest"]


@dataclass(frozen=True)
class Distribution:
    """One parameter's range: ``int``/``float`` between ``low`` and ``high`` (inclusive;
    ``log`` scale, ``step`` grid) or a ``categorical`` among ``choices``."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out

    def example(self) -> Any:
        return self.choices[0] if self.kind == "categorical" else self.low


def parse_space(raw: Any, where: str = "the search space") -> dict[str, Distribution]:
    """Check a space (``{"model.C": {"low": 0.01, "high": 10, "log": True}, ...}``) and
    return its distributions; anything invalid is an error naming the key and value."""
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput(
            f"{where} is empty: give each tuned parameter a range, e.g. in loopml.toml\n\n"
            '[tune.space]\n"model.max_depth" = { low = 2, high = 16 }\n'
            '"model.C" = { low = 0.001, high = 100.0, log = true }\n'
            '"model.estimator" = { choices = ["random_forest", "logistic_regression"] }'
        )
    space = {}
    for key, spec in raw.items():
        space[str(key)] = _distribution(str(key), spec, where)
    return space


def _distribution(key: str, spec: Any, where: str) -> Distribution:
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid range for {key!r} in {where}: {why} (got {spec!r}).")

    if isinstance(spec, (list, tuple)):
        spec = {"choices": list(spec)}
    if not isinstance(spec, Mapping):
        raise bad("expected a table such as { low = 1, high = 10 } or { choices = [...] }")
    unknown = set(spec) - {"low", "high", "log", "step", "choices", "type"}
    if unknown:
        raise bad(
            f"unknown field(s) {', '.join(sorted(unknown))}; use low, high, log, step, choices"
        )
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) - {"choices", "type"}:
            raise bad("choices cannot be combined with low/high/log/step")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise bad("choices must be a non-empty list")
        if not all(c is None or isinstance(c, (str, int, float, bool)) for c in choices):
            raise bad("choices must be strings, numbers, booleans or null")
        if len({repr(c) for c in choices}) != len(choices):
            raise bad("choices repeat a value")
        return Distribution("categorical", choices=tuple(choices))
    if "low" not in spec or "high" not in spec:
        raise bad("expected both low and high, or choices")
    low, high = spec["low"], spec["high"]
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise bad(f"{name} must be a finite number")
    kind = spec.get("type") or (
        "int" if isinstance(low, int) and isinstance(high, int) else "float"
    )
    if kind not in ("int", "float"):
        raise bad("type must be 'int' or 'float'")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise bad("an int range needs whole-number bounds")
    if not low < high:
        raise bad(f"low ({low}) must be less than high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise bad("log must be true or false")
    if log and low <= 0:
        raise bad(f"a log-scale range needs low > 0, got low = {low}")
    step = spec.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            raise bad("step must be a positive number")
        if log:
            raise bad("step and log cannot be combined")
        if kind == "int" and not float(step).is_integer():
            raise bad("an int range needs a whole-number step")
        if step > high - low:
            raise bad(f"step ({step}) is larger than the range {low}..{high}")
    if kind == "int":
        return Distribution("int", int(low), int(high), log, int(step) if step else None)
    return Distribution("float", float(low), float(high), log, float(step) if step else None)


def suggest(trial: Any, space: Mapping[str, Distribution]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, d in space.items():
        if d.kind == "categorical":
            params[key] = trial.suggest_categorical(key, list(d.choices))
        elif d.kind == "int":
            assert d.low is not None and d.high is not None
            params[key] = trial.suggest_int(
                key, int(d.low), int(d.high), step=int(d.step or 1), log=d.log
            )
        else:
            assert d.low is not None and d.high is not None
            params[key] = trial.suggest_float(key, d.low, d.high, step=d.step, log=d.log)
    return params


def optuna_distributions(space: Mapping[str, Distribution]) -> dict[str, Any]:
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for key, d in space.items():
        if d.kind == "categorical":
            out[key] = od.CategoricalDistribution(list(d.choices))
        elif d.kind == "int":
            out[key] = od.IntDistribution(
                int(d.low or 0), int(d.high or 0), log=d.log, step=int(d.step or 1)
            )
        else:
            out[key] = od.FloatDistribution(d.low or 0.0, d.high or 0.0, log=d.log, step=d.step)
    return out
