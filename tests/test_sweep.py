"""Every SDK entry point and CLI command, fed hostile input: the only errors that escape
are loopml's own (one line, saying what to do), never a raw TypeError or a traceback."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loopml
from loopml.errors import LoopmlError

SPECIAL = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "data:/",
    "data:/x@",
    "data:/x@-1",
    "data:/x@99999999999999999999999999",
    "data:/../../etc@1",
    "runs:/",
    "runs:/../../etc/passwd",
    "runs:/" + "f" * 200,
    "validation:/zz",
    "cache:/",
    "models:/m@",
    "ftp://host/x",
    "postgresql://u:pw@[::1/db",
    "postgresql://u@127.0.0.1:99999/db",
    "sqlite:///",
    "../../etc/passwd",
    "/etc/passwd",
    "~",
    "%s%s%s",
    "?",
    "'; DROP TABLE runs; --",
    "metrics.f1 > 'x'",
    "(((((",
    "not " * 50,
    "é" * 300,
    "\ud800",
    "x" * 5000,
    "1e309",
    "nan",
    "-inf",
]

hostile_text = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=200))
hostile = st.one_of(
    hostile_text,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=20),
    st.lists(hostile_text, max_size=3),
    st.dictionaries(hostile_text, hostile_text, max_size=3),
)

SWEEP = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _only_loopml_errors(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except LoopmlError as exc:
        text = str(exc)
        assert text.strip(), f"an empty message from {type(exc).__name__}"


@pytest.fixture
def seeded(project: Path) -> Path:
    (project / "d.csv").write_text("x,y\n1,a\n2,b\n")
    loopml.add_dataset(project / "d.csv", "d")
    with loopml.start_run("sweep") as run:
        run.log_metric("m", 1.0)
    from sklearn.linear_model import LogisticRegression

    with loopml.start_run("sweep"):  # models:/m/1, which staging's gates judge on data:/d
        clf = LogisticRegression().fit([[1.0], [2.0]], [0, 1])
        info = loopml.log_model(clf, input_example=[{"x": 1.0}])
    loopml.register_model(info.uri, "m")
    (project / "loopml.toml").write_text(
        '[gates.staging]\n"metrics.accuracy" = ">= 0.5"\n'
        '[gates.staging.options]\ndata = "data:/d"\ntarget = "y"\n'
        "[gates.prod.options]\napproval = true\n"
    )
    loopml.context.reset()
    return project


def _reading_calls(seeded: Path, value: Any, other: Any) -> list[Callable[[], Any]]:
    return [
        lambda: loopml.search_runs(value),
        lambda: loopml.search_runs("", tracking_uri=value),
        lambda: loopml.search_runs("", experiment=value),
        lambda: loopml.search_runs("", order_by=value),
        lambda: loopml.search_runs("", max_results=value),
        lambda: loopml.get_run(value),
        lambda: loopml.get_metric_history(value, other),
        lambda: loopml.get_dataset(value),
        lambda: loopml.data.dataset_versions(value),
        lambda: loopml.data.diff_versions(value, other),
        lambda: loopml.lineage.get_lineage(value),
        lambda: loopml.lineage.get_lineage("data:/d@1", depth=value),
        lambda: loopml.lineage.resolve(value),
        lambda: loopml.tracking.list_artifacts(value),
        lambda: loopml.tracking.child_runs(value),
        lambda: loopml.tracking.child_runs("0" * 32, value),
        lambda: loopml.tracking.list_artifacts("0" * 32, value),
        lambda: loopml.tracking.get_artifact(value),
        lambda: loopml.tracking.download_artifact(value, other, seeded / "out"),
        lambda: loopml.data.status(value),
        lambda: loopml.validate("d", suite=value),
        lambda: loopml.load_pipeline(value),
        lambda: loopml.load_study(value),
        lambda: loopml.load_pipeline_run(value),
        lambda: loopml.uri.parse_uri(value),
        lambda: loopml.validate(value, reference="d", store=False),
        lambda: loopml.infer_suite(value),
        lambda: loopml.evaluation.read_gates(value),
        lambda: loopml.evaluation.list_promotions(value),
        lambda: loopml.evaluation.list_promotions("m", value, other),
        lambda: loopml.evaluation.list_promotions("m", limit=value),
        lambda: loopml.evaluation.get_promotion(value),
        lambda: loopml.get_deployment(value),
        lambda: loopml.deployments.deployment_history(value),
        lambda: loopml.deployments.changes_since(value),
        lambda: loopml.read_predictions(value),
        lambda: loopml.read_predictions("d", start=value),
        lambda: loopml.read_predictions("d", end=value),
        lambda: loopml.read_predictions("d", with_feedback=value),
    ]


def _writing_calls(seeded: Path, value: Any, other: Any) -> list[Callable[[], Any]]:
    def in_a_run(fn: Callable[[loopml.tracking.ActiveRun], Any]) -> None:
        with loopml.start_run("sweep") as run:
            fn(run)

    return [
        lambda: loopml.start_run(value).end(),
        lambda: loopml.start_run("sweep", run_name=value).end(),
        lambda: loopml.start_run("sweep", params=value).end(),
        lambda: loopml.start_run("sweep", tags=value).end(),
        lambda: loopml.start_run("sweep", kind=value).end(),
        lambda: loopml.start_run("sweep", parent=value).end(),
        lambda: in_a_run(lambda r: r.log_metric(value, 1.0)),
        lambda: in_a_run(lambda r: r.log_metric("m", value)),
        lambda: in_a_run(lambda r: r.log_metric("m", 1.0, step=value)),
        lambda: in_a_run(lambda r: r.log_metrics(value)),
        lambda: in_a_run(lambda r: r.log_param(value, other)),
        lambda: in_a_run(lambda r: r.set_tag(value, other)),
        lambda: in_a_run(lambda r: r.log_dict(value, "x.json")),
        lambda: in_a_run(lambda r: r.log_dict({"a": 1}, value)),
        lambda: in_a_run(lambda r: r.use_dataset(value)),
        lambda: loopml.add_dataset(seeded / "d.csv", value),
        lambda: loopml.add_dataset(value, "d2"),
        lambda: loopml.add_dataset(seeded / "d.csv", "d", message=value),
        lambda: loopml.lineage.add_edge(value, "data:/d@1", "input"),
        lambda: loopml.lineage.add_edge("data:/d@1", "data:/d@1", value),
        lambda: loopml.gc(grace_seconds=value),
        lambda: loopml.Client(seeded, tracking_uri=value),
        lambda: loopml.Client(seeded, flush_interval=value),
        lambda: loopml.Client(value).settings,
        lambda: loopml.Client(seeded, artifact_uri=value).artifacts,
        lambda: loopml.Client(seeded, data_remote=value).settings,
        lambda: loopml.Client(seeded, executor=value).settings,
        lambda: loopml.data.push(value),
        lambda: loopml.promote(value, "staging"),
        lambda: loopml.promote("m/1", value),
        lambda: loopml.promote("m", "staging", version=value),
        lambda: loopml.promote("m/1", "staging", force=value, reason=other),
        lambda: loopml.approve(value, other),
        lambda: loopml.approve("m/1", "prod", value),
        lambda: loopml.reject(value, "prod", other),
        lambda: loopml.deploy(value, "models:/m/1"),
        lambda: loopml.deploy("dep", value),
        lambda: loopml.deploy("dep", "models:/m/1", reason=value, config=other),
        lambda: loopml.deploy("dep", "models:/m/1", config=value),
        lambda: loopml.deployments.delete_deployment(value, reason=other),
        lambda: loopml.predictions.log_feedback(value, other),
        lambda: loopml.predictions.log_feedback("d", value),
        lambda: loopml.predictions.log_feedback(
            "d", [{"request_id": value, "ground_truth": other}]
        ),
        lambda: loopml.predictions.prune(value),
        lambda: loopml.predictions.prune(older_than=value),
        lambda: loopml.predictions.PredictionLogger(value).close(),
        lambda: loopml.predictions.PredictionLogger("d", flush_rows=value).close(),
        lambda: loopml.predictions.PredictionLogger("d", flush_seconds=value).close(),
        lambda: loopml.predictions.PredictionLogger("d", max_queue=value).close(),
        lambda: loopml.predictions.PredictionRecord(value, inputs={"a": other}),
        lambda: loopml.predictions.PredictionRecord("r", inputs=value, prediction=other),
    ]


#: every special text, and one of each other type, tried on every entry point
EACH = [*SPECIAL, None, True, 3, -1, 2**70, 1.5, math.nan, math.inf, b"x", ["a"], [1], {"a": 1}]


@pytest.mark.parametrize("value", EACH, ids=repr)
def test_each_special_value_gets_a_loopml_error_or_an_answer(seeded: Path, value: Any) -> None:
    for call in _reading_calls(seeded, value, value) + _writing_calls(seeded, value, value):
        _only_loopml_errors(call)


@SWEEP
@given(value=hostile, other=hostile)
def test_reading_entry_points_raise_only_loopml_errors(
    seeded: Path, value: Any, other: Any
) -> None:
    for call in _reading_calls(seeded, value, other):
        _only_loopml_errors(call)


@SWEEP
@given(value=hostile, other=hostile)
def test_writing_entry_points_raise_only_loopml_errors(
    seeded: Path, value: Any, other: Any
) -> None:
    for call in _writing_calls(seeded, value, other):
        _only_loopml_errors(call)


COMMANDS = [
    ["runs", "show", "{v}"],
    ["runs", "list", "--filter", "{v}"],
    ["runs", "list", "--order-by", "{v}"],
    ["runs", "list", "--experiment", "{v}"],
    ["runs", "compare", "{v}", "{v}"],
    ["lineage", "{v}"],
    ["data", "show", "{v}"],
    ["data", "diff", "{v}", "d@1"],
    ["data", "add", "{v}", "--name", "x"],
    ["data", "add", "d.csv", "--name", "{v}"],
    ["data", "checkout", "{v}"],
    ["data", "validate", "{v}"],
    ["run", "{v}"],
    ["tune", "{v}"],
    ["db", "current", "--tracking-uri", "{v}"],
    ["data", "push", "--remote", "{v}"],
    ["data", "status", "{v}"],
    ["fsck", "--remote", "{v}"],
    ["gc", "--grace", "{v}"],
    ["models", "promote", "{v}", "--to", "staging"],
    ["models", "promote", "m/1", "--to", "{v}"],
    ["models", "approve", "{v}", "--to", "prod", "--reason", "{v}"],
    ["models", "reject", "m/1", "--to", "{v}"],
    ["models", "history", "{v}"],
    ["deploy", "{v}", "--model", "models:/m/1"],
    ["deploy", "dep", "--model", "{v}", "--reason", "{v}"],
    ["deploy", "dep", "--model", "models:/m/1", "--config", "{v}"],
    ["deployments", "status", "{v}"],
    ["deployments", "delete", "{v}"],
]


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=st.one_of(st.sampled_from(SPECIAL), st.text(max_size=80)))
def test_commands_answer_hostile_arguments_in_one_line(
    seeded: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    from loopml.cli import main

    for template in COMMANDS:
        if "\x00" in value:  # an argument can never hold NUL: the OS refuses it first
            continue
        args = [a.replace("{v}", value) for a in template]
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        assert code in (0, 1, 2), (args, code, out)
        assert "Traceback" not in out.out + out.err, (args, out)
