"""``loopml deployments``: list, show, delete and sync deployments; promote, roll back
or abort a deployment's rollout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console, fmt_time, printable
from loopml.cli._table import Column, Format, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.deployments import Analysis, Deployment, DeploymentChange, Rollout

app = typer.Typer(
    help="List deployments, show one with its rollout and history, delete one, apply the "
    "ones loopml.toml declares, decide a rollout: list, status, delete, sync, promote, "
    "rollback, abort.",
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
    Column("weight", kind="number"),
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
        "weight": c.weight,
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
    """Show a deployment (model, version, since when, generation), its rollout and history.

    The rollout's policy, weights and analyses (a table per step: check,
    primary, candidate, threshold, verdict) come before the history. With
    --format json or csv it prints the history rows only. A rollout (or analysis)
    whose record cannot be read is one error line after the history (exit code 1).
    """
    import loopml.deployments as deployments
    from loopml.errors import CorruptRecord

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
    unreadable = None
    if d.rollout_id is not None:
        try:  # unreadable, the deployment and its history are still shown
            r = deployments.get_rollout(d.rollout_id)
        except CorruptRecord as exc:
            unreadable = exc
        else:
            try:
                analyses = deployments.rollout_analyses(r.id)
            except CorruptRecord as exc:
                unreadable, analyses = exc, []
            _rollout(r, analyses)
    console.print()
    emit([_change(c) for c in changes], _HISTORY_COLUMNS, fmt=fmt, columns_arg=columns)
    if unreadable is not None:
        err_console.print(
            f"[bold red]error:[/] {escape(str(unreadable))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1)


_CHECK_COLUMNS = [
    Column("check", required=True, max_width=16),
    Column("primary", kind="number"),
    Column("candidate", kind="number"),
    Column("threshold", kind="number"),
    Column("verdict", kind="status", required=True),
    Column("detail", max_width=70),
]


def _rollout(r: Rollout, analyses: list[Analysis]) -> None:
    """The rollout: what it moves, its policy and weights, then each step's analysis."""
    console.print()
    console.print(f"[bold]{escape(r.uri)}[/]  {r.strategy} ({r.status})", highlight=False)
    _say("primary:", r.primary)
    _say("candidate:", r.candidate)
    weights = f"primary {r.weights['primary']} %, candidate {r.weights['candidate']} %"
    _say("weights:", weights + (" (every request mirrored)" if r.mirror else ""))
    if r.steps:
        marks = [f"({w})" if i == r.step and r.active else str(w) for i, w in enumerate(r.steps)]
        _say("steps:", " → ".join(marks) + " %")
    _say("interval:", f"{r.interval:g} s")
    if r.strategy == "ab":
        _say("split:", f"{r.split} %" + (f", sticky by {r.sticky}" if r.sticky else ""))
    _say("policy:", ", ".join(f"{k}={v}" for k, v in r.policy.to_dict().items()))
    _say("started:", fmt_time(r.created_at) + (f" by {r.user}" if r.user else ""))
    if r.finished_at is not None:
        _say("finished:", fmt_time(r.finished_at))
    if r.finish_reason:
        _say("why:", r.finish_reason)
    for a in analyses:
        at = f" at {r.steps[a.step]} %" if r.steps and a.step < len(r.steps) else ""
        console.print()
        console.print(
            f"  analysis of step {a.step + 1}{at}: [bold]{a.verdict}[/] "
            f"({a.counts['primary']} primary, {a.counts['candidate']} candidate requests, "
            f"{escape(fmt_time(a.created_at))})",
            highlight=False,
        )
        emit(
            [
                {
                    "check": c.name,
                    "primary": c.primary,
                    "candidate": c.candidate,
                    "threshold": c.threshold,
                    "verdict": str(c.verdict),
                    "detail": c.detail,
                }
                for c in a.checks
            ],
            _CHECK_COLUMNS,
            empty="  no checks",
        )


def _reason() -> Any:
    return typer.Option(
        None, "--reason", metavar="TEXT", help="Why, kept in the history.", show_default=False
    )


def _decided(r: Rollout) -> None:
    d = f"{escape(r.uri)} of {escape(r.candidate)} on {escape(r.deployment)}: {r.status}"
    serves = r.candidate if r.status == "PROMOTED" else r.primary
    console.print(f"{d}; it serves {escape(serves)}", highlight=False)


@app.command("promote")
def promote(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment."),
    reason: str = _reason(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Promote NAME's rollout: its candidate is served and the environment's alias moves."""
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    _decided(deployments.promote_rollout(name, reason=reason))


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment."),
    reason: str = _reason(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Roll back NAME's rollout: traffic returns to the primary; the alias stays."""
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    _decided(deployments.rollback(name, reason=reason))


@app.command("abort")
def abort(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment."),
    reason: str = _reason(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Abort NAME's rollout: traffic returns to the primary, recorded as ABORTED."""
    import loopml.deployments as deployments

    _options.use_stores(tracking_uri, artifact_uri)
    _decided(deployments.abort(name, reason=reason))


@app.command("delete")
def delete(
    name: str = typer.Argument(..., metavar="NAME", help="The deployment."),
    reason: str = _reason(),
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
