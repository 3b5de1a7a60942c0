"""``loopml deploy``: point a deployment at a model version, or start a rollout of a
candidate on it."""

from __future__ import annotations

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console


def deploy(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment, e.g. churn."),
    model: str = typer.Option(
        None,
        "--model",
        metavar="URI",
        help="The model to serve: models:/NAME@ALIAS (resolved now) or models:/NAME/VERSION. "
        "With a rollout strategy, the primary (by default, what the deployment serves).",
        show_default=False,
    ),
    strategy: str = typer.Option(
        "replace",
        "--strategy",
        metavar="NAME",
        help="replace (all traffic at once), or a rollout of --candidate: blue_green, "
        "canary, shadow, ab.",
    ),
    candidate: str = typer.Option(
        None,
        "--candidate",
        metavar="URI",
        help="The version to roll out, e.g. models:/churn/5; it must have passed the "
        "environment's gates as a candidate (loopml models promote NAME/V --to ENV "
        "--candidate).",
        show_default=False,
    ),
    steps: str = typer.Option(
        None,
        "--steps",
        metavar="PERCENTS",
        help="A canary's traffic steps, e.g. 5,25,50,100 (the default).",
        show_default=False,
    ),
    interval: str = typer.Option(
        None,
        "--interval",
        metavar="TIME",
        help="Time at each step before it is analysed: 30s, 2m, 45 (default 60s, at least 2s).",
        show_default=False,
    ),
    split: int = typer.Option(
        None,
        "--split",
        metavar="PERCENT",
        help="An A/B test's share of traffic for the candidate, 1 to 99 (default 50).",
        show_default=False,
    ),
    sticky: str = typer.Option(
        None,
        "--sticky",
        metavar="KEY",
        help="What keeps a user on one A/B variant: header:X-User or field:user_id.",
        show_default=False,
    ),
    policy: list[str] = typer.Option(
        None,
        "--policy",
        metavar="KEY=VALUE",
        help="An analysis threshold (repeatable), e.g. min_requests=100, max_error_rate=0.02, "
        "failure_limit=2.",
        show_default=False,
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
    deployment keeps serving that version until the next deploy. With
    --strategy blue_green, canary, shadow or ab, --candidate is rolled out on
    the deployment instead, analysed, and promoted or rolled back (see
    loopml deployments status NAME).
    """
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    before = deployments.list_deployments()
    was = {d.name: d for d in before}.get(name)
    d = deployments.deploy(
        name,
        model,
        strategy=strategy,
        candidate=candidate,
        steps=steps,
        interval=interval,
        split=split,
        sticky=sticky,
        policy=_settings(policy, "--policy", "min_requests=100") if policy else None,
        reason=reason,
        config=_settings(config) if config else None,
    )
    if quiet:
        return
    if strategy != "replace" and d.rollout_id is not None:
        r = deployments.get_rollout(d.rollout_id)
        console.print(
            f"started {r.strategy} {escape(r.uri)} on {escape(d.name)}: "
            f"{escape(r.candidate)} takes {r.weight} % (primary {escape(r.primary)}, "
            f"{r.status}); follow it with: loopml deployments status {escape(d.name)}",
            highlight=False,
        )
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


def _settings(
    pairs: list[str], flag: str = "--config", example: str = "max_batch_size=32"
) -> dict[str, object]:
    """``KEY=VALUE`` pairs as a table: a value that reads as JSON (a number, true, false)
    is that, anything else is text."""
    import json

    from loopml.errors import InvalidInput

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{flag} {pair!r} is not KEY=VALUE: e.g. {flag} {example}.")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out
