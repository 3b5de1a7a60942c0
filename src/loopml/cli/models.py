"""``loopml models``: the model registry."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console, fmt_time, printable
from loopml.cli._table import Column, Format, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.registry import ModelVersion

app = typer.Typer(
    help="Register model versions and move their aliases and environments: list, show, "
    "register, alias, promote (through gates), approve, reject, archive, delete, history, "
    "reproduce, card.",
    no_args_is_help=True,
)

_REF = re.compile(r"^(?:models:/)?(?P<name>[^/@]+)(?:/v?(?P<version>\d+)|@(?P<alias>[^/@]+))?\Z")


def _ref(text: str, *, need_version: bool = False) -> tuple[str, int | None, str | None]:
    """``NAME``, ``NAME/VERSION``, ``NAME@ALIAS`` (or the ``models:/`` URI) as parts."""
    from loopml.errors import InvalidInput

    m = _REF.match(text.strip())
    if not m or (need_version and m.group("version") is None):
        shape = "NAME/VERSION" if need_version else "NAME, NAME/VERSION or NAME@ALIAS"
        raise InvalidInput(
            f"malformed model reference {text!r}: expected {shape}, e.g. 'churn/3'"
            + ("" if need_version else " or 'churn@prod'")
            + "."
        )
    version = m.group("version")
    return m.group("name"), int(version) if version else None, m.group("alias")


_VERSION_COLUMNS = [
    Column("name", required=True, max_width=30),
    Column("version", kind="number", required=True),
    Column("status", kind="status"),
    Column("aliases", max_width=30),
    Column("created", kind="age"),
    Column("run", kind="id"),
    Column("description", max_width=40),
    Column("uri"),
]


def _version_row(v: ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "status": str(v.status),
        "aliases": ", ".join(v.aliases),
        "created": v.created_at,
        "run": v.run_id,
        "description": v.description or "",
        "uri": v.uri,
    }


_MODEL_COLUMNS = [
    Column("name", required=True, max_width=30),
    Column("latest", kind="number", required=True),
    Column("versions", kind="number"),
    Column("aliases", max_width=40),
    Column("updated", kind="age"),
]


@app.command("list")
def list_(
    filter: str = typer.Option(
        None,
        "--filter",
        metavar="FILTER",
        help="List the versions that match, e.g. \"alias = 'champion'\" or \"tags.team = 'risk'\".",
        show_default=False,
    ),
    limit: int = _options.limit(),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """List registered models and their aliases (with --filter, the matching versions)."""
    import loopml.registry as registry

    _options.use_stores(tracking_uri, artifact_uri)
    if filter is not None:
        found = registry.search_model_versions(filter, max_results=limit)
        emit(
            [_version_row(v) for v in found],
            _VERSION_COLUMNS,
            fmt=fmt,
            columns_arg=columns,
            empty="No model version matches.",
        )
        return
    rows = [
        {
            "name": m.name,
            "latest": m.latest_version,
            "versions": m.n_versions,
            "aliases": ", ".join(f"{a}={v}" for a, v in m.aliases.items()),
            "updated": m.updated_at,
        }
        for m in registry.list_models()[:limit]
    ]
    emit(
        rows,
        _MODEL_COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        empty="No registered models yet; register one with "
        "'loopml models register runs:/<run id>/model NAME'.",
    )


@app.command("show")
def show(
    ref: str = typer.Argument(
        ..., metavar="NAME[/VERSION|@ALIAS]", help="A model, or one version of it."
    ),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Show a model's versions, or one version with its signature, metrics and lineage.

    With --format json or csv it prints the version rows only.
    """
    import loopml.registry as registry

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, alias = _ref(ref)
    if version is None and alias is None:
        found = registry.search_model_versions(f"name = '{name}'")
        if not found:
            registry.get_model_version(name)  # the NotFound that names what there is
        emit([_version_row(v) for v in found], _VERSION_COLUMNS, fmt=fmt, columns_arg=columns)
        return
    v = registry.get_model_version(name, version, alias=alias)
    if fmt != Format.table:
        emit([_version_row(v)], _VERSION_COLUMNS, fmt=fmt, columns_arg=columns)
        return
    _show_version(v)


def _say(label: str, value: str) -> None:
    console.print(f"  {label:<12} {escape(printable(value))}", highlight=False)


