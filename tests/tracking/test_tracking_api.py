from __future__ import annotations

import inspect
import json
import subprocess
import sys

import loopml
import loopml.tracking as tracking

REQUIRED = {
    "Run",
    "Metric",
    "start_run",
    "end_run",
    "active_run",
    "log_param",
    "log_params",
    "log_metric",
    "log_metrics",
    "set_tag",
    "set_tags",
    "log_artifact",
    "log_dict",
    "log_figure",
    "get_run",
    "get_metric_history",
    "search_runs",
}


def test_public_names_are_exported_sorted_and_reachable_from_loopml() -> None:
    assert tracking.__all__ == sorted(tracking.__all__)
    assert set(tracking.__all__) >= REQUIRED
    for name in REQUIRED:
        assert getattr(loopml, name) is getattr(tracking, name), name


def test_start_run_signature() -> None:
    params = inspect.signature(tracking.start_run).parameters
    assert list(params)[:3] == ["experiment", "run_name", "params"]
    assert params["experiment"].default is None  # the parent's experiment, else "Default"
    for name in ("parent", "nested", "tags", "kind", "tracking_uri"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_importing_tracking_loads_no_heavy_library() -> None:
    code = (
        "import sys, json, loopml.tracking; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pandas','numpy','matplotlib','plotly','sklearn','pyarrow','yaml','psycopg'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
