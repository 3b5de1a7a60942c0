"""``loopml runs``: list, show, compare, delete and restore tracked runs, and show a
metric's history.

Run ids may be shortened to any unique prefix of at least 6 characters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli import _options
from loopml.cli._output import console, fmt_bytes, fmt_duration, fmt_time
from loopml.cli._table import STATUS_STYLE, Column, Format, differing_keys, emit, fmt_number

if TYPE_CHECKING:
    from loopml.tracking import Run

app = typer.Typer(
    help="List, show and compare tracked runs. Delete and restore them; metric histories.",
    no_args_is_help=True,
)

_RUN_ARG = "Run id or a unique prefix (≥ 6 characters)."
#: the tag pipelines record on each step run: hit, miss or off
_CACHE_TAG = "loopml.cache"
_SPARK = "▁▂▃▄▅▆▇█"


@app.command("list")
def list_runs(
    experiment: str | None = _options.experiment("Only runs of this experiment."),
    filter: str = typer.Option(
        "",
        "--filter",
        metavar="FILTER",
        help="Filter, e.g. \"metrics.f1 > 0.9 and params.model = 'rf'\".",
        show_default=False,
    ),
    order_by: list[str] | None = typer.Option(
        None,
        "--order-by",
        metavar="KEY",
        help="Sort key such as 'metrics.f1 DESC' (repeat for more; default: newest first).",
        show_default=False,
    ),
    limit: int = _options.limit(50, "Show at most this many runs."),
    all_runs: bool = typer.Option(
        False, "--all", help="Also list child runs (pipeline steps, trials), not only top-level."
    ),
    deleted: bool = typer.Option(False, "--deleted", help="Also list deleted runs."),
    fmt: Format = _options.output_format(),
    columns: str | None = _options.columns(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """List runs, newest first: top-level runs (not pipeline steps) unless --all."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import mentioned_keys, search_runs

    runs = search_runs(
        filter,
        experiment=experiment,
        order_by=order_by,
        max_results=limit,
        top_level_only=not all_runs,
        include_deleted=deleted,
    )
    named = mentioned_keys(filter, list(order_by or []))
    asked = [c.strip() for c in (columns or "").split(",")]
    metric_keys = _keys([r.metrics for r in runs], named.metrics, asked, "metrics.", fmt, 4)
    param_keys = _keys([r.params for r in runs], named.params, asked, "params.", fmt, 3)
    cols = [
        Column("id", required=True),
        Column("name", max_width=24),
        Column("status", kind="status"),
        Column("started", kind="age"),
        Column("duration", kind="duration"),
        *(Column(f"metrics.{k}", header=k, kind="number") for k in metric_keys),
        *(Column(f"params.{k}", header=k, max_width=16) for k in param_keys),
        Column("experiment", max_width=20),
    ]
    if deleted:
        cols.append(Column("deleted"))
    short = fmt is Format.table
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "id": run.id[:8] if short else run.id,
            "name": run.name,
            "status": run.display_status,
            "started": run.start_time,
            "duration": run.duration,
            "experiment": run.experiment,
            "deleted": "yes" if run.deleted else "",
        }
        if not short:
            row["deleted"] = run.deleted
        for k in metric_keys:
            row[f"metrics.{k}"] = run.metrics.get(k)
        for k in param_keys:
            row[f"params.{k}"] = run.params.get(k)
        rows.append(row)
    footer = f"first {limit} runs; use --limit to see more" if len(runs) == limit else None
    emit(rows, cols, fmt=fmt, columns_arg=columns, empty="No runs found.", footer=footer)


def _keys(
    maps: list[dict[str, Any]],
    named: Sequence[str],
    asked: list[str],
    prefix: str,
    fmt: Format,
    limit: int,
) -> list[str]:
    """The metric or param keys that get a column: those the filter, --order-by or
    --columns name, then (in a table) the few that differ most between the runs, or (in
    JSON and CSV, which scripts read) every key any run has, in name order."""
    preferred = [*named, *(c[len(prefix) :] for c in asked if c.startswith(prefix))]
    if fmt is Format.table:
        return differing_keys(maps, preferred, limit=limit)
    every = sorted({k for m in maps for k in m})
    return list(dict.fromkeys([*preferred, *every]))