def _show_version(v: ModelVersion) -> None:
    import loopml
    from loopml.errors import LoopmlError

    console.print(f"[bold]{escape(v.uri)}[/]  ({v.status})", highlight=False)
    _say("aliases:", ", ".join(v.aliases) or "none")
    _say("created:", fmt_time(v.created_at))
    _say("source:", v.source)
    _say("manifest:", v.manifest_digest)
    if v.description:
        _say("description:", v.description)
    for key, value in v.tags.items():
        _say("tag:", f"{key} = {value}")
    try:
        info = loopml.registry.get_model_package(v.name, v.version)
    except (LoopmlError, ImportError) as exc:
        _say("signature:", f"unavailable ({exc})")
    else:
        _say("flavor:", str(getattr(info, "flavor", "")))
        signature = getattr(info, "signature", None)
        shown = signature.to_dict() if signature is not None else None
        _say("signature:", "none" if shown is None else _signature_text(shown))
        requirements = list(getattr(info, "requirements", []) or [])
        if requirements:
            _say("requires:", ", ".join(requirements))
    try:
        run = loopml.get_run(v.run_id)
    except LoopmlError:
        console.print(f"\n[bold]run[/] {v.run_id}: removed (gc purged it)", highlight=False)
    else:
        _show_run(run)
    _show_reproduction(v)
    _show_lineage(v.uri)


def _show_run(run: Any) -> None:
    console.print(
        f"\n[bold]run[/] {escape(run.id)} ({escape(printable(run.name))}, {run.status})",
        highlight=False,
    )
    for key, number in sorted(run.metrics.items()):
        _say(f"{key}:" if len(key) < 12 else key, _number(number))


def _show_reproduction(v: ModelVersion) -> None:
    from loopml.evaluation import list_reproductions

    for last in list_reproductions(v.name, v.version, limit=1):
        style = _VERDICT_STYLE[last.status.value]
        console.print(
            f"\n[bold]reproduced[/] [{style}]{last.status.value}[/] "
            f"{fmt_time(last.created_at)} (run {last.reproduced_run_id or 'none'})",
            highlight=False,
        )
        console.print(f"  {escape(printable(last.message))}", highlight=False)


def _show_lineage(uri: str) -> None:
    import loopml

    graph = loopml.get_lineage(uri, depth=3)
    console.print("\n[bold]lineage[/] (upstream)", highlight=False)
    stack = [(c, 1) for c in reversed(graph.upstream.children)]
    if not stack:
        console.print("  nothing recorded", highlight=False)
    while stack:
        node, depth = stack.pop()
        label = graph.labels.get(node.uri)
        text = f"{'  ' * depth}{node.relation or ''} {node.uri}" + (f"  {label}" if label else "")
        console.print(escape(printable(text)), highlight=False)
        stack.extend((c, depth + 1) for c in reversed(node.children))


def _signature_text(signature: dict[str, Any]) -> str:
    inputs = signature.get("inputs")
    if isinstance(inputs, list):
        cols = [
            f"{c.get('name')}: {c.get('type') or c.get('dtype')}" if isinstance(c, dict) else str(c)
            for c in inputs
        ]
        return ", ".join(cols) or "no columns"
    return str(signature)


def _number(value: float) -> str:
    from loopml.cli._table import fmt_number

    return fmt_number(value)


