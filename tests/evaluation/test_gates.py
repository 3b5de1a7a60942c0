"""Gates: ``[gates.<env>]`` is read and checked up front; checks pass, fail or skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.evaluation import GateStatus, check_gates, read_gates

GATES = """
[gates.prod]
"metrics.f1" = ">= 0.85"
"metrics.f1 - champion.metrics.f1" = ">= -0.01"
"slices.region.f1" = ">= 0.75"
"fairness.sex.demographic_parity_difference" = "<= 0.1"
"latency.p99_ms" = "<= 20"

[gates.prod.options]
data = "data:/churn-holdout"
require_validation = true
approval = true
"""


def _gates(project: Path, text: str, env: str = "prod") -> Any:
    (project / "loopml.toml").write_text(text)
    loopml.context.reset()
    return read_gates(env)


def _evaluation(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metrics": {"f1": 0.9, "accuracy": 0.92, "rmse": 1.0},
        "slices": {
            "region": {
                "north": {"count": 10, "f1": 0.8, "log_loss": 0.3},
                "south": {"count": 12, "f1": 0.95, "log_loss": 0.6},
            }
        },
        "fairness": {"sex": {"demographic_parity_difference": 0.05}},
        "latency": {"p50_ms": 1.0, "p99_ms": 4.0},
        "importance": {"age": {"mean": 0.2, "std": 0.01}},
    }
    base.update(over)
    return base


def test_the_feature_requests_gates_read_as_five_checks_and_options(project: Path) -> None:
    gates = _gates(project, GATES)
    assert gates.checks == [
        "metrics.f1 >= 0.85",
        "metrics.f1 - champion.metrics.f1 >= -0.01",
        "slices.region.f1 >= 0.75",
        "fairness.sex.demographic_parity_difference <= 0.1",
        "latency.p99_ms <= 20",
    ]
    assert gates.options.data == "data:/churn-holdout"
    assert gates.options.require_validation and gates.options.approval
    assert gates.slice_columns == ["region"] and gates.sensitive_features == ["sex"]
    assert gates.uses_champion
    assert loopml.context.current().settings.gates["prod"]["options"]["approval"] is True


def test_an_environment_without_gates_has_no_rules(project: Path) -> None:
    gates = _gates(project, GATES, env="staging")
    assert gates.rules == () and not gates.declared


def test_checks_pass_fail_and_read_the_worst_slice(project: Path) -> None:
    gates = _gates(project, GATES)
    champion = _evaluation(metrics={"f1": 0.95})
    checks = check_gates(gates, _evaluation(), champion)
    assert [(c.expression, c.status) for c in checks] == [
        ("metrics.f1", GateStatus.PASSED),
        ("metrics.f1 - champion.metrics.f1", GateStatus.FAILED),
        ("slices.region.f1", GateStatus.PASSED),
        ("fairness.sex.demographic_parity_difference", GateStatus.PASSED),
        ("latency.p99_ms", GateStatus.PASSED),
    ]
    assert checks[0].value == pytest.approx(0.9)
    assert checks[1].value == pytest.approx(-0.05)
    assert checks[1].message == "-0.05 is not >= -0.01"
    assert checks[2].value == pytest.approx(0.8)  # the worst region, not the mean


def test_a_lower_is_better_slice_metric_takes_the_highest_slice(project: Path) -> None:
    gates = _gates(
        project,
        '[gates.prod]\n"slices.region.log_loss" = "<= 0.5"\n'
        '[gates.prod.options]\ndata = "data:/d"\n',
    )
    (check,) = check_gates(gates, _evaluation())
    assert check.value == pytest.approx(0.6) and check.status == GateStatus.FAILED


def test_a_column_with_dots_in_its_name_is_named_whole(project: Path) -> None:
    gates = _gates(
        project,
        '[gates.prod]\n"slices.geo.region.f1" = ">= 0.5"\n'
        '"fairness.geo.region.demographic_parity_difference" = "<= 0.2"\n'
        '"importance.x.y" = ">= 0.1"\n'
        '[gates.prod.options]\ndata = "data:/d"\n',
    )
    assert gates.slice_columns == ["geo.region"] and gates.sensitive_features == ["geo.region"]
    found = _evaluation(
        slices={"geo.region": {"a.b": {"count": 5, "f1": 0.6}}},
        fairness={"geo.region": {"demographic_parity_difference": 0.1}},
        importance={"x.y": {"mean": 0.3, "std": 0.0}},
    )
    checks = check_gates(gates, found)
    assert [c.status for c in checks] == [GateStatus.PASSED] * 3
    assert [c.value for c in checks] == [pytest.approx(0.6), pytest.approx(0.1), 0.3]


def test_a_champion_check_without_a_champion_is_skipped_never_passed(project: Path) -> None:
    gates = _gates(project, GATES)
    checks = check_gates(gates, _evaluation(), None)
    assert checks[1].status == GateStatus.SKIPPED and checks[1].value is None
    assert "no champion" in (checks[1].message or "")
    assert not checks[1].passed
    assert [c.status for c in checks if c.expression != checks[1].expression] == [
        GateStatus.PASSED
    ] * 4


def test_a_name_nobody_computed_fails_with_a_message(project: Path) -> None:
    gates = _gates(
        project,
        '[gates.prod]\n"metrics.roc_auc" = ">= 0.8"\n"slices.city.f1" = ">= 0.5"\n'
        '"fairness.age.equal_opportunity_difference" = "<= 0.2"\n'
        '"importance.zip" = ">= 0"\n"champion.metrics.roc_auc - metrics.roc_auc" = "<= 0"\n'
        '[gates.prod.options]\ndata = "data:/d"\n',
    )
    checks = check_gates(gates, _evaluation(), _evaluation())
    assert [c.status for c in checks] == [GateStatus.FAILED] * 5
    assert "metrics.roc_auc was not computed (the model has no predict_proba)" in str(
        checks[0].message
    )
    assert "column 'city'" in str(checks[1].message)
    assert "column 'age'" in str(checks[2].message)
    assert "feature 'zip'" in str(checks[3].message)
    # the candidate's missing metric fails, even though the champion's is missing too
    assert checks[4].value is None


def test_a_nan_value_fails_instead_of_passing(project: Path) -> None:
    gates = _gates(project, '[gates.prod]\n"metrics.f1" = "<= 1"\n[gates.prod.options]\ndata="d"\n')
    (check,) = check_gates(gates, _evaluation(metrics={"f1": float("nan")}))
    assert check.status == GateStatus.FAILED and "NaN" in str(check.message)


def test_arithmetic_parentheses_abs_and_every_comparison(project: Path) -> None:
    text = """
