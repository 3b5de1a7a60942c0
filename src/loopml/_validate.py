"""Checks of arguments at the SDK's doors: text, lists of text, paths, counts and numbers.

Each returns the value in canonical form or raises
:class:`~loopml.errors.InvalidInput` naming the argument, what it expected and
what it got, so a wrong type never surfaces later as a TypeError from deep
inside, or as a database error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.errors import InvalidInput

__all__ = [
    "count",
    "file_names",
    "inside",
    "number",
    "path",
    "seconds",
    "shown",
    "text",
    "texts",
    "writable",
]

_MAX_COUNT = 2**31 - 1


def shown(value: Any) -> str:
    """``repr(value)``, cut to 60 characters for an error message. A value nested too deep
    for ``repr`` (a list of lists a thousand levels down, as a hostile JSON body can hold)
    is shown by its outer levels instead of raising RecursionError."""
    try:
        shown = repr(value)
    except RecursionError:
        import reprlib

        shown = reprlib.repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def text(value: Any, what: str, *, empty: bool = False) -> str:
    """``value`` if it is text that can be stored: a str, UTF-8 encodable, without NUL."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, got {type(value).__name__} {shown(value)}.")
    if not empty and not value.strip():
        raise InvalidInput(f"{what} must not be empty, got {value!r}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{what} {shown(value)} holds characters that are not valid Unicode (a lone "
            "surrogate); pass text that can be encoded as UTF-8."
        ) from None
    if "\x00" in value:
        raise InvalidInput(
            f"{what} {shown(value)} holds a NUL character ('\\x00'), which cannot be stored."
        )
    return value


def texts(value: Any, what: str) -> list[str]:
    """One text or a list/tuple of texts, as a list (empty entries dropped)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [text(value, what)] if value.strip() else []
    if not isinstance(value, Sequence) or isinstance(value, (bytes, bytearray)):
        raise InvalidInput(
            f"{what} must be text or a list of texts, got {type(value).__name__} {shown(value)}."
        )
    return [text(item, f"each of {what}") for item in value if not isinstance(item, str) or item]


def path(value: Any, what: str) -> Path:
    """``value`` as a path (a str or ``os.PathLike``), checked to be one the OS can take."""
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidInput(
            f"{what} must be a path (text or pathlib.Path), got {type(value).__name__} "
            f"{shown(value)}."
        )
    raw = os.fspath(value)
    if isinstance(raw, bytes):
        raise InvalidInput(f"{what} must be a text path, got bytes {shown(raw)}.")
    text(raw, what)
    if any(len(part.encode()) > 255 for part in Path(raw).parts):
        raise InvalidInput(f"{what} {shown(raw)} has a name longer than the OS allows (255 bytes).")
    return Path(raw)


def writable(value: Any, what: str) -> Path:
    """``value`` as a path if a file can be written there: its folder exists and may be
    written, and it is not a folder itself; else InvalidInput naming it. Checked before
    the work whose result goes there, so a bad path costs nothing and stores nothing."""
    target = path(value, what)
    folder = target.parent
    if target.is_dir():
        raise InvalidInput(
            f"the {what} {shown(str(target))} is a folder: name a file in it, e.g. "
            f"{target / 'report.html'}."
        )
    if not folder.is_dir():
        raise InvalidInput(
            f"cannot write the {what} {shown(str(target))}: {folder} is not an existing "
            "folder; create it first or name another path."
        )
    if (
        not os.access(folder, os.W_OK | os.X_OK)
        or (target.exists() and not os.access(target, os.W_OK))
        or not _can_create(folder)
    ):
        raise InvalidInput(
            f"cannot write the {what} {shown(str(target))}: permission denied; name a path "
            "this process may write."
        )
    return target


def _can_create(folder: Path) -> bool:
    """Whether a file can be made in ``folder``: tried, since permissions alone do not say
    (a read-only mount, ``/proc``, an ACL, root). The file made is removed at once."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".loopml-probe-"):
            return True
    except OSError:
        return False


def count(
    value: Any, what: str, *, low: int = 1, high: int | None = _MAX_COUNT, hint: str = ""
) -> int:
    """``value`` if it is a whole number (an ``int``) from ``low`` to ``high`` (no upper
    bound when ``high`` is None); ``hint``, if given, ends the error message."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise InvalidInput(
            _ending(f"{what} must be a whole number {bounds}, got {shown(value)}.", hint)
        )
    return value


def number(
    value: Any,
    what: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    whole: bool = False,
    hint: str = "",
) -> float:
    """``value`` as a float if it is a finite number (an int or a float, not a bool, NaN or
    an infinity) from ``low`` to ``high``; with ``whole``, one without a fractional part
    (``3`` or ``3.0``). ``hint``, if given, ends the error message.

    Example::

        number(0.2, "max_error_rate", low=0, high=1)   # 0.2
        number(True, "max_error_rate", low=0, high=1)  # InvalidInput: ... got True.
    """
    got: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            got = float(value)
        except OverflowError:  # an int beyond any float
            got = None
    if (
        got is None
        or not math.isfinite(got)
        or not low <= got <= high
        or (whole and not got.is_integer())
    ):
        kind = "a whole number" if whole else "a number"
        if math.isfinite(low) and math.isfinite(high):
            expected = f"{kind} from {low:g} to {high:g}"
        elif math.isfinite(low):
            expected = f"{kind} >= {low:g}"
        elif math.isfinite(high):
            expected = f"{kind} <= {high:g}"
        else:
            expected = f"a finite {kind.removeprefix('a ')}"
        raise InvalidInput(_ending(f"{what} must be {expected}, got {shown(value)}.", hint))
    return got


def _ending(message: str, hint: str) -> str:
    return f"{message} {hint}" if hint else message


def seconds(value: Any, what: str) -> float:
    """``value`` as a float if it is a number of seconds >= 0 (not a bool, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidInput(f"{what} must be a number >= 0, got {shown(value)}.")
    return float(value)


def file_names(names: Sequence[str], where: str) -> None:
    """Refuse file names that are not valid UTF-8 on the disk (Python shows their bytes as
    lone surrogates): no database or manifest can store them. One encode for all of them."""
    try:
        "\n".join(names).encode("utf-8")
    except UnicodeEncodeError:
        bad = next(n for n in names if not _encodes(n))
        shown_name = bad.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise InvalidInput(
            f"{where} holds the file '{shown_name}', whose name is not valid UTF-8; loopml "
            "stores names as text. Rename the file (e.g. with 'convmv'), or leave it out."
        ) from None


def inside(name: Any) -> bool:
    """Whether ``name`` is a relative POSIX path that stays inside the folder it is joined
    to: text, not empty, not absolute, no ``..``, ``.`` or empty part, no backslash,
    drive or NUL. For names read from stored records (a manifest's file list), which
    must never reach outside the folder they are written into or read from."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        return False
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _encodes(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
