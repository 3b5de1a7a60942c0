"""Logged values read back as logged, or are refused with a message: never changed silently."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml

import loopml
from loopml import start_run
from loopml.errors import InvalidInput
from loopml.tracking import get_artifact, get_run


def _read(run_id: str, name: str) -> str:
    return get_artifact(f"runs:/{run_id}/{name}").read_text()


def test_nan_and_infinities_in_a_json_dict_read_back(project: Path) -> None:
    data = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "np": np.float64("nan"),
        "array": np.array([1.0, np.inf]),
        "none": None,
    }
    with start_run() as run:
        loopml.log_dict(data, "scores.json")
    back = json.loads(_read(run.id, "scores.json"))
    assert math.isnan(back["nan"]) and math.isnan(back["np"])
    assert back["inf"] == math.inf and back["-inf"] == -math.inf
    assert back["array"] == [1.0, math.inf]
    assert back["none"] is None


def test_nan_infinities_and_int_keys_in_a_yaml_dict_read_back(project: Path) -> None:
    with start_run() as run:
        loopml.log_dict(
            {"nan": math.nan, "inf": -math.inf, "per_class": {0: 0.5, 1: 0.25}}, "s.yaml"
        )
    back = yaml.safe_load(_read(run.id, "s.yaml"))
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf
    assert back["per_class"] == {0: 0.5, 1: 0.25}


def test_large_integers_keep_every_digit(project: Path) -> None:
    with start_run() as run:
        loopml.log_dict({"big": 2**70, "neg": -(2**65)}, "big.json")
    assert json.loads(_read(run.id, "big.json")) == {"big": 2**70, "neg": -(2**65)}


def test_a_json_key_that_is_not_text_is_refused(project: Path) -> None:
    with start_run() as run, pytest.raises(InvalidInput) as err:
        run.log_dict({"per_class": {0: 0.5}}, "per_class.json")
    message = str(err.value)
    assert "['per_class']" in message and "key 0 (int)" in message
    assert "read back as '0'" in message and ".yaml" in message
    assert loopml.tracking.list_artifacts(run.id) == []


def test_a_decimal_in_a_dict_is_refused_not_rounded(project: Path) -> None:
    with start_run() as run, pytest.raises(InvalidInput, match="Decimal 1E"):
        run.log_dict({"x": Decimal("1E+400")}, "d.json")


def test_a_metric_beyond_float_range_is_refused_not_infinity(project: Path) -> None:
    with start_run() as run:
        with pytest.raises(InvalidInput, match="within the range of a float"):
            loopml.log_metric("m", Decimal("1e400"))  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="within the range of a float"):
            run.log_metrics({"m": Decimal("-1e400")})
        if np.finfo(np.longdouble).max > np.finfo(np.float64).max:
            with pytest.raises(InvalidInput, match="within the range of a float"):
                loopml.log_metric("m", np.longdouble("1e400"))  # type: ignore[arg-type]
        loopml.log_metric("inf", Decimal("Infinity"))  # type: ignore[arg-type]
        loopml.log_metric("ninf", -math.inf)
        loopml.log_metric("np", np.float64("inf"))  # type: ignore[arg-type]
        loopml.log_metric("nan", Decimal("NaN"))  # type: ignore[arg-type]
    metrics = get_run(run.id).metrics
    assert "m" not in metrics
    assert metrics["inf"] == math.inf and metrics["ninf"] == -math.inf
    assert metrics["np"] == math.inf and math.isnan(metrics["nan"])
