"""``loopml db``: the metadata database's schema."""

from __future__ import annotations

import typer

from loopml.cli._output import console

app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="Database URL (default: configured)."
    ),
) -> None:
    """Apply pending schema migrations (they also run on first use)."""
    from loopml.config import get_settings
    from loopml.store.metadata import MetadataStore, _redact

    uri = tracking_uri or get_settings().tracking_uri
    revision = MetadataStore(uri).upgrade()
    console.print(f"{_redact(uri)} is at schema revision [bold]{revision}[/]")


@app.command("current")
def current(
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="Database URL (default: configured)."
    ),
) -> None:
    """Print the schema revision of the database."""
    from loopml.config import get_settings
    from loopml.store.metadata import MetadataStore

    store = MetadataStore(tracking_uri or get_settings().tracking_uri, migrate=False)
    console.print(store.schema_revision() or "(empty)")
