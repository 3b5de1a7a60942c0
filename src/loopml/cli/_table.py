"""Tables for every listing command: fitted to the terminal, or JSON / CSV for scripts.

A command describes its columns (most important first) and hands over rows of
raw values; :func:`emit` renders them in the format the user asked for:

- ``table`` (default): the columns that fit the terminal's width, in order.
  A cell is never wrapped or broken inside a word: long text ends in ``…``,
  numbers are never cut (a column that cannot show its numbers whole is left
  out and named in a footer instead).
- ``json``: a list of objects, one per row, keyed by column key with JSON
  values (numbers stay numbers, times are ISO 8601 in UTC, durations are
  seconds); every column is included whatever the terminal's width.
- ``csv``: the same columns and values, with a header row, for spreadsheets: a text
  cell a spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return, and not a number) gets a leading ``'``, and
  control characters other than line breaks and tabs are written as ``\\x1b``.

No cell puts a control character on the terminal: the table shows them as
escapes (``\\x1b``, ``\\n``), JSON as ``\\u001b`` (its value unchanged).

``--columns a,b`` picks and orders the columns in all three formats.
"""

from __future__ import annotations

import csv
import datetime as _dt
import enum
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopml.cli._output import console, fmt_bytes, fmt_duration, printable

__all__ = [
    "STATUS_STYLE",
    "Column",
    "Format",
    "differing_keys",
    "emit",
    "fmt_age",
    "fmt_number",
    "parse_columns",
]

_GAP = 2  # spaces between columns
_ELLIPSIS = "…"
_ID_WIDTH = 8  # characters of an id shown in a table: unique enough to type back
# what JSON leaves as it is but a terminal may act on: DEL and the C1 controls
_C1 = re.compile("[\x7f-\x9f]")
# control characters a CSV cell holds as text (line breaks and tabs are quoted as data)
_CSV_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# a cell starting with one of these is a formula to a spreadsheet
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Format(str, enum.Enum):
    """Output formats of listing commands."""

    table = "table"
    json = "json"
    csv = "csv"


@dataclass(frozen=True)
class Column:
    """One column: ``key`` names it in ``--columns``, JSON and CSV; ``kind`` says how to
    show its values.

    Kinds: ``text``, ``number``, ``age`` (a time shown as ``5m ago``), ``time`` (a local
    date and time), ``duration`` (seconds), ``bytes``, ``status`` (coloured), ``id`` (a
    run id or digest: its first 8 characters in the table, whole in JSON and CSV).
    ``max_width`` caps a text column in the table (the rest ends in ``…``);
    ``required`` columns are shown even when the terminal is narrow.
    """

    key: str
    header: str | None = None
    kind: str = "text"
    max_width: int | None = None
    required: bool = False
    style: str = ""

    @property
    def title(self) -> str:
        return self.header if self.header is not None else self.key

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "duration", "bytes")


STATUS_STYLE = {
    # Rich style of each status word, in every table and view
    "RUNNING": "cyan",
    "FINISHED": "green",
    "FAILED": "red",
    "KILLED": "yellow",
    "PRUNED": "yellow",
    "SKIPPED": "dim",
    "passed": "green",
    "failed": "red",
    "skipped": "dim",
    "warning": "yellow",
    "PROMOTED": "green",
    "APPROVED": "green",
    "MOVED": "green",
    "FORCED": "yellow",
    "PENDING_APPROVAL": "cyan",
    "REFUSED": "red",
    "REJECTED": "red",
    "drifted": "red",
    "ok": "green",
    "OK": "green",
    "ALERT": "red",
    "TOO_FEW_ROWS": "dim",
    "FIRING": "red",
    "RESOLVED": "green",
    "SUCCEEDED": "green",
    "ROLLED_BACK": "red",
}


