"""Stored outputs are a function of their value: equal values give equal bytes, in any
process, for every built-in materializer; so a step that recomputes an equal output
leaves the steps after it cached."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.pipelines._materializers import find_materializer, get_materializer


def _saved(value: Any, allow_pickle: bool = False) -> tuple[str, bytes]:
    mat = find_materializer(value, allow_pickle=allow_pickle)
    assert mat is not None
    return mat.name, mat.save(value)


def _skops_saved(value: Any) -> tuple[str, bytes]:
    """The skops archive of an estimator (how outputs were stored before model packages;
    the skops flavor of a model package writes the same bytes)."""
    return "skops", get_materializer("skops").save(value)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**env, **extra}


def _in_fresh_process(code: str, seed: int) -> bytes:
    """The bytes ``code`` prints (as hex) in a new interpreter with this hash seed."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=_env(PYTHONHASHSEED=str(seed)),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return bytes.fromhex(out.stdout.strip().splitlines()[-1])


SAVE = """
from loopml.pipelines._materializers import find_materializer
value = {value}
print(find_materializer(value, allow_pickle=True).save(value).hex())
"""


def _fit(seed: int = 0) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 2
    return RandomForestClassifier(n_estimators=3, random_state=seed).fit(X, y)


def test_json_stores_equal_values_as_equal_bytes() -> None:
    a = {"b": [1, 2.5, None], "a": {"x": "y"}}
    b = {"b": [1, 2.5, None], "a": {"x": "y"}}
    assert _saved(a) == _saved(b)
    assert _saved(a)[0] == "json"


def test_json_keeps_nan_infinities_and_large_integers() -> None:
    value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "big": 2**70, "neg0": -0.0}
    name, data = _saved(value)
    back = get_materializer(name).load(data)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["-inf"] == -math.inf
    assert back["big"] == 2**70 and type(back["big"]) is int
    assert math.copysign(1.0, back["neg0"]) == -1.0
    assert _saved(dict(value)) == (name, data)


def test_parquet_stores_equal_frames_as_equal_bytes_in_any_process() -> None:
    frame = pd.DataFrame({"x": np.arange(5), "s": list("abcde"), "f": np.linspace(0, 1, 5)})
    rebuilt = pd.concat([frame.iloc[:2], frame.iloc[2:]])
    name, data = _saved(frame)
    assert name == "parquet"
    assert _saved(rebuilt)[1] == data
    code = SAVE.format(
        value="__import__('pandas').DataFrame({'x': __import__('numpy').arange(5), "
        "'s': list('abcde'), 'f': __import__('numpy').linspace(0, 1, 5)})"
    )
    assert _in_fresh_process(code, 1) == data


def test_npy_stores_equal_arrays_as_equal_bytes_whatever_their_layout() -> None:
    a = np.arange(12.0).reshape(3, 4)
    name, data = _saved(a)
    assert name == "npy"
    assert _saved(np.asfortranarray(a))[1] == data
    assert _saved(a[:, ::1].copy())[1] == data
    back = get_materializer(name).load(_saved(np.asfortranarray(a))[1])
    np.testing.assert_array_equal(back, a)


def test_skops_stores_equal_estimators_as_equal_bytes_in_any_process() -> None:
    pytest.importorskip("skops")
    name, data = _skops_saved(_fit())
    assert _skops_saved(_fit())[1] == data  # a second fit: other objects, other ids
    code = """
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from loopml.pipelines._materializers import get_materializer
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 2
    value = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    print(get_materializer("skops").save(value).hex())
    """
    assert _in_fresh_process(code, 7) == data
    assert _skops_saved(_fit(seed=1))[1] != data
    back = get_materializer(name).load(data)
    X = np.arange(40.0).reshape(20, 2)
    np.testing.assert_array_equal(back.predict(X), _fit().predict(X))


def test_a_model_output_is_keyed_by_its_package_manifest_in_any_process() -> None:
    pytest.importorskip("skops")
    name, manifest = _saved(_fit())
    assert name == "model"
    assert _saved(_fit())[1] == manifest
    code = """
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from loopml.pipelines._materializers import find_materializer
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 2
    value = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    print(find_materializer(value).save(value).hex())
    """
    assert _in_fresh_process(code, 7) == manifest
    assert _saved(_fit(seed=1))[1] != manifest


