"""Evaluation.to_html, compare() and the champion of a model."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import InvalidInput, MissingExtra, NotFound


def _text(html: str) -> str:
    """The page without its scripts (plotly.js and the figures' data)."""
    return re.sub(r"<script.*?</script>", "", html, flags=re.S)


def test_the_report_is_one_offline_page_with_every_section(
    churn_model: str, churn: Any, project: Path
) -> None:
    hostile = churn.copy()
    hostile.loc[hostile["region"] == "east", "region"] = "<script>alert(1)</script>"
    ev = loopml.evaluate(
        churn_model, hostile, target="churned", slices=["region"], sensitive_features=["sex"]
    )
    path = ev.to_html(project / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=", html)  # nothing fetched: plotly.js is inline
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs()[-2000:] in html
    text = _text(html)
    for heading in (
        "Metrics",
        "ROC curve",
        "Confusion matrix",
        "Calibration",
        "Slices",
        "Fairness",
        "Feature importance",
        "Latency",
    ):
        assert f">{heading}<" in text, heading
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert ev.uri in text and f"{ev.metrics['f1']:.4g}" in text
    # each plot is a plotly figure: ROC, confusion, calibration, one slice bar per sliced
    # column, fairness rates, importance
    figures = html.count("Plotly.newPlot(")
    assert figures == 3 + len(ev.slices) + len(ev.fairness) + 1


def test_the_report_against_a_champion_shows_the_deltas(
    churn_model: str, churn: Any, project: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=0.001).fit(churn[["tenure"]].assign(charges=0.0), churn["churned"])
    other = project / "weak"
    loopml.save_model(clf, other, input_example=churn[["tenure", "charges"]].head())
    cand = loopml.evaluate(churn_model, churn, target="churned", store=False, latency=False)
    champ = loopml.evaluate(other, churn, target="churned", store=False, latency=False)
    deltas = {d.metric: d for d in loopml.evaluation.compare(cand, champ)}
    assert set(deltas) == set(cand.metrics) | set(champ.metrics)
    f1 = deltas["f1"]
    assert f1.delta == pytest.approx(cand.metrics["f1"] - champ.metrics["f1"])
    assert f1.improved is (f1.delta > 0) and f1.higher_is_better
    loss = deltas["log_loss"]
    assert not loss.higher_is_better and loss.improved is (loss.delta < 0)
    text = _text(cand.to_html(project / "vs.html", champion=champ).read_text(encoding="utf-8"))
    assert "Metrics against the champion" in text
    assert f"{f1.delta:.4g}" in text
    shifted = churn.copy()
    shifted.loc[0, "tenure"] += 1
    moved = loopml.evaluate(other, shifted, target="churned", store=False, latency=False)
    with pytest.raises(InvalidInput, match="different data"):
        loopml.evaluation.compare(cand, moved)
    with pytest.raises(InvalidInput, match="must be an Evaluation"):
        loopml.evaluation.compare(cand, {"metrics": {}})  # type: ignore[arg-type]


def test_a_regression_report_has_no_classifier_plots(project: Path) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.uniform(1, 10, 200), "kind": rng.choice(["p", "q"], 200)})
    frame["y"] = 3 * frame["x"] + rng.normal(0, 1, 200)
    loopml.save_model(
        LinearRegression().fit(frame[["x"]], frame["y"]),
        project / "reg",
        input_example=frame[["x"]],
    )
    ev = loopml.evaluate(project / "reg", frame, target="y", store=False, latency=False)
    text = _text(ev.to_html(project / "reg.html").read_text(encoding="utf-8"))
    assert ">Slices<" in text and "rmse" in text
    assert ">ROC curve<" not in text and ">Confusion matrix<" not in text


def test_a_report_path_that_cannot_be_written_is_refused_first(
    churn_model: str, churn: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev = loopml.evaluate(churn_model, churn, target="churned", store=False, latency=False)
    with pytest.raises(InvalidInput, match="is not an existing folder"):
        ev.to_html(project / "missing" / "r.html")
    (project / "afile").write_text("x")
    with pytest.raises(InvalidInput, match="is not an existing folder"):
        ev.to_html(project / "afile" / "r.html")
    with pytest.raises(InvalidInput, match="is a folder"):
        ev.to_html(project)
    with pytest.raises(InvalidInput, match="must be a path"):
        ev.to_html(3)
    assert not (project / "missing").exists()
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(MissingExtra, match=r"pip install 'loopml\[report\]'"):
        ev.to_html(project / "r.html")
    assert not (project / "r.html").exists()


def test_the_champion_is_the_champion_alias_or_the_environment(
    churn_model: str, churn: Any, project: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    with loopml.start_run():
        info = loopml.log_model(
            LogisticRegression(C=0.5).fit(churn[["tenure", "charges"]], churn["churned"]),
            input_example=churn[["tenure", "charges"]].head(),
        )
    second = loopml.register_model(info.uri, "churn").uri
    with pytest.raises(NotFound, match="model 'churn' has no champion.*'champion'"):
        loopml.evaluation.champion_uri(second)
    with pytest.raises(NotFound, match="no version is under 'prod'.*--to prod"):
        loopml.evaluation.champion_uri(second, environment="prod")
    loopml.set_alias("churn", "champion", 1)
    loopml.promote_model("churn", 2, to="prod")
    assert loopml.evaluation.champion_uri(second) == "models:/churn/1"
    assert loopml.evaluation.champion_uri(second, environment="prod") == "models:/churn/2"
    with pytest.raises(InvalidInput, match="unknown environment 'qa'"):
        loopml.evaluation.champion_uri(second, environment="qa")
    with pytest.raises(InvalidInput, match="not a models:/ URI"):
        loopml.evaluation.champion_uri(str(project / "weak"))
    with pytest.raises(NotFound, match="nope"):
        loopml.evaluation.champion_uri("models:/nope/1")
