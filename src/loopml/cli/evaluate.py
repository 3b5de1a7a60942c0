"""``loopml evaluate``: a model on labelled data, optionally against its champion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console
from loopml.cli._table import Column, Format, emit, parse_columns

if TYPE_CHECKING:  # pragma: no cover
    from loopml.evaluation import Evaluation

_TOP = 10  # importance rows shown


def _figures(ev: Evaluation, named: list[str]) -> dict[str, float]:
    """The evaluation's figures by the names gates use (``metrics.f1``,
    ``slices.region.east.f1``, ``fairness.sex.demographic_parity_difference``,
    ``latency.p99_ms``, ``importance.tenure``): every metric, every value of the named
    slice columns and the worst values of the others, the fairness differences, the
    latency, and the most important inputs."""
    from loopml.evaluation import METRICS

    out: dict[str, float] = {}
    for name in METRICS:
        if name in ev.metrics:
            out[f"metrics.{name}"] = ev.metrics[name]
    main = "f1" if ev.task == "classification" else "rmse"
    for column, values in ev.slices.items():
        shown = list(values) if column in named else [w["value"] for w in ev.worst_slices[column]]
        for value in shown:
            score = values.get(value, {}).get(main)
            if score is not None:
                out[f"slices.{column}.{value}.{main}"] = score
    for column, result in ev.fairness.items():
        for key in ("demographic_parity_difference", "equal_opportunity_difference"):
            if result.get(key) is not None:
                out[f"fairness.{column}.{key}"] = result[key]
    for key, value in ev.latency.items():
        out[f"latency.{key}"] = value
    ranked = sorted(ev.importance.items(), key=lambda kv: -kv[1]["mean"])[:_TOP]
    for feature, imp in ranked:
        out[f"importance.{feature}"] = imp["mean"]
    for feature, value in sorted((ev.shap or {}).items(), key=lambda kv: -kv[1])[:_TOP]:
        out[f"shap.{feature}"] = value
    return out


_COLUMNS = [Column("metric", required=True, max_width=50), Column("value", kind="number")]
_AGAINST = [
    Column("metric", required=True, max_width=48),
    Column("candidate", kind="number", required=True),
    Column("champion", kind="number", required=True),
    Column("delta", kind="number", required=True),
    Column("better"),
]


def _say(fmt: Format, text: str) -> None:
    (console if fmt is Format.table else err_console).print(text, highlight=False)


def evaluate(
    model: str = typer.Argument(
        ...,
        metavar="MODEL_URI",
        help="The model: models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH or a "
        "package folder.",
    ),
    data: str = typer.Option(
        ...,
        "--data",
        metavar="URI",
        help="The labelled data, a dataset version: data:/NAME@VERSION.",
    ),
    target: str = typer.Option(
        None,
        "--target",
        metavar="COLUMN",
        help="The label column (found by itself when it is the one column the model does "
        "not take).",
        show_default=False,
    ),
    slice_: list[str] = typer.Option(
        None,
        "--slice",
        metavar="COLUMN",
        help="Report metrics per value of this column (repeat for more).",
        show_default=False,
    ),
    sensitive: list[str] = typer.Option(
        None,
        "--sensitive",
        metavar="COLUMN",
        help="Compare the groups of this column for fairness (repeat for more).",
        show_default=False,
    ),
    against: str = typer.Option(
        None,
        "--against",
        metavar="URI",
        help="Evaluate this model too, on the same data, and show the deltas: 'champion' "
        "(the version the champion alias, or --env, points at) or a model URI.",
        show_default=False,
    ),
    env: str = typer.Option(
        None,
        "--env",
        metavar="ENV",
        help="With --against champion: the champion is the version ENV holds.",
        show_default=False,
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Add SHAP attributions (tree models; the explain extra)."
    ),
    html: str = typer.Option(
        None,
        "--html",
        metavar="PATH",
        help="Write the HTML report there (plotly; the report extra).",
        show_default=False,
    ),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Evaluate MODEL_URI on labelled data: metrics, slices, fairness, latency, importance.

    The evaluation is stored (evaluation:/ID) and linked to the model version
    and the dataset version. With --against, both models are evaluated on the
    same data and the table shows each figure of both and the delta.
    """
    import loopml.evaluation as evaluation
    from loopml import _validate
    from loopml.errors import InvalidInput

    _options.use_stores(tracking_uri, artifact_uri)
    if env is not None and against != "champion":
        raise InvalidInput("--env ENV names where the champion is: use it with --against champion.")
    parse_columns(columns, _COLUMNS if against is None else _AGAINST)  # before any work
    report = None
    if html is not None:
        report = _validate.writable(html, "--html path")
    champion = None
    if against == "champion":
        champion = evaluation.champion_uri(model, env)
    elif against is not None:
        champion = _validate.text(against, "--against")
    named = list(slice_ or [])
    kwargs: dict[str, Any] = {
        "target": target,
        "slices": named or None,
        "sensitive_features": list(sensitive or []) or None,
        "explain": explain,
    }
    other = None
    if champion is None:
        ev = evaluation.evaluate(model, data, **kwargs)
    else:
        # both are evaluated before either is stored: a champion that cannot be evaluated
        # on this data (or is of another task) leaves nothing behind
        from loopml import load_model

        other_model = load_model(champion)
        ev = evaluation.evaluate(model, data, **kwargs, store=False)
        other = evaluation.evaluate(other_model, data, **{**kwargs, "target": ev.target},
                                    store=False)  # fmt: skip
        evaluation.compare(ev, other)
        ev.store()
        other.store()
    _say(fmt, _headline(ev, data))
    if other is not None:
        _say(fmt, "champion " + _headline(other, data))
    if report is not None:
        ev.to_html(report, champion=other)
    if other is None:
        rows = [{"metric": k, "value": v} for k, v in _figures(ev, named).items()]
        emit(rows, _COLUMNS, fmt=fmt, columns_arg=columns)
    else:
        emit(_against_rows(ev, other, named), _AGAINST, fmt=fmt, columns_arg=columns)
    if report is not None:
        _say(fmt, f"report: {escape(str(report))}")


def _headline(ev: Evaluation, data: str) -> str:
    return (
        f"{ev.uri}: {escape(ev.model_uri)} on {escape(ev.dataset or data)} "
        f"({ev.rows:,} rows, {ev.task})"
    )


def _against_rows(ev: Evaluation, other: Evaluation, named: list[str]) -> list[dict[str, Any]]:
    from loopml.evaluation import FAIRNESS_METRICS, LATENCY_KEYS, METRICS

    mine, theirs = _figures(ev, named), _figures(other, named)
    rows = []
    for key in [*mine, *(k for k in theirs if k not in mine)]:
        a, b = mine.get(key), theirs.get(key)
        delta = None if a is None or b is None else a - b
        kind, _, last = key.partition(".")
        name = key.rsplit(".", 1)[-1]
        direction = (
            METRICS.get(name)
            if kind in ("metrics", "slices")
            else FAIRNESS_METRICS.get(name)
            if kind == "fairness"
            else LATENCY_KEYS.get(last)
            if kind == "latency"
            else None
        )
        better = ""
        if delta is not None and delta != 0 and direction is not None:
            better = "better" if (delta > 0) == (direction == "higher") else "worse"
        rows.append(
            {"metric": key, "candidate": a, "champion": b, "delta": delta, "better": better}
        )
    return rows
