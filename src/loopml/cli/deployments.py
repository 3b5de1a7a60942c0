"""``loopml deployments``: list, show, delete and sync deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, fmt_time, printable
from loopml.cli._table import Column, Format, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.deployments import Deployment, DeploymentChange

app = typer.Typer(
    help="List deployments, show one with its history, delete one, apply the ones "
    "loopml.toml declares: list, status, delete, sync.",
    no_args_is_help=True,
)

_COLUMNS = [
    Column("name", required=True, max_width=30),
    Column("model", required=True, max_width=40),
    Column("requested", max_width=40),
    Column("generation", kind="number"),
    Column("updated", kind="age"),
    Column("created", kind="age"),
    Column("strategy"),
]


def _row(d: Deployment) -> dict[str, Any]:
    return {
        "name": d.name,
        "model": d.version_uri,
        "requested": d.model_uri,
        "generation": d.generation,
        "updated": d.updated_at,
        "created": d.created_at,
        "strategy": str(d.strategy),
    }


@app.command("list")
def list_(
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """List the deployments: the version each serves, as resolved when deployed."""
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    emit(
        [_row(d) for d in deployments.list_deployments()],
        _COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        empty="No deployments. Create one with: loopml deploy NAME --model models:/NAME@ALIAS",
    )


_HISTORY_COLUMNS = [
    Column("generation", kind="number", required=True),
    Column("action", kind="status", required=True),
    Column("from", kind="number"),
    Column("to", kind="number"),
    Column("reason", max_width=30),
    Column("when", kind="age"),
    Column("user", max_width=16),
    Column("model", max_width=30),
]


def _change(c: DeploymentChange) -> dict[str, Any]:
    return {
        "generation": c.generation,
        "action": str(c.action),
        "from": c.from_version,
        "to": c.to_version,
        "model": c.model_uri or "",
        "when": c.created_at,
        "user": c.user or "",
        "reason": c.reason or "",
    }


def _say(label: str, value: str) -> None:
    console.print(f"  {label:<12} {escape(printable(value))}", highlight=False)


@app.command("status")
def status(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment."),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Show a deployment (model, version, since when, generation) and its history.

    With --format json or csv it prints the history rows only.
    """
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    d = deployments.get_deployment(name)
    changes = deployments.deployment_history(name)
    if fmt != Format.table:
        emit([_change(c) for c in changes], _HISTORY_COLUMNS, fmt=fmt, columns_arg=columns)
        return
    console.print(f"[bold]{escape(d.uri)}[/]  ({d.status})", highlight=False)
    _say("model:", d.version_uri)
    _say("requested:", d.model_uri)
    _say("since:", fmt_time(d.updated_at))
    _say("created:", fmt_time(d.created_at))
    _say("generation:", str(d.generation))
    _say("strategy:", str(d.strategy))
    if d.config:
        import json

        _say("config:", json.dumps(d.config, sort_keys=True))
    console.print()
    emit([_change(c) for c in changes], _HISTORY_COLUMNS, fmt=fmt, columns_arg=columns)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment."),
    reason: str = typer.Option(
        None, "--reason", metavar="TEXT", help="Why, kept in the history.", show_default=False
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Delete a deployment (its history stays); its version may be archived again."""
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    d = deployments.delete_deployment(name, reason=reason)
    console.print(f"deleted {escape(d.uri)} (it served {escape(d.version_uri)})", highlight=False)


@app.command("sync")
def sync(
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Apply the deployments loopml.toml declares (\\[deployments.NAME] with model = URI).

    Each is deployed as loopml deploy would; those serving what they declare
    already are left as they are, and deployments not declared are kept.
    """
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    done = deployments.sync_deployments()
    if not done:
        console.print("loopml.toml declares no deployments ([deployments.NAME]).")
        return
    for d in done:
        what = "deployed" if d.changed else "unchanged"
        console.print(
            f"{what} {escape(d.name)}: {escape(d.version_uri)} (generation {d.generation})",
            highlight=False,
        )
