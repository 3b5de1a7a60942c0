"""How params are stored: flattened to dotted keys, each value as its JSON text.

One rule for every kind of run (plain runs, pipelines, their steps, tuning
trials): ``{"model": {"lr": 0.1, "depth": 4}}`` is stored as the params
``model.lr`` and ``model.depth``, and each value is stored as JSON text, so it
reads back with its type: ``run.params["model.depth"] == 4``, floats stay
floats, booleans booleans, ``None`` None, lists lists, strings strings.

Reading tells the two formats apart without a marker: a stored text that is
valid JSON is read as JSON, anything else as the text it is. Every value
written now is valid JSON, so it reads back exactly. Rows written before
params kept their type hold ``str(value)``: a string such as ``rf`` or
``{'lr': 0.1}`` (a Python dict's repr) is not JSON and reads back as the same
string; ``4``, ``0.1`` and ``[1, 2]`` are the text of a number or a list,
which is what was logged, and read back as that number or list. (The one
value that changes is an old *string* param that looks like a JSON number,
such as ``"4"``: it reads as ``4``, as it is also compared in filters.) Old
rows are never rewritten.

Values that are not JSON (a path, a dataset version, a dict with keys that
are not text, any object) are stored as their ``str()`` text; NumPy scalars as the number they hold; tuples as
lists; enums as their value.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from loopml.errors import InvalidInput
from loopml.tracking._validate import check_key, check_text

__all__ = ["decode", "decode_all", "encode", "encode_all", "flatten", "same", "text_of"]

_MAX_DEPTH = 50
_LONG_DIGITS = re.compile(r"\d{19}")  # an integer that may not fit in 64 bits


def flatten(values: Mapping[str, Any], what: str = "param") -> dict[str, Any]:
    """``{"model": {"lr": 0.1}}`` → ``{"model.lr": 0.1}`` (keys checked; an empty mapping
    is kept as the value ``{}``); a key produced twice is an InvalidInput."""
    if not isinstance(values, Mapping):
        raise InvalidInput(
            f"{what}s must be given as a mapping of names to values, got {type(values).__name__}."
        )
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, Mapping) and value and depth < _MAX_DEPTH and _text_keys(value):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item, depth + 1)
            return
        key = check_key(prefix, what)
        if key in out:
            raise InvalidInput(
                f"{what} {key!r} is given twice (once nested, once dotted); give it once."
            )
        out[key] = value

    for key, value in values.items():
        if not isinstance(key, str):
            check_key(key, what)
        walk(key, value, 0)
    return out


def _text_keys(value: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) for k in value)


def encode(value: Any, what: str = "param") -> str:
    """The JSON text stored for ``value``."""
    plain = _plain(value, 0)
    if isinstance(plain, float) and not math.isfinite(plain):
        text = json.dumps(plain)  # NaN, Infinity, -Infinity: JSON has no such numbers
    else:
        try:
            text = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):  # NaN inside a list, big ints
            text = json.dumps(plain, sort_keys=True, ensure_ascii=False, default=str)
    if "\\u0000" in text:  # JSON can hold it, PostgreSQL's text cannot: refused alike
        check_text(text.replace("\\u0000", "\x00"), what)
    return check_text(text, what)


def encode_all(values: Mapping[str, Any], what: str = "param") -> dict[str, str]:
    """Flattened keys and the JSON text stored for each value."""
    return {k: encode(v, f"{what} {k!r}") for k, v in flatten(values, what).items()}


def same(a: str, b: str) -> bool:
    """Whether two stored texts stand for the same value (an old row's ``rf`` and a new
    row's ``"rf"`` do)."""
    if a == b:
        return True
    x, y = decode(a), decode(b)
    return type(x) is type(y) and encode(x) == encode(y)


def decode(text: str) -> Any:
    """The value a stored param text stands for (see the module docstring)."""
    if not text:
        return text
    first = text[0]
    # plain words (old rows, e.g. 'rf') are not JSON: skip the parser for them
    if first.isalpha() and first not in "tfnNI":
        return text
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        if text in ("NaN", "Infinity", "-Infinity"):
            return float(text)
        if first in "[{" and ("NaN" in text or "Infinity" in text):
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text
    if _LONG_DIGITS.search(text) and not isinstance(value, (str, bool)) and value is not None:
        # orjson reads an integer beyond 64 bits as a float: json keeps every digit
        return json.loads(text)
    return value


def decode_all(values: Mapping[str, str]) -> dict[str, Any]:
    """Every value of a stored mapping decoded."""
    return {k: decode(v) if type(v) is str else v for k, v in values.items()}


def text_of(value: Any) -> str:
    """The text a value is compared as in filters: a string itself, anything else its
    JSON text (``4``, ``0.1``, ``true``)."""
    return value if isinstance(value, str) else encode(value)


def _plain(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value, depth + 1)
    if depth < _MAX_DEPTH:
        if isinstance(value, (list, tuple)):
            return [_plain(v, depth + 1) for v in value]
        if isinstance(value, Mapping) and _text_keys(value):
            return {k: _plain(v, depth + 1) for k, v in value.items()}
    if type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist(), depth + 1)
    return str(value)
