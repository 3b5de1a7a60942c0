"""Cache keys keep the type and value of every argument: different values never share a key."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import itertools
import math
import subprocess
import sys
from collections import OrderedDict, namedtuple
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.pipelines.conftest import ProjectCode

from loopml.errors import InvalidInput
from loopml.pipelines._cache import hash_value

NAN = float("nan")
INF = float("inf")


class Color(enum.Enum):
    RED = 1
    BLUE = "1"


@dataclasses.dataclass
class Box:
    v: Any
    hidden: Any = dataclasses.field(default=None, repr=False)


Pair = namedtuple("Pair", "a b")

# every value here differs from every other one, so no two may share a key
DISTINCT: list[Any] = [
    None,
    NAN,
    INF,
    -INF,
    0.0,
    -0.0,
    0.1,
    math.nextafter(0.1, 1.0),
    math.nextafter(0.1, 0.0),
    1,
    1.0,
    True,
    False,
    0,
    "1",
    b"1",
    bytearray(b"1"),
    "",
    b"",
    2**64,
    2**64 + 1,
    -(2**64),
    10**400,
    10**400 + 1,
    1 + 0j,
    [1, 2],
    (1, 2),
    [[1], 2],
    [1, [2]],
    {"a": 1},
    {1: "a"},
    {"1": "a"},
    {1.0: "a"},
    {(1, 2): "a"},
    {"a": 1, "b": 2},
    {"b": 2, "a": 1},  # order is part of what a step sees when it iterates
    {1, 2},
    frozenset({1, 2}),
    [None],
    [NAN],
    [INF],
    ["a", "b"],
    ["ab"],
    ["a", "bc"],
    ["ab", "c"],
    np.float64(0.1),
    np.float32(0.1),
    np.int64(1),
    np.array([1, 2]),
    np.array([1, 2], dtype=np.int32),
    np.array([[1, 2]]),
    np.array([NAN]),
    Color.RED,
    Color.BLUE,
    Box(1),
    Box(1, hidden=2),
    Pair(1, 2),
    OrderedDict(a=1),
    Decimal("1.0"),
    Decimal("1.00"),
    datetime.date(2024, 1, 1),
    datetime.datetime(2024, 1, 1),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    Path("a/b"),
    "a/b",
]


def test_different_values_never_share_a_key() -> None:
    keys = [hash_value(v) for v in DISTINCT]
    clashes = [
        (DISTINCT[i], DISTINCT[j])
        for i, j in itertools.combinations(range(len(keys)), 2)
        if keys[i] == keys[j]
    ]
    assert clashes == []


@pytest.mark.parametrize("value", DISTINCT, ids=[repr(v)[:40] for v in DISTINCT])
def test_equal_values_share_a_key(value: Any) -> None:
    import copy

    assert hash_value(value) == hash_value(copy.deepcopy(value))


def test_a_float_is_keyed_by_its_64_bits_whatever_its_spelling() -> None:
    assert hash_value(0.1) == hash_value(0.1000000000000000055511151231257827)  # the same double
    assert hash_value(0.1) == hash_value(float("0.1"))
    assert hash_value(0.1) != hash_value(0.1 + 2**-56)
    assert hash_value(-0.0) != hash_value(0.0)  # 1 / x tells them apart


def test_a_set_is_keyed_by_its_members_whatever_their_order() -> None:
    assert hash_value({"b", "a", "c"}) == hash_value({"c", "a", "b"})
    assert hash_value({3, 1, 2}) == hash_value(set(range(1, 4)))


def test_a_set_of_strings_has_the_same_key_in_every_process() -> None:
    probe = (
        "from loopml.pipelines._cache import hash_value;"
        "print(hash_value({'alpha', 'beta', 'gamma', 'delta', 'epsilon'}))"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            env={**_env(), "PYTHONHASHSEED": str(seed)},
        ).stdout.strip()
        for seed in (1, 2, 3)
    }
    assert len(keys) == 1


def test_an_array_is_keyed_by_dtype_shape_and_values_not_layout() -> None:
    a = np.arange(6.0).reshape(2, 3)
    assert hash_value(a) == hash_value(np.asfortranarray(a))
    assert hash_value(a) != hash_value(a.T.copy())
    assert hash_value(a) != hash_value(a.reshape(3, 2))


def test_a_value_that_contains_itself_is_refused_with_a_message() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidInput, match="levels deep"):
        hash_value(loop)


def test_a_function_argument_is_keyed_by_its_source(project: Path, code: ProjectCode) -> None:
    code.write("fns", "def f(x):\n    return x + 1\n")
    before = hash_value(code.load("fns").f)
    code.write("fns", "def f(x):\n    return x + 2\n")
    assert hash_value(code.load("fns").f) != before


THRESHOLDS = """
import loopml