@app.command("register")
def register(
    source: str = typer.Argument(
        ...,
        metavar="SOURCE",
        help="The logged model: runs:/RUN_ID/PATH, e.g. runs:/1a2b3c4d/model.",
    ),
    name: str = typer.Argument(..., metavar="NAME", help="The model's name."),
    description: str = typer.Option(
        None, "--description", metavar="TEXT", help="What this version is.", show_default=False
    ),
    tag: list[str] = typer.Option(
        None,
        "--tag",
        metavar="KEY=VALUE",
        help="Tag the version (repeat for more).",
        show_default=False,
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Register the model logged at SOURCE as the next version of NAME."""
    import loopml.registry as registry
    from loopml.errors import InvalidInput

    _options.use_stores(tracking_uri, artifact_uri)
    tags: dict[str, str] = {}
    for item in tag or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InvalidInput(f"malformed --tag {item!r}: expected KEY=VALUE, e.g. team=risk.")
        tags[key] = value
    v = registry.register_model(source, name, description=description, tags=tags or None)
    if v.is_new:
        console.print(f"[green]registered[/] {escape(v.uri)}", highlight=False)
    else:
        console.print(escape(v.note or ""), highlight=False)


@app.command("alias")
def alias(
    name: str = typer.Argument(..., metavar="NAME", help="The model."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias, e.g. champion."),
    version: int = typer.Argument(
        None,
        metavar="[VERSION]",
        help="The version it points at (not with --delete).",
        show_default=False,
    ),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Point ALIAS of model NAME at VERSION, or remove it with --delete."""
    import loopml.registry as registry
    from loopml.errors import InvalidInput

    _options.use_stores(tracking_uri, artifact_uri)
    if delete:
        if version is not None:
            raise InvalidInput("--delete takes no VERSION: it removes the alias.")
        registry.delete_alias(name, alias_name)
        console.print(f"removed {escape(alias_name)} of {escape(name)}", highlight=False)
        return
    if version is None:
        raise InvalidInput(
            f"which version should {alias_name!r} point at? Give it: "
            f"loopml models alias {name} {alias_name} VERSION."
        )
    v = registry.set_alias(name, alias_name, version)
    console.print(f"{escape(alias_name)} → {escape(v.uri)}", highlight=False)


@app.command("promote")
def promote(
    ref: str = typer.Argument(..., metavar="NAME/VERSION", help="The version, e.g. churn/4."),
    to: str = typer.Option(..., "--to", metavar="ENV", help="The environment, e.g. staging."),
    force: bool = typer.Option(
        False, "--force", help="Move it even if a gate check fails (needs --reason)."
    ),
    candidate: bool = typer.Option(
        False,
        "--candidate",
        help="Record a pass as the candidate of a rollout: ENV moves when the rollout "
        "is promoted (loopml deploy NAME --strategy canary --candidate URI).",
    ),
    reason: str = typer.Option(
        None, "--reason", metavar="TEXT", help="Why, for the history.", show_default=False
    ),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Promote VERSION to ENV through ENV's gates (\\[gates.ENV] in loopml.toml).

    Prints every check; exits 1 when a check fails (nothing moves). With
    --candidate a pass moves nothing: the version becomes the candidate a
    rollout may take to ENV. With --format json or csv, stdout holds the
    checks alone.
    """
    import loopml.evaluation as evaluation
    from loopml.errors import GateFailed

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, _ = _ref(ref, need_version=True)
    try:
        done = evaluation.promote(
            name, to, version=version, force=force, reason=reason, candidate=candidate
        )
    except GateFailed as exc:
        show_checks(exc.promotion, fmt, columns)
        raise
    show_checks(done, fmt, columns)
    say_promotion(done, fmt)


@app.command("approve")
def approve(
    ref: str = typer.Argument(..., metavar="NAME/VERSION", help="The version, e.g. churn/4."),
    to: str = typer.Option(..., "--to", metavar="ENV", help="The environment, e.g. prod."),
    reason: str = typer.Option(
        None, "--reason", metavar="TEXT", help="Why, for the history.", show_default=False
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Approve VERSION's pending promotion to ENV: the environment moves to it."""
    _decide("approve", ref, to, reason, tracking_uri, artifact_uri)


@app.command("reject")
def reject(
    ref: str = typer.Argument(..., metavar="NAME/VERSION", help="The version, e.g. churn/4."),
    to: str = typer.Option(..., "--to", metavar="ENV", help="The environment, e.g. prod."),
    reason: str = typer.Option(
        None, "--reason", metavar="TEXT", help="Why, for the history.", show_default=False
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Reject VERSION's pending promotion to ENV: nothing moves."""
    _decide("reject", ref, to, reason, tracking_uri, artifact_uri)


def _decide(
    decision: Literal["approve", "reject"],
    ref: str,
    to: str,
    reason: str | None,
    tracking_uri: str,
    artifact_uri: str,
) -> None:
    """Approve or reject the pending promotion of ``ref`` to ``to`` and say what happened."""
    import loopml.evaluation as evaluation

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, _ = _ref(ref, need_version=True)
    decide = evaluation.approve if decision == "approve" else evaluation.reject
    say_promotion(decide(name, to, reason, version=version))


_CHECK_COLUMNS = [
    Column("check", required=True, max_width=44),
    Column("value", kind="number", required=True),
    Column("op", header="", required=True),
    Column("threshold", kind="number", required=True),
    Column("status", kind="status", required=True),
    Column("message", max_width=40),
]


def check_rows(promotion: Any) -> list[dict[str, Any]]:
    """The rows of the checks table of a promotion."""
    return [
        {
            "check": c.expression,
            "value": c.value,
            "op": c.op,
            "threshold": c.threshold,
            "status": str(c.status),
            "message": c.message or "",
        }
        for c in promotion.checks
    ]


def show_checks(
    promotion: Any, fmt: Format | str = Format.table, columns: str | None = None
) -> None:
    """Print the gate checks of ``promotion`` as a table (or JSON/CSV rows)."""
    if promotion is None or (not promotion.checks and Format(fmt) is Format.table):
        return
    emit(
        check_rows(promotion),
        _CHECK_COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        footer=f"gates of {promotion.environment}"
        + (f" on {promotion.dataset}" if promotion.dataset else ""),
    )


def say_promotion(p: Any, fmt: Format | str = Format.table) -> None:
    """One line on what a promotion did (to stderr with --format json or csv)."""
    say = console if Format(fmt) is Format.table else err_console
    say.print(escape(printable(p.message)), highlight=False)


@app.command("archive")
def archive(
    ref: str = typer.Argument(..., metavar="NAME/VERSION", help="The version, e.g. churn/2."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Archive a version: it keeps its bytes and loads, but takes no new alias."""
    import loopml.registry as registry

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, _ = _ref(ref, need_version=True)
    assert version is not None
    v = registry.archive_model_version(name, version)
    console.print(f"archived {escape(v.uri)}", highlight=False)


@app.command("delete")
def delete(
    ref: str = typer.Argument(..., metavar="NAME/VERSION", help="The version, e.g. churn/2."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Delete a version no alias points at; loopml gc then frees its bytes."""
    import loopml.registry as registry

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, _ = _ref(ref, need_version=True)
    assert version is not None
    v = registry.delete_model_version(name, version)
    console.print(f"deleted {escape(v.uri)}", highlight=False)


_HISTORY_COLUMNS = [
    Column("environment", header="env", required=True),
    Column("from", kind="number"),
    Column("to", kind="number", required=True),
    Column("status", kind="status"),
    Column("when", kind="age"),
    Column("user", max_width=16),
    Column("reason", max_width=40),
    Column("checks", max_width=20),
    Column("promotion", kind="number"),
]


@app.command("history")
def history(
    name: str = typer.Argument(..., metavar="NAME", help="The model."),
    env: str = typer.Option(
        None, "--env", metavar="ENV", help="Only this environment.", show_default=False
    ),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """List the promotions and moves of the model's environments, newest first.

    A promotion through gates shows its status (PROMOTED, REFUSED,
    PENDING_APPROVAL, APPROVED, REJECTED, FORCED) and how many checks passed;
    a move made without it (loopml.promote_model) shows MOVED.
    """
    import loopml.evaluation as evaluation
    import loopml.registry as registry

    _options.use_stores(tracking_uri, artifact_uri)
    moves = registry.model_history(name, env)
    promotions = evaluation.list_promotions(name, environment=env)
    by_move = {p.transition_id: p for p in promotions if p.transition_id is not None}
    rows: list[tuple[float, dict[str, Any]]] = []
    for t in moves:
        p = by_move.get(t.id) if t.id is not None else None
        row = {
            "environment": t.environment,
            "from": t.from_version,
            "to": t.to_version,
            "status": str(p.status) if p is not None else "MOVED",
            "when": t.created_at,
            "user": t.user or "",
            "reason": t.reason or "",
            "checks": _checks_text(p),
            "promotion": p.id if p is not None else None,
        }
        rows.append((t.created_at, row))
    for p in promotions:
        if p.transition_id is not None and p.transition_id in {t.id for t in moves}:
            continue
        rows.append(
            (
                p.created_at,
                {
                    "environment": p.environment,
                    "from": p.champion_version,
                    "to": p.version,
                    "status": str(p.status),
                    "when": p.decided_at or p.created_at,
                    "user": p.decided_by or p.user or "",
                    "reason": p.decision_reason or p.reason or "",
                    "checks": _checks_text(p),
                    "promotion": p.id,
                },
            )
        )
    rows.sort(key=lambda r: r[0], reverse=True)
    emit(
        [r for _, r in rows],
        _HISTORY_COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        empty=f"No environment of {name} has moved yet.",
    )


def _checks_text(p: Any) -> str:
    if p is None or not p.checks:
        return ""
    passed = sum(c.passed for c in p.checks)
    failed = sum(c.failed for c in p.checks)
    return f"{passed} passed" + (f", {failed} failed" if failed else "")


_REPRODUCE_COLUMNS = [
    Column("metric", required=True, max_width=30),
    Column("original", kind="number", required=True),
    Column("reproduced", kind="number", required=True),
    Column("difference", kind="number"),
    Column("match", kind="status", required=True),
]
_VERDICT_STYLE = {"REPRODUCED": "green", "DIFFERENT": "yellow", "FAILED": "bold red"}


@app.command("reproduce")
def reproduce(
    ref: str = typer.Argument(
        ..., metavar="NAME/VERSION", help="The version, e.g. churn/4 (or churn@prod)."
    ),
    tolerance: float = typer.Option(
        1e-6,
        "--tolerance",
        metavar="X",
        help="How far a metric may move and still match: relative, and absolute near zero.",
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the temporary worktree (its path is printed)."
    ),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Run the version's pipeline again at its recorded commit, params and data versions,
    in a temporary git worktree, and compare its metrics; the verdict is stored.

    Exits 1 unless the verdict is REPRODUCED. Nothing is registered, no alias moves.
    """
    from loopml.cli._output import err_console
    from loopml.cli.run import _LiveView
    from loopml.errors import InvalidInput
    from loopml.evaluation import reproduce as run_again
    from loopml.uri import ModelURI

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, alias = _ref(ref)
    if version is None and alias is None:
        raise InvalidInput(
            f"which version of {name!r}? Name one: loopml models reproduce {name}/4."
        )
    out = console if fmt == Format.table else err_console
    view = _LiveView() if fmt == Format.table else None

    def progress(line: str) -> None:
        if view is not None and view.states:  # the run is over: its steps first
            view.stop()
        out.print(f"[dim]{escape(printable(line))}[/]", highlight=False)

    with view or _nothing():
        done = run_again(
            str(ModelURI(name, version, alias)),
            tolerance,
            keep=keep,
            on_event=view.update if view is not None else None,
            on_progress=progress,
        )
    rows = [
        {
            "metric": m.metric,
            "original": m.original,
            "reproduced": m.reproduced,
            "difference": m.difference,
            "match": "passed" if m.matches else "failed",
        }
        for m in done.metrics
    ]
    emit(rows, _REPRODUCE_COLUMNS, fmt=fmt, columns_arg=columns, empty="No metrics to compare.")
    style = _VERDICT_STYLE[done.status.value]
    out.print(
        f"[{style}]{done.status.value}[/] {escape(done.uri)}: {escape(printable(done.message))}",
        highlight=False,
    )
    out.print(f"  original run {done.run_id}", highlight=False)
    if done.reproduced_run_id:
        out.print(f"  new run      {done.reproduced_run_id}", highlight=False)
    if done.worktree:
        out.print(
            f"  worktree kept; remove it with: git worktree remove --force {escape(done.worktree)}",
            highlight=False,
        )
    if not done.reproduced:
        raise typer.Exit(1)


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


@app.command("card")
def card(
    ref: str = typer.Argument(
        ..., metavar="NAME/VERSION", help="The version, e.g. churn/4 (or churn@prod)."
    ),
    output: str = typer.Option(
        None,
        "--output",
        metavar="PATH",
        help="Where to write it (default: NAME-VERSION-card.html here).",
        show_default=False,
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Write the HTML model card of a version: metrics, plots, gates, data, history.

    One self-contained file: the version's newest evaluation (metrics, plots,
    slices, fairness, importance, latency), its gate checks, overrides and
    approvals, the dataset versions and params of its training run, the
    environment history and the lineage.
    """
    import loopml.evaluation as evaluation
    import loopml.registry as registry
    from loopml.uri import ModelURI

    _options.use_stores(tracking_uri, artifact_uri)
    name, version, alias = _ref(ref)
    if version is None and alias is None:
        from loopml.errors import InvalidInput

        raise InvalidInput(
            f"which version of {name!r}? Give NAME/VERSION or NAME@ALIAS, e.g. {name}/1."
        )
    v = registry.get_model_version(name, version, alias=alias)
    path = evaluation.model_card(
        str(ModelURI(v.name, v.version)), output or f"{v.name}-{v.version}-card.html"
    )
    console.print(f"model card of {escape(v.uri)}: {escape(str(path))}", highlight=False)
