"""Gates against hostile and mistaken input: every typo fails when the gates are read, a
stored evaluation is reused only when it answers the same question, a declared suite is
the one that judges the data, and an approval moves only what today's gates checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import Conflict, GateFailed, InvalidInput, NotFound
from loopml.evaluation import GateStatus, PromotionStatus, check_gates, read_gates

OPTIONS = '[gates.prod.options]\ndata = "data:/d"\n'


def _read(project: Path, key: str, value: str) -> Any:
    (project / "loopml.toml").write_text(f"[gates.prod]\n{key} = {value}\n{OPTIONS}")
    loopml.context.reset()
    return read_gates("prod")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('">= ٠.٨"', "'٠.٨' is not a number"),  # Arabic-Indic digits
        ('">= ５"', "'５' is not a number"),  # a full-width digit
        ('">= 0_85"', "'0_85' is not a number"),  # float() reads it as 85
        ('">= 1e999"', "'1e999' is not a number"),
        ('">= infinity"', "'infinity' is not a number"),
        ('"!= NaN"', "'NaN' is not a number"),
        ('"≥ 0.8"', "expected a comparison: one of"),
        ('"=> 0.8"', "expected a comparison: one of"),
        ('">= 0.8 and"', "'0.8 and' is not a number"),
        ('">= 0.8 # high"', "is not a number"),
    ],
)
def test_a_threshold_is_plain_ascii_digits_or_an_error_when_read(
    project: Path, value: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        _read(project, '"metrics.f1"', value)
    assert message in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ('"metrics.f1 * ٢"', "unexpected '٢'"),
        ('"metrics.f1 + ５"', "unexpected '５'"),
        ('"1e999 * metrics.f1"', "1e999 is not a finite number"),
        ('"0 * 1e400 + metrics.f1"', "1e400 is not a finite number"),
        ('"`metrics.f1`"', "unexpected '`'"),
        ("\"'metrics.f1'\"", 'unexpected "\'"'),
        ('"champion.champion.metrics.f1"', "unknown name 'champion.champion.metrics.f1'"),
        ('"slices.f1"', "expected slices.<column>.<metric>"),
        ('"slices.a.b.f11"', "unknown metric 'f11' of slices.a.b"),
        ('"metrics.f1\\n- champion.metrics.f1"', "unexpected '\\n'"),
        ('"metrics.f1\\u200b"', "unexpected '\\u200b'"),
    ],
)
def test_an_expression_typo_is_an_error_when_read(project: Path, key: str, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        _read(project, key, '">= 0.5"')
    assert message in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    "key",
    [
        "(" * 3000 + "metrics.f1" + ")" * 3000,
        "-" * 5000 + "metrics.f1",
        "abs(" * 3000 + "metrics.f1" + ")" * 3000,
        "metrics.f1" + " + 1" * 50_000,
        "(" * 200 + "metrics.f1" + ")" * 200,  # short enough, but too deep
    ],
)
def test_a_huge_or_deeply_nested_expression_is_one_error_not_a_crash(
    project: Path, key: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        _read(project, f'"{key}"', '">= 0"')
    text = str(exc.value)
    assert "characters long" in text or "levels deep" in text, text[:300]
    assert len(text) < 400  # the message shows the key cut short, not all of it


def test_an_expression_at_the_limits_still_reads_and_runs(project: Path) -> None:
    key = "(" * 20 + "metrics.f1" + ")" * 20 + " + 0" * 100
    gates = _read(project, f'"{key}"', '">= 0.5"')
    (check,) = check_gates(gates, {"metrics": {"f1": 0.9}})
    assert check.status == GateStatus.PASSED and check.value == pytest.approx(0.9)


# -- promotion ------------------------------------------------------------------------

pytest.importorskip("sklearn")
pytest.importorskip("skops")

GATES = """
[gates.staging]
"metrics.f1" = ">= 0.3"
"latency.p99_ms" = "<= 60000"

[gates.staging.options]
data = "data:/holdout"
target = "churned"

[gates.prod]
"metrics.f1" = ">= 0.3"

[gates.prod.options]
data = "data:/holdout"
target = "churned"
approval = true
"""


def _frame(seed: int, n: int = 400) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, n), "charges": rng.uniform(20, 120, n)})
    score = 0.05 * frame["charges"] - 0.08 * frame["tenure"] + rng.normal(0, 0.5, n)
    frame["churned"] = (score > 0).astype("int64")
    return frame


@pytest.fixture
def models(backend: str, project: Path) -> None:
    """data:/holdout, and churn v1 (a logistic regression) and v2 (always predicts 0)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    _frame(1).to_csv(project / "holdout.csv", index=False)
    loopml.add_dataset(project / "holdout.csv", name="holdout")
    train = _frame(0, 800)
    features = train[["tenure", "charges"]]
    for estimator in (LogisticRegression(), DummyClassifier(strategy="constant", constant=0)):
        estimator.fit(features, train["churned"])
        with loopml.start_run():
            info = loopml.log_model(estimator, input_example=features.head())
        loopml.register_model(info.uri, "churn")
    _toml(project, GATES)


def _toml(project: Path, text: str) -> None:
    (project / "loopml.toml").write_text(text)
    loopml.context.reset()


def _alias(env: str) -> int | None:
    try:
        return loopml.get_model_version("churn", alias=env).version
    except NotFound:
        return None


