"""Shared Rich consoles and small rendering helpers for the CLI.

Whatever the CLI prints may hold text someone else chose (a run name, a param,
a tag, a file name), so no control character in it reaches the terminal as it
is: an escape sequence could recolour the screen, rewrite the window title or
hide what was printed. Both consoles show such characters as visible escapes
(``\\x1b``); the styles and cursor moves Rich itself emits are left alone.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.segment import Segment

# C0 controls but line feed and tab (Rich lays those out), DEL and the C1 controls
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# the same with line feed and tab: a table cell is one line
_CELL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with its control characters written as visible escapes (``\\x1b``);
    with ``one_line``, line breaks and tabs too (``\\n``, ``\\t``)."""
    return (_CELL_CONTROL if one_line else _CONTROL).sub(_shown, text)


class _Printable:
    """A renderable as Rich renders it, with control characters in its text escaped."""

    def __init__(self, renderable: ConsoleRenderable | str) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            if segment.control is None and _CONTROL.search(segment.text):
                yield Segment(printable(segment.text), segment.style)
            else:
                yield segment


class _Guard(RenderHook):
    def process_renderables(
        self, renderables: Sequence[ConsoleRenderable | str] | Iterable[ConsoleRenderable | str]
    ) -> list[ConsoleRenderable]:
        return [_Printable(r) for r in renderables]


def _console(**kwargs: object) -> Console:
    """A console that measures the terminal each time it prints.

    Rich fixes a console's size from ``COLUMNS`` and ``LINES`` when it is made, and these
    consoles are made once, on import: a command run later in the same process (the
    automation daemon, an embedding program) would keep the width of whatever was set
    then. Without a fixed size Rich reads ``COLUMNS``/``LINES``, else the terminal, on
    every print."""
    made = Console(highlight=False, **kwargs)  # type: ignore[arg-type]
    made._width = None
    made._height = None
    made.push_render_hook(_Guard())
    return made


console = _console()
err_console = _console(stderr=True)


def fmt_time(ts: float | _dt.datetime | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS`` (empty for None)."""
    if ts is None:
        return ""
    if isinstance(ts, (int, float)):
        ts = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(n: int | float) -> str:
    """A byte count for people: ``1.5 MiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def fmt_duration(seconds: float | None) -> str:
    """A duration for people: ``850 ms``, ``12.3 s``, ``4m05s``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
