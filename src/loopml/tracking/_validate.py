"""Checks on what users log: keys, metric values, steps, run ids, names."""

from __future__ import annotations

import math
import re
from typing import Any

from loopml.errors import InvalidInput

__all__ = [
    "MAX_KEY",
    "check_experiment_name",
    "check_flag",
    "check_key",
    "check_kind",
    "check_run_id",
    "check_text",
    "coerce_step",
    "coerce_value",
]

MAX_KEY = 255
_key_ok = re.compile(r"[A-Za-z0-9_\-./ ]+").fullmatch
_run_id_ok = re.compile(r"[0-9a-f]{6,32}").fullmatch
_kind_ok = re.compile(r"[a-z][a-z0-9_-]{0,31}").fullmatch
_MAX_STEP = 2**63 - 1

# keys already checked, so the metric hot path pays one set lookup
_good_keys: set[str] = set()


def check_key(key: Any, what: str = "key") -> str:
    """Return ``key`` if it can name a param, metric or tag, else raise :class:`InvalidInput`."""
    if type(key) is not str:
        if not isinstance(key, str):
            raise InvalidInput(
                f"{what} names must be strings, got {type(key).__name__} {key!r:.60}."
            )
        key = str(key)  # a str subclass (numpy.str_, an enum member): stored as plain text
    if key in _good_keys:
        return key
    if len(key) <= MAX_KEY and _key_ok(key) and not key.isspace():
        _remember(key)
        return key
    if not key.strip():
        raise InvalidInput(f"{what} name must not be empty, got {key!r}.")
    if len(key) > MAX_KEY:
        raise InvalidInput(
            f"{what} name {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_KEY}."
        )
    bad = sorted({c for c in key if not _key_ok(c)})
    raise InvalidInput(
        f"invalid {what} name {key!r}: it contains {''.join(bad)!r}; use letters, digits, "
        "'_', '-', '.', '/' and spaces (e.g. 'val/loss')."
    )


def check_text(value: str, what: str) -> str:
    """Return ``value`` unless it holds a NUL character, which PostgreSQL cannot store
    (SQLite can), or a lone surrogate, which no database stores: refused on every
    backend alike."""
    if "\x00" in value:
        raise InvalidInput(
            f"{what} {value[:40]!r} holds a NUL character ('\\x00'), which cannot be stored. "
            "Remove it (or encode binary data, e.g. as hex)."
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"{what} {value[:40]!r} holds characters that are not valid Unicode (a lone "
                "surrogate, e.g. from a mis-decoded file name); pass text that encodes as UTF-8."
            ) from None
    return value


def _remember(key: str) -> None:
    if len(_good_keys) >= 200_000:
        _good_keys.clear()
    _good_keys.add(key)


def coerce_value(key: str, value: Any) -> float:
    """A metric value as a float; NaN and ±infinity are kept.

    Accepts ints, floats and anything with ``__float__`` (NumPy scalars,
    one-element arrays and tensors, Decimals); refuses bools, strings and None,
    and a finite number beyond the range of a float (a Decimal, a long double),
    which would otherwise become infinity.
    """
    if type(value) is float:
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        raise InvalidInput(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}. "
            "Log numbers (int or float) as metrics and text as params or tags."
        )
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"metric {key!r} must be a single real number, got {type(value).__name__} "
            f"{_short(value)} ({exc})."
        ) from None
    if math.isinf(number) and not _infinite(value):
        raise InvalidInput(
            f"metric {key!r} must be a single real number within the range of a float "
            f"(about ±1.8e308), got {type(value).__name__} {_short(value)}, which would be "
            "stored as infinity. Scale it, or log its logarithm."
        )
    return number


def _infinite(value: Any) -> bool:
    """Whether ``value`` itself is infinite (not a finite number too big for a float)."""
    is_infinite = getattr(value, "is_infinite", None)  # Decimal
    if callable(is_infinite):
        return bool(is_infinite())
    try:
        return bool(abs(value) == math.inf)  # NumPy scalars and arrays, tensors
    except Exception:  # no abs() or comparison: trust float()
        return True


def coerce_step(step: Any) -> int:
    """A step as an int within the 64-bit range; refuses bools and fractions."""
    if isinstance(step, bool):
        raise InvalidInput(f"step must be an integer, got bool {step!r}.")
    if isinstance(step, float):
        if not math.isfinite(step) or step != int(step):
            raise InvalidInput(f"step must be an integer, got float {step!r}.")
        step = int(step)
    try:
        result = int(step.__index__()) if not isinstance(step, int) else step
    except (AttributeError, TypeError):
        raise InvalidInput(
            f"step must be an integer, got {type(step).__name__} {_short(step)}."
        ) from None
    if not -_MAX_STEP <= result <= _MAX_STEP:
        raise InvalidInput(f"step must fit in 64 bits, got {result}.")
    return result


def check_run_id(run_id: Any, *, allow_prefix: bool = True) -> str:
    """A run id (or ``runs:/<id>``) in canonical form; a prefix of ≥ 6 hex chars if allowed."""
    if not isinstance(run_id, str):
        raise InvalidInput(f"a run id must be a string, got {type(run_id).__name__} {run_id!r}.")
    text = run_id.strip()
    if text.startswith("runs:/"):
        text = text[len("runs:/") :].split("/", 1)[0]
    text = text.lower()
    if not _run_id_ok(text) or (not allow_prefix and len(text) != 32):
        need = "32" if not allow_prefix else "6 to 32"
        raise InvalidInput(
            f"malformed run id {run_id!r}: expected {need} hexadecimal characters "
            "(e.g. '4f3a9c0e...', as shown by 'loopml runs list')."
        )
    return text


def check_experiment_name(name: Any) -> str:
    """Return ``name`` if it can name an experiment (1–255 printable characters)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"experiment name must be a non-empty string, got {name!r}.")
    if len(name) > MAX_KEY or not name.isprintable():
        raise InvalidInput(
            f"invalid experiment name {name[:60]!r}: expected at most {MAX_KEY} printable "
            "characters."
        )
    return name


def check_flag(value: Any, what: str) -> bool:
    """Return ``value`` if it is a bool (``True``/``False``, not 1 or "yes")."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be True or False, got {_short(value)}.")
    return value


def check_kind(kind: Any) -> str:
    """Return ``kind`` if it is a short lowercase word such as ``run``, ``trial`` or ``step``."""
    if not isinstance(kind, str) or not _kind_ok(kind):
        raise InvalidInput(
            f"invalid run kind {kind!r}: expected a lowercase word of at most 32 characters "
            "such as 'run', 'trial', 'pipeline' or 'step'."
        )
    return kind


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
