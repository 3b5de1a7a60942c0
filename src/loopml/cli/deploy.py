"""``loopml deploy``: point a deployment at a model version."""

from __future__ import annotations

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console


def deploy(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment, e.g. churn."),
    model: str = typer.Option(
        ...,
        "--model",
        metavar="URI",
        help="The model to serve: models:/NAME@ALIAS (resolved now) or models:/NAME/VERSION.",
    ),
    reason: str = typer.Option(
        None, "--reason", metavar="TEXT", help="Why, kept in the history.", show_default=False
    ),
    config: list[str] = typer.Option(
        None,
        "--config",
        metavar="KEY=VALUE",
        help="A server setting of the deployment (repeatable): max_batch_size=32, "
        "max_batch_wait_ms=2, log_predictions=false, log_probabilities=true. Given, they "
        "replace the deployment's config; not given, it is kept.",
        show_default=False,
    ),
    quiet: bool = _options.quiet(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Create deployment NAME serving --model, or point it at a new version.

    The version must be READY and its package must load, every file matching
    its hash, before the deployment changes. An alias is resolved now: the
    deployment keeps serving that version until the next deploy.
    """
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    before = deployments.list_deployments()
    was = {d.name: d for d in before}.get(name)
    d = deployments.deploy(name, model, reason=reason, config=_settings(config) if config else None)
    if quiet:
        return
    if not d.changed:
        console.print(
            f"{escape(d.name)} serves {escape(d.version_uri)} already; nothing changed",
            highlight=False,
        )
        return
    came = f"from v{was.version}, " if was is not None and was.model_name == d.model_name else ""
    console.print(
        f"deployed {escape(d.name)}: {escape(d.version_uri)} ({came}generation {d.generation})",
        highlight=False,
    )


def _settings(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs as a config: a value that reads as JSON (a number, true, false)
    is that, anything else is text."""
    import json

    from loopml.errors import InvalidInput

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"--config {pair!r} is not KEY=VALUE: e.g. --config max_batch_size=32."
            )
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out
