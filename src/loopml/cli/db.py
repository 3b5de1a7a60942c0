"""``loopml db``: the metadata database's schema."""

from __future__ import annotations

import typer

from loopml.cli._output import console

app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)

_TRACKING_URI = typer.Option(None, "--tracking-uri", help="Database URL (default: configured).")


@app.command("upgrade")
def upgrade(tracking_uri: str = _TRACKING_URI) -> None:
    """Apply pending schema migrations (they also run on first use)."""
    from loopml.context import current, upgrade_schema
    from loopml.uri import redact

    revision = upgrade_schema(tracking_uri)
    shown = redact(tracking_uri or current().settings.store.tracking_uri)
    console.print(f"{shown} is at schema revision [bold]{revision}[/]")


@app.command("current")
def current_revision(tracking_uri: str = _TRACKING_URI) -> None:
    """Print the schema revision of the database."""
    from loopml.context import schema_revision

    console.print(schema_revision(tracking_uri) or "(empty)")