def test_skops_keeps_objects_shared_in_the_estimator_shared() -> None:
    pytest.importorskip("skops")
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.arange(10.0).reshape(5, 2))
    shared = np.ones(3)
    scaler.shared_a_ = shared
    scaler.shared_b_ = shared
    name, data = _skops_saved(scaler)
    back = get_materializer(name).load(data)
    assert back.shared_a_ is back.shared_b_
    np.testing.assert_array_equal(back.mean_, scaler.mean_)


class Tagged:
    def __init__(self, tags: set[str]) -> None:
        self.tags = tags
        self.frozen = frozenset(tags)


def test_pickle_stores_sets_in_one_order_in_any_process() -> None:
    tags = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
    name, data = _saved({"tags": tags, "nested": [frozenset(tags)]}, allow_pickle=True)
    assert name == "pickle"  # a set is not JSON
    members = sorted(tags)
    value = f"{{'tags': set({members!r}), 'nested': [frozenset({members!r})]}}"
    outputs = {_in_fresh_process(SAVE.format(value=value), seed) for seed in (1, 2, 3)}
    assert outputs == {data}
    back = get_materializer(name).load(data)
    assert back == {"tags": tags, "nested": [frozenset(tags)]}


def test_pickle_of_a_set_keeps_shared_and_self_referencing_objects() -> None:
    shared = frozenset({"a", "b"})
    value = [shared, shared, {1, 2, 3}]
    name, data = _saved(value, allow_pickle=True)
    back = get_materializer(name).load(data)
    assert back == value and back[0] is back[1]


RETRAIN = """
import loopml
{imports}

@loopml.step{producer_options}
def produce(seed: int, note: str){annotation}:
    {body}

@loopml.step
def consume(value) -> str:
    return "{consumer}"

@loopml.pipeline
def p(seed: int = 0, note: str = "a"):
    return consume(produce(seed, note))
"""

KINDS = {
    "json": ("", "", "", "return {'seed': seed, 'values': [0.5, 1.5]}", "ok"),
    "parquet": (
        "import pandas as pd",
        "",
        "",
        "return pd.DataFrame({'x': range(seed, seed + 5), 's': list('abcde')})",
        "ok",
    ),
    "npy": ("import numpy as np", "", "", "return np.arange(12.0).reshape(3, 4) + seed", "ok"),
    "model": (
        "import numpy as np\nfrom sklearn.ensemble import RandomForestClassifier",
        "",
        "",
        "return RandomForestClassifier(n_estimators=3, random_state=seed).fit("
        "np.arange(40.0).reshape(20, 2), np.arange(20) % 2)",
        "ok",
    ),
    "pickle": (
        "",
        "(allow_pickle=True)",
        "",
        "return {'seed': seed, 'tags': {'alpha', 'beta', 'gamma', 'delta', 'epsilon'}}",
        "ok",
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_recomputed_equal_output_keeps_the_next_step_cached(project: Path, kind: str) -> None:
    """``note`` changes the producer's key but not its output: after the producer runs
    again (in another process, with another hash seed), the consumer still hits."""
    if kind == "model":
        pytest.importorskip("skops")
    imports, options, annotation, body, consumer = KINDS[kind]
    (project / "retrain.py").write_text(
        RETRAIN.format(
            imports=imports,
            producer_options=options,
            annotation=annotation,
            body=body,
            consumer=consumer,
        )
    )
    script = (
        "import sys, json\nsys.path.insert(0, '.')\nimport retrain\n"
        "run = retrain.p(note=sys.argv[1])\n"
        "print(json.dumps([[s.cached, s.output_records[0].materializer, "
        "s.output_records[0].digest] for s in run.steps]))"
    )

    def run(note: str, seed: int) -> list[list[Any]]:
        import json

        done = subprocess.run(
            [sys.executable, "-c", script, note],
            cwd=project,
            capture_output=True,
            text=True,
            env=_env(PYTHONHASHSEED=str(seed), LOOPML_PROJECT_DIR=str(project)),
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        result: list[list[Any]] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    first = run("a", 1)
    second = run("b", 2)
    assert first[0][1] == kind
    assert [s[0] for s in second] == [False, True]  # produce re-ran; consume hit
    assert second[0][2] == first[0][2]  # the same bytes