@pytest.mark.parametrize(
    "options",
    [
        {"positive_label": 0},  # the F1 of the class the constant model always predicts
        {"latency": False},  # no latency: the latency check would fail for no reason
        {"task": "classification", "importance": False},
    ],
)
def test_an_evaluation_made_with_other_options_is_not_reused_by_the_gates(
    models: None, options: dict[str, Any]
) -> None:
    own = loopml.evaluate("models:/churn/2", "data:/holdout", target="churned", **options)
    with pytest.raises(GateFailed) as exc:
        loopml.promote("churn/2", to="staging")
    refused = exc.value.promotion
    assert refused.evaluation_id != own.id
    f1 = refused.checks[0]
    assert f1.expression == "metrics.f1" and f1.value == 0.0 and f1.failed
    assert refused.checks[1].passed  # latency was measured for the gates
    assert _alias("staging") is None
    # the gates' own evaluation is reused the next time
    with pytest.raises(GateFailed) as again:
        loopml.promote("churn/2", to="staging")
    assert again.value.promotion.evaluation_id == refused.evaluation_id


def test_a_declared_suite_judges_the_data_not_a_laxer_stored_result(
    models: None, project: Path
) -> None:
    from loopml.validation import Suite, expect_column_values_between, expect_columns

    lax = loopml.validate("data:/holdout@1", Suite([expect_columns(["tenure"])], name="lax"))
    assert lax.passed  # stored, and the newest validation of the data
    Suite([expect_column_values_between("tenure", 0, 10)], name="strict").save(
        project / "strict.suite.json"
    )
    _toml(
        project,
        GATES.replace(
            'target = "churned"\n',
            'target = "churned"\nrequire_validation = true\nsuite = "strict.suite.json"\n',
            1,
        ),
    )
    with pytest.raises(GateFailed) as exc:
        loopml.promote("churn/1", to="staging")
    (check,) = exc.value.promotion.failures
    assert check.expression == "validation.errors" and check.value == 1.0
    assert "FAILED" in str(check.message) and str(lax.uri) not in str(check.message)
    assert _alias("staging") is None


def _pending_prod() -> None:
    assert loopml.promote("churn/1", to="prod").status == PromotionStatus.PENDING_APPROVAL


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace(
                '"metrics.f1" = ">= 0.3"\n\n[gates.prod.options]',
                '"metrics.f1" = ">= 0.99"\n\n[gates.prod.options]',
            ),
            ">= 0.99",
        ),
        (
            lambda t: t.replace(
                "[gates.prod.options]", '"latency.p99_ms" = "<= 1"\n\n[gates.prod.options]'
            ),
            "latency.p99_ms <= 1",
        ),
        (
            lambda t: t.replace("approval = true", "approval = true\nrequire_validation = true"),
            "require_validation is true now",
        ),
    ],
)
def test_an_approval_after_the_gates_changed_is_a_conflict_and_moves_nothing(
    models: None, project: Path, edit: Any, message: str
) -> None:
    _pending_prod()
    _toml(project, edit(GATES))
    with pytest.raises(Conflict) as exc:
        loopml.approve("churn/1", "prod")
    assert "the gates of prod changed since v1" in str(exc.value) and message in str(exc.value)
    assert _alias("prod") is None
    (still,) = loopml.evaluation.list_promotions("churn", environment="prod")
    assert still.status == PromotionStatus.PENDING_APPROVAL


def test_an_approval_when_the_gates_no_longer_read_is_the_gates_error(
    models: None, project: Path
) -> None:
    _pending_prod()
    _toml(
        project,
        GATES.replace(
            '"metrics.f1" = ">= 0.3"\n\n[gates.prod', '"metrics.f11" = ">= 0.3"\n\n[gates.prod'
        ),
    )
    with pytest.raises(InvalidInput, match="unknown metric 'f11'"):
        loopml.approve("churn/1", "prod")
    assert _alias("prod") is None


def test_the_approval_flow_refuses_what_is_not_pending_and_records_who(models: None) -> None:
    with pytest.raises(InvalidInput, match="was never promoted there"):
        loopml.reject("churn/1", "prod")
    _pending_prod()
    with pytest.raises(InvalidInput, match="not pending approval for staging"):
        loopml.approve("churn/1", "staging")
    done = loopml.approve("churn/1", "prod", reason="slices reviewed")
    assert done.status == PromotionStatus.APPROVED and done.decided_by and done.decided_at
    assert done.decision_reason == "slices reviewed" and _alias("prod") == 1
    with pytest.raises((InvalidInput, Conflict)):
        loopml.approve("churn/1", "prod")
    with pytest.raises(InvalidInput, match="is APPROVED"):
        loopml.reject("churn/1", "prod")
    assert _alias("prod") == 1


@pytest.mark.parametrize("verb", ["promote", "approve", "reject"])
def test_a_megabyte_reason_is_refused_before_anything_moves(models: None, verb: str) -> None:
    if verb != "promote":
        _pending_prod()
    call = getattr(loopml, verb) if verb != "promote" else loopml.promote
    kwargs: dict[str, Any] = {"force": True} if verb == "promote" else {}
    with pytest.raises(InvalidInput, match="the reason is 1,000,000 characters long"):
        call(
            "churn/2" if verb == "promote" else "churn/1",
            "staging" if verb == "promote" else "prod",
            reason="x" * 1_000_000,
            **kwargs,
        )
    assert _alias("staging") is None and _alias("prod") is None
    statuses = [p.status for p in loopml.evaluation.list_promotions("churn")]
    assert statuses == ([] if verb == "promote" else [PromotionStatus.PENDING_APPROVAL])
