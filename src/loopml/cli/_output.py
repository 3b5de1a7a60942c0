"""Shared Rich consoles and small rendering helpers for the CLI."""

from __future__ import annotations

import datetime as _dt

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


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
