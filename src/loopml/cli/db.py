"""``loopml db``: the metadata database's schema, and moving it to PostgreSQL."""

from __future__ import annotations

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console

app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(tracking_uri: str = _options.tracking_uri()) -> None:
    """Apply pending schema migrations (they also run on first use)."""
    from loopml.context import current, upgrade_schema
    from loopml.uri import redact

    revision = upgrade_schema(tracking_uri)
    shown = redact(tracking_uri or current().settings.store.tracking_uri)
    console.print(f"{escape(shown)} is at schema revision [bold]{revision}[/]", highlight=False)


@app.command("current")
def current_revision(tracking_uri: str = _options.tracking_uri()) -> None:
    """Print the schema revision of the database."""
    from loopml.context import schema_revision

    console.print(schema_revision(tracking_uri) or "(empty)", highlight=False)


@app.command("migrate")
def migrate(
    to: str = typer.Option(
        ...,
        "--to",
        metavar="URL",
        help="An empty PostgreSQL database, e.g. postgresql://user@host/loopml.",
        show_default=False,
    ),
    tracking_uri: str = _options.tracking_uri(),
) -> None:
    """Copy this project's metadata into an empty PostgreSQL database.

    Every table is copied in one transaction and checked by its row count; a
    target that is not empty is refused and a failure leaves it empty. Then set
    tracking_uri to it (loopml.toml or LOOPML_TRACKING_URI).
    """
    from rich.markup import escape

    from loopml.context import migrate_metadata

    _options.use_stores(tracking_uri)
    report = migrate_metadata(to)
    console.print(
        f"copied {report.total_rows:,} rows in {len(report.rows)} tables from "
        f"{report.source} to {report.target} (schema {report.revision}); row counts match",
        markup=False,
    )
    console.print(
        escape(
            f'Use it: set tracking_uri = "{report.target}" under [store] in loopml.toml '
            "(with the password), or LOOPML_TRACKING_URI."
        ),
        highlight=False,
    )
