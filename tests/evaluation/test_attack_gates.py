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
        ("\"'metrics.f1'\"", "unexpected \"'\""),
        ('"champion.champion.metrics.f1"', "unknown name 'champion.champion.metrics.f1'"),
        ('"slices.a.b.f1"', "expected slices.<column>.<metric>"),
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
