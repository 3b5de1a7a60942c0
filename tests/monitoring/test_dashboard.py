"""The monitor's HTML report: one self-contained file naming the columns and metrics,
hostile names escaped, an empty monitor, and the inputs it refuses."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import loopml
from loopml.errors import InvalidInput, NotFound
from loopml.monitoring import Monitor, MonitorSettings, MonitorWindow, WindowStatus

from .conftest import START, Served, log_window

HOSTILE = "<script>alert(1)</script>"


def _page(text: str) -> str:
    """The page without the inlined plotly.js library (minified code holds any text)."""
    start = text.index("<script>/**\n* plotly.js v")
    return text[:start] + text[text.index("</script>", start) :]


def _titles(text: str) -> list[str]:
    """The titles of the charts in ``text``, as plotly reads them."""
    return [json.loads(f'"{t}"') for t in re.findall(r'"title":\{"text":"((?:[^"\\]|\\.)*)"', text)]


def _charts(text: str) -> list[str]:
    """The ids of the plotly charts the page draws."""
    return re.findall(r'Plotly\.newPlot\(\s*"([^"]+)"', text)


def test_report_shows_windows_columns_and_metrics_in_one_offline_file(
    served: Served, tmp_path: Path
) -> None:
    log_window(served, START, 600, seed=2, feedback=0.5)
    log_window(served, START + timedelta(hours=1), 600, seed=3, shift=1.0)
    log_window(served, START + timedelta(hours=2), 20, seed=4)  # too few rows
    loopml.monitoring.add_monitor("churn", alerts=["drift_share > 0.3"])
    loopml.monitoring.run_monitors(now=START + timedelta(hours=3, minutes=5))

    path = loopml.monitoring.write_monitor_report("churn", tmp_path / "churn.html")
    assert path == tmp_path / "churn.html"
    text = path.read_text(encoding="utf-8")
    # self-contained: plotly.js inlined once, nothing fetched when the page is opened
    assert not re.search(r"<script[^>]+src=", text)
    assert text.count("* plotly.js v") == 1
    text = _page(text)
    assert "http://" not in text and "https://" not in text
    assert len(_charts(text)) >= 8
    # the header
    assert "<title>Monitor churn</title>" in text
    assert "<th>windows</th><td>3</td>" in text
    assert "data:/churn@1" in text and "3600 s" in text
    assert '<span class="badge TOO_FEW_ROWS">TOO_FEW_ROWS</span>' in text
    assert "fewer than min_rows" in text  # the last window's notes
    # over time: the metrics by the names rules and get_monitor_results use
    for metric in (
        "drift_share",
        "live.accuracy",
        "live.f1",
        "estimated.f1",
        "estimated.roc_auc",
        "data.missing_rate",
        "system.request_rate",
        "system.error_rate",
        "system.p99_latency_ms",
    ):
        assert f'"name":"{metric}' in text, metric
    assert '"name":"tenure"' in text and '"name":"charges"' in text
    assert '"name":"too few rows"' in text  # the third window is marked
    assert '"name":"alert raised"' in text  # the second
    assert '"name":"rule: drift_share &gt; 0.3"' in text  # drawn on the drift share chart
    assert "<h2>Firing alerts (1)</h2>" in text
    assert "<td>alerts:/1</td><td>drift_share &gt; 0.3</td><td>0.5</td>" in text
    # distributions of the latest window with drift details (the second), drifted first
    assert "The window starting 2026-11-30 11:00:00 UTC (600 rows" in text
    titles = _titles(text[text.index("<h2>Distributions") :])
    assert titles[:2] == [
        "<b>tenure</b>: <b>drifted</b>, ks 1.718 (threshold 0.1)",
        "<b>charges</b>: no drift, ks 0.04439 (threshold 0.1)",
    ]
    # the table of the last windows, newest first
    table = text[text.index("<h2>The last 3 windows, newest first</h2>") :]
    assert table.index("2026-11-30 12:00:00 UTC") < table.index("2026-11-30 10:00:00 UTC")

    last = loopml.monitoring.write_monitor_report("churn", tmp_path / "last.html", last=2)
    assert "<th>windows</th><td>2 (the last 2 asked for)</td>" in last.read_text("utf-8")


def test_a_hostile_column_name_is_escaped_everywhere(project: Path, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from loopml.predictions import PredictionLogger, PredictionRecord

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({HOSTILE: rng.uniform(0, 60, 1000)})
    frame["y"] = (frame[HOSTILE] > 30).astype("int64")
    frame["region"] = "north"  # two columns the model does not take: no target guessed
    frame.to_parquet(project / "hostile.parquet")
    loopml.add_dataset(project / "hostile.parquet", "hostile")
    with loopml.start_run() as run:
        run.use_dataset("data:/hostile@1")
        model = LogisticRegression().fit(frame[[HOSTILE]], frame["y"])
        info = loopml.log_model(model, input_example=frame[[HOSTILE]].head())
    loopml.register_model(info.uri, "hostile")
    loopml.deploy("hostile", "models:/hostile/1")
    with PredictionLogger("hostile") as logger:
        for i, x in enumerate(rng.uniform(20, 90, 300)):
            logger.log(
                PredictionRecord(
                    f"r-{i}",
                    inputs={HOSTILE: float(x)},
                    prediction=int(x > 30),
                    model_name="hostile",
                    model_version=1,
                    latency_ms=5.0,
                    timestamp=START + timedelta(seconds=i),
                    deployment="hostile",
                )
            )
    loopml.monitoring.add_monitor("hostile")
    loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=1))
    assert f"drift.{HOSTILE}" in loopml.get_monitor_results("hostile").columns

    text = loopml.monitoring.write_monitor_report("hostile", tmp_path / "h.html").read_text(
        encoding="utf-8"
    )
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(1)&lt;" in text  # named, escaped, not dropped


def test_hostile_categories_notes_and_errors_are_escaped(tmp_path: Path) -> None:
    import pandas as pd

    from loopml.monitoring._dashboard import render_monitor_report

    reference = pd.DataFrame({HOSTILE: ["<b>bold</b>", "a&b", "<img src=x onerror=alert(2)>"] * 50})
    current = pd.DataFrame({HOSTILE: ["<img src=x onerror=alert(2)>"] * 150})
    report = loopml.detect_drift(reference, current)
    details = {"drift": report.to_dict(), "notes": [f"slice column {HOSTILE!r} is not in the log"]}
    monitor = Monitor("m", MonitorSettings(deployment="d", alerts=("drift_share > 0.3",)), 0, 0)

    def window(hour: int, status: WindowStatus, error: str | None = None) -> MonitorWindow:
        metrics = {"rows": 150.0, "drift_share": 1.0, f"drift.{HOSTILE}": 0.9}
        return MonitorWindow(
            hour,
            "m",
            START + timedelta(hours=hour),
            START + timedelta(hours=hour + 1),
            150,
            status,
            "data:/x@1",
            metrics if error is None else {"rows": 150.0},
            details if error is None else {},
            error,
            0.0,
        )

    windows = [
        window(0, WindowStatus.ALERT),
        window(1, WindowStatus.FAILED, error=f"KeyError: {HOSTILE}"),
    ]
    whole = render_monitor_report(monitor, windows)
    assert whole.count("* plotly.js v") == 1
    text = _page(whole)
    for raw in (HOSTILE, "<b>bold</b>", "<img src=x", "a&b"):
        assert raw not in text, raw
    assert "&lt;img src=x onerror=alert(2)&gt;" in text  # the category, escaped
    assert "KeyError: &lt;script&gt;alert(1)&lt;/script&gt;" in text  # the failed window
    assert '"name":"failed"' in text and '"name":"alert raised"' in text
    assert '"name":"rule: drift_share &gt; 0.3"' in text  # the rule drawn on its chart


def test_distributions_come_from_the_newest_window_with_drift_details(
    backend: str, tmp_path: Path
) -> None:
    import pandas as pd

    from loopml.context import current
    from loopml.monitoring import _repository as repo

    meta = current().metadata
    repo.save_monitor(meta, "m", MonitorSettings(deployment="d"))
    reference = pd.DataFrame({"age": [float(i % 50) for i in range(500)]})
    drift = loopml.detect_drift(reference, reference.assign(age=reference["age"] + 30))
    cursor = None
    for hour in range(60):  # drift details in the first two windows only, then too few rows
        start = START + timedelta(hours=hour)
        has_drift = hour < 2
        stored = repo.store_window(
            meta,
            "m",
            cursor,
            MonitorWindow(
                0,
                "m",
                start,
                start + timedelta(hours=1),
                500 if has_drift else 5,
                WindowStatus.OK if has_drift else WindowStatus.TOO_FEW_ROWS,
                "data:/x@1",
                {"rows": 500.0, "drift_share": 1.0} if has_drift else {"rows": 5.0},
                {"drift": drift.to_dict(), "notes": []} if has_drift else {"notes": [f"n{hour}"]},
                None,
                0.0,
            ),
        )
        assert stored is not None
        cursor = stored.end

    text = loopml.monitoring.write_monitor_report("m", tmp_path / "m.html").read_text("utf-8")
    assert "The window starting 2026-11-30 11:00:00 UTC (500 rows" in text
    assert _titles(text[text.index("<h2>Distributions") :])[0].startswith("<b>age</b>: <b>drifted")
    assert "<h2>The last 50 windows, newest first</h2>" in text
    assert "<li>n59</li>" in text  # the last window's notes

    text = loopml.monitoring.write_monitor_report("m", tmp_path / "m.html", last=5).read_text()
    assert "No window holds drift details yet" in text  # none among the last 5


def test_a_monitor_without_windows_gets_a_page_saying_so(served: Served, tmp_path: Path) -> None:
    loopml.monitoring.add_monitor("churn")
    path = loopml.monitoring.write_monitor_report("churn", tmp_path / "empty.html")
    text = path.read_text(encoding="utf-8")
    assert "No windows yet" in text and "loopml monitor run churn" in text
    assert "<th>windows</th><td>0</td>" in text
    assert _charts(text) == []


def test_the_command_writes_the_report_and_names_an_unknown_monitor(
    served: Served, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from loopml.cli import app

    loopml.monitoring.add_monitor("churn")
    runner = CliRunner()
    target = tmp_path / "cli.html"
    result = runner.invoke(app, ["monitor", "report", "churn", "--html", str(target)])
    assert result.exit_code == 0, result.output
    assert "HTML report written to" in result.output
    assert "No windows yet" in target.read_text(encoding="utf-8")
    result = runner.invoke(app, ["monitor", "report", "nope", "--html", str(target)])
    assert isinstance(result.exception, NotFound)  # loopml's main prints it, no traceback
    assert "no monitor 'nope'" in str(result.exception)


def test_an_unknown_monitor_is_not_found_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no monitor 'nope'"):
        loopml.monitoring.write_monitor_report("nope", tmp_path / "nope.html")
    assert not (tmp_path / "nope.html").exists()


def test_bad_arguments_are_refused_before_any_work(project: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="last must be a whole number"):
        loopml.monitoring.write_monitor_report("nope", tmp_path / "r.html", last=0)
    with pytest.raises(InvalidInput, match="not an existing folder"):
        loopml.monitoring.write_monitor_report("nope", tmp_path / "missing" / "r.html")
    with pytest.raises(InvalidInput, match="monitor name"):
        loopml.monitoring.write_monitor_report("../etc", tmp_path / "r.html")


def test_without_plotly_the_report_says_which_extra_to_install(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly.io", None)
    with pytest.raises(InvalidInput, match=re.escape("pip install 'loopml[report]'")):
        loopml.monitoring.write_monitor_report("churn", tmp_path / "r.html")
