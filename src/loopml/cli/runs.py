"""``loopml runs``: list, show and compare tracked runs.

Run ids may be shortened to any unique prefix of at least 6 characters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import typer

from loopml.cli._output import console, fmt_bytes, fmt_duration, fmt_time

if TYPE_CHECKING:
    from rich.table import Table

    from loopml.tracking import Run

app = typer.Typer(help="List, show and compare tracked runs.", no_args_is_help=True)

_TRACKING_URI = typer.Option(None, "--tracking-uri", help="Database URL (default: configured).")
_STATUS_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}


@app.command("list")
def list_runs(
    experiment: str | None = typer.Option(
        None, "--experiment", "-e", help="Only runs of this experiment."
    ),
    filter: str = typer.Option(
        "", "--filter", "-f", help="Filter, e.g. \"metrics.f1 > 0.9 and params.model = 'rf'\"."
    ),
    order_by: list[str] | None = typer.Option(
        None,
        "--order-by",
        "-o",
        help="Sort key such as 'metrics.f1 DESC' (repeat for more; default: newest first).",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many runs."),
    tracking_uri: str | None = _TRACKING_URI,
) -> None:
    """List runs as a table, with their main metrics and params."""
    from rich.table import Table

    from loopml.tracking import mentioned_keys, search_runs

    runs = search_runs(
        filter,
        experiment=experiment,
        order_by=order_by,
        max_results=limit,
        tracking_uri=tracking_uri,
    )
    if not runs:
        console.print("No runs found.")
        return
    named = mentioned_keys(filter, list(order_by or []))
    metric_keys = _pick_keys(list(named.metrics), [r.metrics for r in runs], 4)
    param_keys = _pick_keys(list(named.params), [r.params for r in runs], 3)
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("name", min_width=8, overflow="fold")
    table.add_column("experiment", min_width=6, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("start", no_wrap=True)
    table.add_column("duration", no_wrap=True, justify="right")
    for key in metric_keys:
        table.add_column(key, justify="right")
    for key in param_keys:
        table.add_column(f"{key}", style="dim")
    for run in runs:
        table.add_row(
            run.id[:8],
            run.name,
            run.experiment,
            _status(run),
            fmt_time(run.start_time),
            fmt_duration(run.duration),
            *(_num(run.metrics.get(k)) for k in metric_keys),
            *(run.params.get(k, "") for k in param_keys),
        )
    console.print(table)
    if len(runs) == limit:
        console.print(f"[dim](first {limit} runs; use --limit to see more)[/]")


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix (≥ 6 characters)."),
    diff: bool = typer.Option(False, "--diff", help="Also print the stored uncommitted git diff."),
    tracking_uri: str | None = _TRACKING_URI,
) -> None:
    """Show everything recorded about one run."""
    from rich.markup import escape
    from rich.table import Table

    from loopml.tracking import child_runs, datasets_read, get_run, list_artifacts

    run = get_run(run_id, tracking_uri=tracking_uri)
    console.print(f"[bold]{escape(run.name)}[/]  {run.id}  [dim]({escape(run.experiment)})[/]")
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim")
    info.add_column()
    rows: list[tuple[str, str]] = [
        ("status", _status(run)),
        ("kind", run.kind),
        ("parent", run.parent_id or ""),
        ("started", fmt_time(run.start_time)),
        ("ended", fmt_time(run.end_time)),
        ("duration", fmt_duration(run.duration)),
        ("user", run.user or ""),
        ("host / pid", f"{run.host or ''} / {run.pid or ''}"),
        ("entry point", run.entry_point or ""),
        ("command", run.command or ""),
        ("git commit", run.git_commit or ""),
        ("git branch", run.git_branch or ""),
        ("git dirty", _dirty(run)),
    ]
    for label, value in rows:
        if value:
            info.add_row(label, escape(value) if label != "status" else value)
    console.print(info)
    _section("params", run.params)
    _section("metrics (latest)", {k: _num(v) for k, v in sorted(run.metrics.items())})
    _section("tags", run.tags)
    datasets = datasets_read(run.id, tracking_uri=tracking_uri)
    if datasets:
        console.print("\n[bold]datasets read[/]")
        for uri in datasets:
            console.print(f"  {escape(uri)}", highlight=False, soft_wrap=True)
    artifacts = list_artifacts(run.id, tracking_uri=tracking_uri)
    if artifacts:
        console.print("\n[bold]artifacts[/]")
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column()
        table.add_column(justify="right", style="dim")
        for entry in artifacts:
            table.add_row(escape(entry.path), fmt_bytes(entry.size))
        console.print(table)
    children = child_runs(run.id, tracking_uri=tracking_uri)
    if children:
        _section("child runs", {c.id[:8]: f"{c.name} ({c.status})" for c in children})
    _section("environment", run.environment)
    if run.error:
        console.print("\n[bold red]error[/]")
        console.print(escape(run.error.rstrip()), highlight=False)
    if diff:
        _print_diff(run, tracking_uri)


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or unique prefixes)."),
    all_rows: bool = typer.Option(
        False, "--all", help="Also show params and metrics that are equal in every run."
    ),
    tracking_uri: str | None = _TRACKING_URI,
) -> None:
    """Show params and metrics of runs side by side; differences are highlighted."""
    from rich.markup import escape
    from rich.table import Table

    from loopml.errors import InvalidInput
    from loopml.tracking import get_run

    if len(run_ids) < 2:
        raise InvalidInput(f"compare needs at least two runs, got {len(run_ids)}.")
    runs = [get_run(r, tracking_uri=tracking_uri) for r in run_ids]
    table = Table(header_style="bold", pad_edge=False)
    table.add_column("")
    for run in runs:
        table.add_column(f"{escape(run.name)}\n[dim]{run.id[:8]}[/]")

    def add(label: str, values: list[str], style: str = "") -> None:
        differ = len(set(values)) > 1
        if not differ and not all_rows:
            return
        cells = [f"[bold yellow]{escape(v)}[/]" if differ else escape(v) for v in values]
        table.add_row(f"[{style}]{escape(label)}[/]" if style else escape(label), *cells)

    add("experiment", [r.experiment for r in runs])
    add("status", [r.status for r in runs])
    add("duration", [fmt_duration(r.duration) for r in runs])
    add("git commit", [(r.git_commit or "")[:10] for r in runs])
    for key in sorted(set().union(*(r.params for r in runs))):
        add(f"params.{key}", [r.params.get(key, "—") for r in runs], "cyan")
    for key in sorted(set().union(*(r.metrics for r in runs))):
        values = [r.metrics.get(key) for r in runs]
        add(f"metrics.{key}", [_num(v) if v is not None else "—" for v in values], "magenta")
    if not table.rows:
        console.print("The runs have the same params and metrics (use --all to see them).")
        return
    console.print(table)


def _status(run: Run) -> str:
    text = run.display_status
    return f"[{_STATUS_STYLE.get(run.status, '')}]{text}[/]"


def _dirty(run: Run) -> str:
    if run.git_dirty is None:
        return ""
    if not run.git_dirty:
        return "no"
    return f"yes (diff stored, {run.git_diff_digest[:12]}…)" if run.git_diff_digest else "yes"


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}"


def _section(title: str, values: dict[str, str]) -> None:
    if not values:
        return
    from rich.markup import escape
    from rich.table import Table

    console.print(f"\n[bold]{title}[/]")
    table: Table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    for key in sorted(values):
        table.add_row(escape(key), escape(str(values[key])))
    console.print(table)


def _print_diff(run: Run, tracking_uri: str | None) -> None:
    from loopml.tracking import get_git_diff

    console.print("\n[bold]git diff[/]")
    text = get_git_diff(run.id, tracking_uri=tracking_uri)
    if text is None:
        console.print("[dim](no uncommitted changes were recorded)[/]")
        return
    console.out(text, highlight=False)


def _pick_keys(preferred: list[str], maps: Sequence[Mapping[str, object]], limit: int) -> list[str]:
    """The keys to show as columns: those the user named, then the most common ones."""
    keys: list[str] = []
    for key in preferred:
        if key not in keys:
            keys.append(key)
    counts = Counter(k for m in maps for k in m)
    for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(keys) >= limit:
            break
        if key not in keys:
            keys.append(key)
    return keys[: max(limit, len(preferred))]