@loopml.step
def above(xs: list, thr) -> list:
    if thr is None:
        return ["none"]
    return [x for x in xs if x > thr] or ["empty:" + repr(thr)]

@loopml.pipeline
def p(thr=None):
    return above([1.0, 2.0, 3.0], thr)
"""


def test_inf_nan_and_none_params_each_run_the_step(project: Path, code: ProjectCode) -> None:
    code.write("thresholds", THRESHOLDS)
    p = code.load("thresholds").p
    answers = {}
    for thr in (INF, NAN, None, -INF, 2.0, 2, 0.0, -0.0):
        run = p(thr=thr)
        assert not run.steps[0].cached, (thr, run.explain)
        answers[repr(thr)] = run.steps[0].output
    assert answers["inf"] == ["empty:inf"]
    assert answers["nan"] == ["empty:nan"]
    assert answers["None"] == ["none"]
    assert answers["-inf"] == [1.0, 2.0, 3.0]
    again = p(thr=NAN)
    assert again.steps[0].cached and again.steps[0].output == ["empty:nan"]


KEYED = """
import loopml

@loopml.step
def describe(value) -> str:
    return type(value).__name__ + ":" + repr(value)

@loopml.pipeline
def p(value=None):
    return describe(value)
"""


@pytest.mark.parametrize(
    "first, second",
    [
        ({1: "a"}, {"1": "a"}),
        ((1, 2), [1, 2]),
        (b"ab", "ab"),
        (2**70, 2**70 + 1),
        (0.1, 0.1000000000000001),
        (1, 1.0),
        (1, True),
    ],
    ids=[
        "int-vs-str-keys",
        "tuple-vs-list",
        "bytes-vs-str",
        "large-ints",
        "floats",
        "1-vs-1.0",
        "1-vs-True",
    ],
)
def test_params_that_differ_only_in_type_or_last_bits_miss(
    project: Path, code: ProjectCode, first: Any, second: Any
) -> None:
    code.write("keyed", KEYED)
    p = code.load("keyed").p
    assert p(value=first).steps[0].output == f"{type(first).__name__}:{first!r}"
    run = p(value=second)
    assert not run.steps[0].cached
    assert run.steps[0].output == f"{type(second).__name__}:{second!r}"
    assert run.steps[0].explain == "miss: params changed: value"


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}


def _make_scaler(k: Any) -> Any:
    def scale(v: Any) -> Any:
        return v * k

    return scale


def _with_default(k: Any) -> Any:
    def f(v: Any, factor: Any = k, *, shift: Any = k) -> Any:
        return v * factor + shift

    return f


def _recursive() -> Any:
    def countdown(n: int) -> int:
        return countdown(n - 1) if n else 0

    return countdown


def test_closures_that_captured_different_values_have_different_keys() -> None:
    assert hash_value(_make_scaler(2)) != hash_value(_make_scaler(3))
    assert hash_value(_make_scaler(2)) == hash_value(_make_scaler(2))
    assert hash_value([_make_scaler(2)]) != hash_value([_make_scaler(3)])
    assert hash_value({"fn": _make_scaler(2)}) != hash_value({"fn": _make_scaler(2.0)})
    assert hash_value(Pair(1, _make_scaler(2))) != hash_value(Pair(1, _make_scaler(3)))
    # inside a value keyed by its pickle, too
    assert hash_value(_Holder(_make_scaler(2))) != hash_value(_Holder(_make_scaler(3)))
    assert hash_value(_Holder(_make_scaler(2))) == hash_value(_Holder(_make_scaler(2)))


class _Holder:
    def __init__(self, fn: Any) -> None:
        self.fn = fn


def test_functions_with_different_default_values_have_different_keys() -> None:
    assert hash_value(_with_default(1)) != hash_value(_with_default(2))


def test_a_recursive_closure_has_a_stable_key() -> None:
    assert hash_value(_recursive()) == hash_value(_recursive())