def fmt_number(value: Any) -> str:
    """A number for people: ints whole, floats to 4 significant digits, no needless
    exponent (``0.1079``, ``12346``, ``1.2e-05``); empty for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e4 and magnitude < 1e15:
        return str(round(value))
    text = f"{value:.4g}"
    return text


def fmt_age(ts: float | _dt.datetime | None, now: float | None = None) -> str:
    """How long ago ``ts`` was: ``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``, and a
    date beyond 30 days."""
    if ts is None:
        return ""
    seconds = ts.timestamp() if isinstance(ts, _dt.datetime) else float(ts)
    delta = (time.time() if now is None else now) - seconds
    if delta < 0:
        return "just now"
    if delta < 60:
        return f"{int(delta)}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400:
        return f"{int(delta // 3600)}h ago"
    if delta < 30 * 86400:
        return f"{int(delta // 86400)}d ago"
    return _dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d")


def _fmt_time(ts: Any) -> str:
    from loopml.cli._output import fmt_time

    return fmt_time(ts)


def _cell(column: Column, value: Any) -> str:
    return printable(_cell_text(column, value), one_line=True)


def _cell_text(column: Column, value: Any) -> str:
    if value is None:
        return ""
    kind = column.kind
    if kind == "number":
        return fmt_number(value)
    if kind == "age":
        return fmt_age(value)
    if kind == "time":
        return _fmt_time(value)
    if kind == "duration":
        return fmt_duration(value)
    if kind == "bytes":
        return fmt_bytes(value)
    if kind == "id":
        return str(value)[:_ID_WIDTH]
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _json_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind in ("age", "time"):
        if isinstance(value, _dt.datetime):
            return value.astimezone(_dt.timezone.utc).isoformat()
        return _dt.datetime.fromtimestamp(float(value), tz=_dt.timezone.utc).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)  # JSON has no NaN or Infinity
    if isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def parse_columns(text: str | None, available: Sequence[Column]) -> list[Column] | None:
    """The columns ``--columns`` names, in its order; None when it was not given.
    A column that is not there is an InvalidInput that lists those that are."""
    if text is None:
        return None
    from loopml.errors import InvalidInput

    by_key = {c.key: c for c in available}
    chosen: list[Column] = []
    for raw in text.split(","):
        key = raw.strip()
        if not key:
            continue
        column = by_key.get(key)
        if column is None:
            known = ", ".join(c.key for c in available)
            raise InvalidInput(
                f"--columns: no column {key!r} here. Columns: {known}."
                if known
                else f"--columns: no column {key!r}: there is nothing to show."
            )
        if column not in chosen:
            chosen.append(column)
    if not chosen:
        raise InvalidInput(f"--columns: expected column names separated by commas, got {text!r}.")
    return chosen


def differing_keys(
    maps: Sequence[Mapping[str, Any]], preferred: Iterable[str] = (), limit: int = 8
) -> list[str]:
    """Keys worth a column: those the user named first, then those whose values differ
    most between the rows (then the most common), at most ``limit`` in all."""
    keys: list[str] = []
    for key in preferred:
        if key not in keys:
            keys.append(key)
    seen: dict[str, set[str]] = {}
    count: dict[str, int] = {}
    for m in maps:
        for key, value in m.items():
            seen.setdefault(key, set()).add(repr(value))
            count[key] = count.get(key, 0) + 1
    ranked = sorted(seen, key=lambda k: (-len(seen[k]), -count[k], k))
    for key in ranked:
        if len(keys) >= max(limit, 0):
            break
        if key not in keys:
            keys.append(key)
    return keys


def emit(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    fmt: Format | str = Format.table,
    columns_arg: str | None = None,
    empty: str = "Nothing to show.",
    footer: str | None = None,
    width: int | None = None,
) -> None:
    """Print ``rows`` (mappings of column key to raw value) in ``fmt``.

    ``columns`` are all the columns there are, most important first; ``columns_arg`` is
    what the user gave to ``--columns``. ``empty`` is printed (to stderr for JSON and CSV,
    which print an empty list or a lone header) when there are no rows; ``footer`` is a
    note under the table (``table`` format only).
    """
    fmt = Format(fmt)
    picked = parse_columns(columns_arg, columns)
    if fmt is Format.json:
        shown = picked or list(columns)
        data = [{c.key: _json_value(c, row.get(c.key)) for c in shown} for row in rows]
        text = json.dumps(data, indent=2, ensure_ascii=False)
        sys.stdout.write(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")
        return
    if fmt is Format.csv:
        shown = picked or list(columns)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.key for c in shown])
        for row in rows:
            writer.writerow([_csv_value(c, row.get(c.key)) for c in shown])
        return
    if not rows:
        console.print(empty, highlight=False, soft_wrap=True)
        return
    _print_table(
        rows, picked or list(columns), explicit=picked is not None, footer=footer, width=width
    )


def _csv_value(column: Column, value: Any) -> Any:
    out = _json_value(column, value)
    if out is None:
        return ""
    if isinstance(out, (dict, list)):
        out = json.dumps(out, sort_keys=True, ensure_ascii=False)
    if not isinstance(out, str):
        return out
    out = _CSV_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", out)
    if out.startswith(_FORMULA_START) and not _is_number(out):
        return "'" + out  # what spreadsheets take as "this is text"
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text == text.strip()


def _print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    explicit: bool,
    footer: str | None,
    width: int | None,
) -> None:
    from rich.cells import cell_len
    from rich.markup import escape
    from rich.table import Table

    total = width or console.width
    cells = {c.key: [_cell(c, row.get(c.key)) for row in rows] for c in columns}

    def natural(column: Column) -> int:
        return max([cell_len(column.title), *(cell_len(v) for v in cells[column.key])])

    def floor(column: Column) -> int:
        """The narrowest a column may get: numbers and short values whole, text down to
        its header or 8 characters, whichever is wider."""
        full = natural(column)
        if column.numeric or column.kind in ("age", "time", "status", "id"):
            return full
        return min(full, max(cell_len(column.title), 8))

    widths: dict[str, int] = {}
    for column in columns:
        want = natural(column)
        if column.max_width and not explicit:
            want = min(want, max(column.max_width, cell_len(column.title)))
        widths[column.key] = want

    shown: list[Column] = []
    hidden: list[Column] = []
    used = 0
    for column in columns:
        need = widths[column.key] + (_GAP if shown else 0)
        if used + need <= total or column.required or explicit:
            shown.append(column)
            used += need
        else:
            hidden.append(column)
    # still too wide (required or explicit columns): narrow text columns, widest first
    overflow = used - total
    if overflow > 0:
        for column in sorted(shown, key=lambda c: -widths[c.key]):
            spare = widths[column.key] - floor(column)
            if spare <= 0:
                continue
            cut = min(spare, overflow)
            widths[column.key] -= cut
            overflow -= cut
            if overflow <= 0:
                break

    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, _GAP // 2))
    for column in shown:
        table.add_column(
            escape(_clip(printable(column.title, one_line=True), widths[column.key])),
            justify="right" if column.numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[column.key],
            style=column.style or None,
        )
    for r in range(len(rows)):
        out = []
        for column in shown:
            text = _clip(cells[column.key][r], widths[column.key])
            rendered = escape(text)
            if column.kind == "status" and text:
                style = STATUS_STYLE.get(text.split()[0], "")
                rendered = f"[{style}]{rendered}[/]" if style else rendered
            out.append(rendered)
        table.add_row(*out)
    console.print(table, soft_wrap=False, crop=True)
    notes = []
    if hidden:
        names = ", ".join(c.key for c in hidden)
        notes.append(
            f"{len(hidden)} more column{'s' if len(hidden) != 1 else ''} did not fit: "
            f"{names}; use --columns, --format json or a wider terminal"
        )
    if footer:
        notes.append(footer)
    for note in notes:
        console.print(f"[dim]({escape(note)})[/]", highlight=False)  # wrapped between words


def _clip(text: str, width: int) -> str:
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    if width <= 1:
        return _ELLIPSIS[:width]
    return set_cell_size(text, width - 1).rstrip() + _ELLIPSIS