@app.command("show")
def show(
    run_id: str = typer.Argument(..., metavar="RUN", help=_RUN_ARG),
    diff: bool = typer.Option(False, "--diff", help="Also print the stored uncommitted git diff."),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Show everything recorded about one run, with the tree of its child runs."""
    _options.use_stores(tracking_uri, artifact_uri)
    from rich.markup import escape
    from rich.table import Table

    from loopml.tracking import datasets_read, get_run, list_artifacts

    run = get_run(run_id)
    console.print(f"[bold]{escape(run.name)}[/]  {run.id}  [dim]({escape(run.experiment)})[/]")
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim", no_wrap=True)
    info.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("status", _status(run)),
        ("deleted", fmt_time(run.deleted_at) + " (restore with 'loopml runs restore')")
        if run.deleted_at
        else ("deleted", ""),
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
        if value and value != " / ":
            info.add_row(label, escape(value) if label != "status" else value)
    console.print(info)
    _section("params", {k: _text(v) for k, v in run.params.items()})
    _section("metrics (latest)", {k: fmt_number(v) for k, v in run.metrics.items()})
    _section("tags", run.tags)
    datasets = datasets_read(run.id)
    if datasets:
        console.print("\n[bold]datasets read[/]")
        for uri in datasets:
            console.print(f"  {escape(uri)}", highlight=False, soft_wrap=True)
    artifacts = list_artifacts(run.id)
    if artifacts:
        console.print("\n[bold]artifacts[/]")
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(overflow="fold")
        table.add_column(justify="right", style="dim", no_wrap=True)
        for entry in artifacts:
            table.add_row(escape(entry.path), fmt_bytes(entry.size))
        console.print(table)
    _print_children(run)
    _section("environment", run.environment)
    if run.error:
        console.print("\n[bold red]error[/]")
        console.print(escape(run.error.rstrip()), highlight=False)
    if diff:
        _print_diff(run)


_MAX_TREE = 200


def _print_children(run: Run) -> None:
    """The tree of the run's child runs (a pipeline's steps, a study's trials and their
    steps): name, status, cache hit and duration of each."""
    from rich.markup import escape
    from rich.tree import Tree

    from loopml.tracking import child_runs

    children = child_runs(run.id)
    if not children:
        return
    console.print("\n[bold]child runs[/]")
    tree = Tree(f"{escape(run.name)} [dim]{run.id[:8]}[/]", guide_style="dim")
    shown = 0
    pending: list[tuple[Tree, list[Run]]] = [(tree, children)]
    while pending and shown < _MAX_TREE:
        node, runs = pending.pop(0)
        for child in runs:
            if shown >= _MAX_TREE:
                node.add("[dim]…[/]")
                break
            shown += 1
            parts = [f"{escape(child.name)}", _status(child)]
            cache = child.tags.get(_CACHE_TAG)
            if cache == "hit":
                parts.append("[cyan]cache hit[/]")
            elif cache == "miss":
                parts.append("[dim]cache miss[/]")
            parts.append(fmt_duration(child.duration))
            if child.deleted:
                parts.append("[dim](deleted)[/]")
            parts.append(f"[dim]{child.id[:8]}[/]")
            branch = node.add("  ".join(p for p in parts if p))
            grandchildren = child_runs(child.id)
            if grandchildren:
                pending.append((branch, grandchildren))
    console.print(tree)


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(
        ..., metavar="RUN...", help="Two or more run ids (or unique prefixes)."
    ),
    all_rows: bool = typer.Option(
        False, "--all", help="Also show params and metrics that are equal in every run."
    ),
    fmt: Format = _options.output_format(),
    columns: str | None = _options.columns(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Show params and metrics of runs side by side (what differs, unless --all)."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.errors import InvalidInput
    from loopml.tracking import get_run

    if len(run_ids) < 2:
        raise InvalidInput(f"compare needs at least two runs, got {len(run_ids)}.")
    runs = [get_run(r) for r in run_ids]
    cols = [Column("key", header="", required=True, max_width=40)]
    cols += [Column(r.id, header=r.id[:8], required=i < 2) for i, r in enumerate(runs)]
    rows: list[dict[str, Any]] = []

    def add(label: str, values: Sequence[Any], always: bool = False) -> None:
        if always or all_rows or len({json.dumps(v, default=str) for v in values}) > 1:
            rows.append({"key": label, **{r.id: v for r, v in zip(runs, values, strict=True)}})

    add("name", [r.name for r in runs], always=True)
    add("experiment", [r.experiment for r in runs])
    add("status", [r.status.value for r in runs])
    add("duration", [_round(r.duration) for r in runs])
    add("git commit", [(r.git_commit or "")[:10] for r in runs])
    for key in sorted(set().union(*(r.params for r in runs))):
        add(f"params.{key}", [r.params.get(key) for r in runs])
    for key in sorted(set().union(*(r.metrics for r in runs))):
        add(f"metrics.{key}", [r.metrics.get(key) for r in runs])
    footer = None
    if len(rows) == 1 and not all_rows:
        footer = "the runs have the same params and metrics; --all shows them"
    emit(rows, cols, fmt=fmt, columns_arg=columns, footer=footer)


@app.command("delete")
def delete(
    run_ids: list[str] = typer.Argument(..., metavar="RUN...", help=_RUN_ARG),
    force: bool = typer.Option(
        False, "--force", help="Delete a run even while it is RUNNING in a live process."
    ),
    quiet: bool = _options.quiet(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Delete runs and their child runs (until 'loopml gc --force'; see restore)."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import delete_run, get_run

    for run in [get_run(r) for r in run_ids]:  # every id is checked before any is deleted
        done = delete_run(run.id, force=force)
        if not quiet:
            console.print(f"deleted run {done.id[:8]} ({done.name})", markup=False)


@app.command("restore")
def restore(
    run_ids: list[str] = typer.Argument(..., metavar="RUN...", help=_RUN_ARG),
    quiet: bool = _options.quiet(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Restore deleted runs and their child runs."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import get_run, restore_run

    for run in [get_run(r) for r in run_ids]:
        done = restore_run(run.id)
        if not quiet:
            note = " (its experiment is deleted: restore it too)" if done.deleted else ""
            console.print(f"restored run {done.id[:8]} ({done.name}){note}", markup=False)


@app.command("metrics")
def metrics(
    run_id: str = typer.Argument(..., metavar="RUN", help=_RUN_ARG),
    key: str = typer.Argument(..., metavar="KEY", help="The metric, e.g. loss."),
    limit: int = _options.limit(
        20, "Rows of the table: the last N values (json and csv give every value)."
    ),
    fmt: Format = _options.output_format(),
    columns: str | None = _options.columns(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """A metric's history: a sparkline, min / max / last and the last values."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.errors import NotFound
    from loopml.tracking import get_metric_history, get_run

    run = get_run(run_id)
    history = get_metric_history(run.id, key)
    cols = [
        Column("step", kind="number"),
        Column("value", kind="number"),
        Column("timestamp", header="time", kind="time"),
    ]
    if not history:
        known = ", ".join(sorted(run.metrics)) or "none"
        raise NotFound(f"run {run.id} ({run.name}) has no metric {key!r}; it has: {known}.")
    rows = [{"step": m.step, "value": m.value, "timestamp": m.timestamp} for m in history]
    if fmt is not Format.table:
        emit(rows, cols, fmt=fmt, columns_arg=columns)
        return
    values = [m.value for m in history]
    finite = [v for v in values if math.isfinite(v)]
    console.print(
        f"[bold]{_escape(key)}[/] of {_escape(run.name)} [dim]{run.id[:8]}[/]  "
        f"{len(values)} value{'s' if len(values) != 1 else ''}",
        highlight=False,
    )
    console.print(sparkline(values, width=min(60, max(console.width - 2, 10))), highlight=False)
    stats = [
        f"min {fmt_number(min(finite)) if finite else 'n/a'}",
        f"max {fmt_number(max(finite)) if finite else 'n/a'}",
        f"last {fmt_number(values[-1])} (step {history[-1].step})",
    ]
    console.print("   ".join(stats), highlight=False)
    console.print()
    shown = rows[-limit:]
    footer = f"last {len(shown)} of {len(rows)}; --limit N for more" if len(rows) > limit else None
    emit(shown, cols, fmt=fmt, columns_arg=columns, footer=footer)


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """Values as one line of block characters, at most ``width`` wide (each character the
    mean of its share of the values); NaN and infinities show as spaces."""
    if not values:
        return ""
    n = len(values)
    buckets = min(width, n)
    points: list[float] = []
    for b in range(buckets):
        chunk = [v for v in values[b * n // buckets : (b + 1) * n // buckets] if math.isfinite(v)]
        points.append(sum(chunk) / len(chunk) if chunk else math.nan)
    finite = [p for p in points if math.isfinite(p)]
    if not finite:
        return " " * len(points)
    low, high = min(finite), max(finite)
    span = high - low
    top = len(_SPARK) - 1
    return "".join(
        " " if not math.isfinite(p) else _SPARK[round((p - low) / span * top) if span else top // 2]
        for p in points
    )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _text(value: Any) -> str:
    """A param for people: text as it is, numbers to 4 significant digits, other values
    as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt_number(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _status(run: Run) -> str:
    text = run.display_status
    return f"[{STATUS_STYLE.get(run.status, '')}]{text}[/]"


def _dirty(run: Run) -> str:
    if run.git_dirty is None:
        return ""
    if not run.git_dirty:
        return "no"
    return f"yes (diff stored, {run.git_diff_digest[:12]}…)" if run.git_diff_digest else "yes"


def _section(title: str, values: Mapping[str, str]) -> None:
    if not values:
        return
    from rich.markup import escape
    from rich.table import Table

    console.print(f"\n[bold]{title}[/]")
    table: Table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    for key in sorted(values):
        table.add_row(escape(key), escape(str(values[key])))
    console.print(table)


def _print_diff(run: Run) -> None:
    from loopml.tracking import get_git_diff

    console.print("\n[bold]git diff[/]")
    text = get_git_diff(run.id)
    if text is None:
        console.print("[dim](no uncommitted changes were recorded)[/]")
        return
    console.out(text, highlight=False)
