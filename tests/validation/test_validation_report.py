"""The JSON and HTML reports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import loopml


def test_html_report_shows_failed_check_and_samples(tmp_path: Path, iris: pd.DataFrame) -> None:
    current = iris.copy()
    current.loc[[4, 8], "species"] = "<b>weed</b>"
    result = loopml.validate(current, loopml.infer_suite(iris))
    text = result.to_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text() == text
    assert "in_set(species)" in text and "failed" in text
    assert "&lt;b&gt;weed&lt;/b&gt;" in text and "<b>weed</b>" not in text
    assert "<link" not in text and "<script" not in text and "http" not in text


def test_json_report_round_trips(tmp_path: Path, iris: pd.DataFrame) -> None:
    current = iris.copy()
    current.loc[0, "sepal width (cm)"] = 50.0
    result = loopml.validate(current, loopml.infer_suite(iris))
    result.to_json(tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["passed"] is False and data["n_rows"] == 150
    [failed] = [r for r in data["results"] if r["status"] == "failed"]
    assert failed["name"] == "between(sepal width (cm))"
    assert failed["sample_values"] == [50.0] and failed["failed_count"] == 1
    assert result.to_dict()["n_failures"] == 1
