"""The model card of a registered version: one self-contained HTML page.

What it shows, each from where it is kept: the version (description, tags,
aliases, package), its newest stored evaluation with the report's metrics,
plots, slices, fairness, importance and latency; the promotion requests of
the version with their gate checks, overrides (``--force`` and its reason)
and approvals or rejections (who, when, why); the dataset versions its
training run read; the run's params and metrics; the moves of the model's
environments; and the version's lineage upstream.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from pathlib import Path
from typing import Any

from loopml import _validate
from loopml.errors import CorruptObject, InvalidInput, LoopmlError
from loopml.evaluation import _report
from loopml.evaluation._repository import list_evaluations, promotion_rows

__all__ = ["model_card", "render_card"]


def _when(ts: Any) -> str:
    if ts is None:
        return ""
    if isinstance(ts, _dt.datetime):
        return ts.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _dt.datetime.fromtimestamp(float(ts), tz=_dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )


def _version(model: Any) -> Any:
    from loopml.registry import get_model_version

    text = _validate.text(str(model) if hasattr(model, "__fspath__") else model, "model")
    if not text.startswith("models:/"):
        raise InvalidInput(
            f"a model card is of a registered version: expected models:/NAME/VERSION or "
            f"models:/NAME@ALIAS, got {_validate.shown(text)}."
        )
    return get_model_version(text)


def _promotions(name: str, version: int) -> str:
    rows = promotion_rows(name, version)
    parts = ["<h2>Gates, overrides and approvals</h2>"]
    if not rows:
        parts.append(
            f"<p>No promotion through gates was requested for this version (loopml models "
            f"promote {escape(name)}/{version} --to ENV).</p>"
        )
        return "".join(parts)
    for p in rows:
        status = str(p["status"])
        champion = p.get("champion_version")
        head = (
            f'<h3>{escape(str(p["environment"]))} <span class="badge {escape(status)}">'
            f"{escape(status)}</span></h3>"
        )
        facts = [
            ["requested", f"{_when(p['created_at'])} by {p.get('user') or 'unknown'}"],
            ["champion then", "none" if champion is None else f"v{champion}"],
        ]
        if p.get("forced"):
            facts.append(["override", f"forced past failing checks: {p.get('reason') or ''}"])
        elif p.get("reason"):
            facts.append(["reason", str(p["reason"])])
        if p.get("decided_by") or p.get("decided_at"):
            facts.append(
                [
                    "decision",
                    f"{status.lower()} by {p.get('decided_by') or 'unknown'} at "
                    f"{_when(p.get('decided_at'))}"
                    + (f": {p['decision_reason']}" if p.get("decision_reason") else ""),
                ]
            )
        for key, label in (
            ("evaluation_id", "evaluation"),
            ("champion_evaluation_id", "champion evaluation"),
        ):
            if p.get(key) is not None:
                facts.append([label, f"evaluation:/{p[key]}"])
        checks = [
            [
                f'<span class="badge {escape(str(c.get("status", "")))}">'
                f"{escape(str(c.get('status', '')))}</span>",
                f"{c.get('expression', '')} {c.get('op', '')} {c.get('threshold', '')}",
                c.get("value"),
                c.get("message") or "",
            ]
            for c in p["checks"]
        ]
        parts += [head, _report.table(["", ""], facts)]
        parts.append(
            _report.table(["status", "check", "value", "message"], checks, raw=frozenset({0}))
            if checks
            else "<p>The environment declares no gates.</p>"
        )
    return "".join(parts)


def _training(run_id: str) -> str:
    import loopml
    from loopml.tracking import datasets_read

    try:
        run = loopml.get_run(run_id)
    except LoopmlError:
        return f"<h2>Training</h2><p>The run {escape(run_id)} is gone (gc purged it).</p>"
    facts = [
        ["run", f"runs:/{run.id} ({run.name}, {run.status})"],
        ["experiment", run.experiment],
        ["started", _when(run.start_time)],
    ]
    if run.git_commit:
        dirty = " (with uncommitted changes)" if run.git_dirty else ""
        facts.append(["git commit", f"{run.git_commit}{dirty}"])
    if run.user:
        facts.append(["user", run.user])
    data = datasets_read(run.id)
    parts = ["<h2>Training</h2>", _report.table(["", ""], facts), "<h3>Data versions</h3>"]
    parts.append(
        _report.table(["dataset version"], [[d] for d in data])
        if data
        else "<p>The run recorded no dataset version.</p>"
    )
    if run.params:
        parts.append("<h3>Params</h3>")
        parts.append(
            _report.table(
                ["param", "value"],
                [
                    [k, v if isinstance(v, (int, float)) else str(v)]
                    for k, v in sorted(run.params.items())
                ],
            )
        )
    if run.metrics:
        parts.append("<h3>Training metrics</h3>")
        parts.append(_report.table(["metric", "value"], sorted(run.metrics.items())))  # type: ignore[arg-type]
    return "".join(parts)


def _history(name: str, version: int) -> str:
    from loopml.registry import model_history

    moves = model_history(name)
    if not moves:
        return "<h2>Environment history</h2><p>No environment of this model has moved yet.</p>"
    rows = [
        [
            t.environment,
            "" if t.from_version is None else f"v{t.from_version}",
            f"v{t.to_version}" + (" (this version)" if t.to_version == version else ""),
            _when(t.created_at),
            t.user or "",
            t.reason or "",
        ]
        for t in moves
    ]
    return "<h2>Environment history</h2>" + _report.table(
        ["environment", "from", "to", "when", "user", "reason"], rows
    )


def _lineage(uri: str) -> str:
    import loopml

    graph = loopml.get_lineage(uri, depth=3)
    lines: list[str] = []

    def walk(node: Any, depth: int) -> None:
        for child in node.children:
            label = graph.labels.get(child.uri)
            text = f"{child.relation or ''} {child.uri}" + (f": {label}" if label else "")
            lines.append(f'<li style="margin-left:{depth}rem">{escape(text)}</li>')
            walk(child, depth + 1)

    walk(graph.upstream, 0)
    body = f"<ul>{''.join(lines)}</ul>" if lines else "<p>Nothing recorded upstream.</p>"
    return "<h2>Lineage (upstream)</h2>" + body


def render_card(model: Any) -> str:
    """The model card of ``model`` (``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``) as
    one self-contained HTML document."""
    from loopml.registry import get_model_package

    v = _version(model)
    facts = [
        ["version", v.uri],
        ["status", str(v.status)],
        ["aliases", ", ".join(v.aliases) or "none"],
        ["registered", _when(v.created_at)],
        ["source", v.source],
        ["manifest", v.manifest_digest],
    ]
    for key, value in sorted(v.tags.items()):
        facts.append([f"tag {key}", value])
    try:
        info = get_model_package(v.name, v.version)
    except (LoopmlError, ImportError):
        info = None
    if info is not None:
        facts.append(["flavor", str(getattr(info, "flavor", ""))])
        signature = getattr(info, "signature", None)
        if signature is not None:
            facts.append(["inputs", ", ".join(signature.names)])
    parts = [
        f"<p>{escape(v.description)}</p>" if v.description else "",
        _report.table(["", ""], facts),
    ]
    parts.append("<h2>Evaluation</h2>")
    try:
        found = list_evaluations(v.name, v.version, limit=1)
    except CorruptObject as exc:  # the card still shows everything else
        parts.append(f"<p>{escape(str(exc))}</p>")
    else:
        if found:
            parts += _report.report_sections(found[0])
        else:
            parts.append(
                "<p>Not evaluated yet: loopml evaluate "
                f"{escape(v.uri)} --data data:/NAME@VERSION --target COLUMN.</p>"
            )
    parts += [
        _promotions(v.name, v.version),
        _training(v.run_id),
        _history(v.name, v.version),
        _lineage(v.uri),
    ]
    return _report.document(f"Model card: {v.name} v{v.version}", parts)


def model_card(model: Any, path: Any) -> Path:
    """Write the model card of ``model`` (``models:/churn/4``, ``models:/churn@prod``) to
    ``path`` as one self-contained HTML file; returns the path.

    The card shows the version, its newest stored evaluation (metrics, plots,
    slices, fairness, importance, latency), its promotion requests with their
    gate checks, overrides and approvals, the dataset versions, params and
    metrics of its training run, the environment history and the lineage.

    Example::

        loopml.evaluation.model_card("models:/churn/4", "churn-4.html")
    """
    target = _report.writable(path, "model card path")
    return _report.write_html(target, render_card(model), "model card")