[gates.prod]
"abs(metrics.f1 - champion.metrics.f1)" = "<= 0.051"
"(metrics.f1 + metrics.accuracy) / 2" = "> 0.9"
"2 * -metrics.rmse" = "< -1.5"
"metrics.accuracy" = "== 0.92"
"metrics.rmse" = "!= 1"
"latency.p99_ms / latency.p50_ms" = ">= 4"
"importance.age" = ">= 0.2"
[gates.prod.options]
data = "data:/d"
tolerance = 0.001
"""
    gates = _gates(project, text)
    checks = check_gates(gates, _evaluation(), _evaluation(metrics={"f1": 0.85}))
    assert [c.status for c in checks] == [
        GateStatus.PASSED,
        GateStatus.PASSED,
        GateStatus.PASSED,
        GateStatus.PASSED,
        GateStatus.FAILED,  # 1.0 is equal to 1 within the tolerance
        GateStatus.PASSED,
        GateStatus.PASSED,
    ]
    assert checks[1].value == pytest.approx(0.91)


def test_division_by_zero_fails_with_a_message(project: Path) -> None:
    gates = _gates(
        project, '[gates.prod]\n"metrics.f1 / 0" = "> 1"\n[gates.prod.options]\ndata="d"\n'
    )
    (check,) = check_gates(gates, _evaluation())
    assert check.status == GateStatus.FAILED and check.message == "division by zero"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('"metrics.f11" = ">= 0.8"', "unknown metric 'f11'; expected one of accuracy"),
        ('"metric.f1" = ">= 0.8"', "unknown name 'metric.f1': a name starts with metrics"),
        ('"slices.region" = ">= 0.8"', "expected slices.<column>.<metric>"),
        ('"slices.region.fone" = ">= 0.8"', "unknown metric 'fone' of slices.region"),
        ('"fairness.sex.parity" = "<= 0.1"', "unknown fairness measure 'parity'"),
        ('"latency.p95_ms" = "<= 20"', "unknown latency key 'p95_ms'"),
        ('"champion" = ">= 1"', "'champion' must be followed by a name"),
        ('"metrics.f1" = ">= high"', "'high' is not a number"),
        ('"metrics.f1" = ">= nan"', "'nan' is not a number"),
        ('"metrics.f1" = "0.85"', "expected a comparison: one of >=, <=, ==, !=, >, <"),
        ('"metrics.f1" = 0.85', 'expected a comparison as text, such as ">= 0.85"'),
        ('"metrics.f1 +" = ">= 1"', "malformed expression: the expression ends too early"),
        ('"metrics.f1 ** 2" = ">= 1"', "malformed expression"),
        ('"(metrics.f1" = ">= 1"', "'(' is not closed by ')'"),
        ('"__import__(1)" = ">= 1"', "unknown function '__import__': abs(...) is the only"),
        ('"metrics.f1.__class__" = ">= 1"', "expected metrics.<metric>"),
        ('"metrics.f1; 1" = ">= 1"', "unexpected ';'"),
        ('"3" = ">= 1"', "names nothing to check"),
        ('metrics.f1 = ">= 0.8"', "a dotted name must be quoted in loopml.toml"),
    ],
)
def test_a_typo_is_one_error_naming_the_key_when_the_gates_are_read(
    project: Path, line: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        _gates(project, f'[gates.prod]\n{line}\n[gates.prod.options]\ndata = "data:/d"\n')
    text = str(exc.value)
    assert "\n" not in text and "[gates.prod]" in text and message in text, text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('dta = "data:/d"', "unknown option 'dta'; expected one of data, target"),
        ('data = "data:/d"\napproval = "yes"', "approval must be true or false"),
        ('data = "data:/d"\ntolerance = -1', "tolerance must be a number of 0 or more"),
        ('data = "data:/bad name!"', "data: malformed"),
        ('data = "data:/d"\nsuite = "s.json"', "suite is used only with require_validation"),
        ("approval = false", "checks need evaluation data"),
    ],
)
def test_a_bad_option_is_one_error(project: Path, options: str, message: str) -> None:
    with pytest.raises(InvalidInput, match="gates.prod") as exc:
        _gates(project, f'[gates.prod]\n"metrics.f1" = ">= 0.8"\n[gates.prod.options]\n{options}\n')
    assert message in str(exc.value)


def test_gates_of_an_unknown_environment_fail_when_the_settings_are_read(project: Path) -> None:
    (project / "loopml.toml").write_text('[gates.production]\n"metrics.f1" = ">= 0.8"\n')
    loopml.context.reset()
    with pytest.raises(InvalidInput, match=r"\[gates.production\] names no environment: expected"):
        loopml.context.current().settings  # noqa: B018
    (project / "loopml.toml").write_text(
        '[models]\nenvironments = ["qa", "production"]\n[gates.production]\n"metrics.f1" = ">= 0.8"'
        '\n[gates.production.options]\ndata = "data:/d"\n'
    )
    loopml.context.reset()
    assert read_gates("production").checks == ["metrics.f1 >= 0.8"]
    with pytest.raises(InvalidInput, match="unknown environment 'prod': expected one of qa"):
        read_gates("prod")


def test_a_gates_value_that_is_not_a_table_is_refused(project: Path) -> None:
    (project / "loopml.toml").write_text("gates = { prod = 3 }\n")
    loopml.context.reset()
    with pytest.raises(InvalidInput, match="gates.prod must be a table of checks"):
        loopml.context.current().settings  # noqa: B018


def test_a_check_round_trips_through_its_dict(project: Path) -> None:
    gates = _gates(project, GATES)
    for check in check_gates(gates, _evaluation(), None):
        assert type(check).from_dict(check.to_dict()) == check
