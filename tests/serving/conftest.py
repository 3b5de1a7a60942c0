"""Served deployments for the tests of ``loopml serve``.

``churn``: a scikit-learn classifier on two float columns (``tenure``, ``charges``),
registered twice (``models:/churn/1`` and ``/2``, different coefficients) and deployed
as ``churn`` (version 1).

``typed``: a python_function model on ``age`` (int64), ``plan`` (text) and ``score``
(float64) that answers ``age * 10 + len(plan)`` and raises on the plan ``"boom"``,
deployed as ``typed``.

``serve(...)``: the app of the current project inside a running ``TestClient`` (its
lifespan loads the deployments, and closing it writes the prediction log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BOOM = "boom"


@dataclass
class Churn:
    frame: Any
    v1: Any
    v2: Any


@pytest.fixture(autouse=True)
def _serving_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LOOPML_SERVE_TOKEN", "LOOPML_PRIVACY_KEY"):
        monkeypatch.delenv(var, raising=False)


def make_churn() -> Churn:
    """Register ``churn`` v1 and v2 in the current project and deploy v1 as ``churn``."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import loopml

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, 80), "charges": rng.uniform(20, 120, 80)})
    target = (frame["charges"] / 2 > frame["tenure"]).astype("int64")
    made = []
    for c in (1.0, 0.001):
        clf = LogisticRegression(C=c).fit(frame, target)
        with loopml.start_run():
            info = loopml.log_model(clf, input_example=frame.head())
        loopml.register_model(info.uri, "churn")
        made.append(clf)
    loopml.deploy("churn", "models:/churn/1")
    return Churn(frame, made[0], made[1])


@pytest.fixture
def churn(project: Path) -> Churn:
    return make_churn()


def typed_model() -> Any:
    """The python_function model of ``typed`` (a class made here, so it pickles by value)."""

    class Typed:
        def load_context(self, context: Any) -> None:
            self.calls = 0

        def predict(self, frame: Any) -> Any:
            if (frame["plan"] == BOOM).any():
                raise ValueError(f"the plan {BOOM!r} breaks this model")
            return (frame["age"] * 10 + frame["plan"].str.len()).to_numpy()

    return Typed()


def typed_example() -> Any:
    import pandas as pd

    return pd.DataFrame(
        {"age": [30, 41, 52], "plan": ["basic", "pro", "team"], "score": [0.5, 1.5, 2.5]}
    )


def expected_typed(records: list[dict[str, Any]]) -> list[int]:
    return [r["age"] * 10 + len(r["plan"]) for r in records]


@pytest.fixture
def typed(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``typed`` registered and deployed (pickles trusted in this project)."""
    import loopml
    import loopml.context

    monkeypatch.setenv("LOOPML_TRUST_PICKLE", "1")
    loopml.context.reset()
    with loopml.start_run():
        info = loopml.log_model(typed_model(), input_example=typed_example(), allow_pickle=True)
    loopml.register_model(info.uri, "typed")
    loopml.deploy("typed", "models:/typed/1")
    return "typed"


@contextmanager
def serving(**options: Any) -> Iterator[Any]:
    """A TestClient on the current project's app, running (lifespan entered)."""
    from fastapi.testclient import TestClient

    from loopml.serving import create_app

    options.setdefault("reload_seconds", 0.1)
    app = create_app(**options)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def serve() -> Callable[..., Any]:
    return serving


class Spy:
    """Counts the calls of a served model's ``predict`` (and the rows of each)."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.raised: list[int] = []

    @property
    def calls(self) -> int:
        return len(self.rows)


def spy_on(app: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Wrap ``predict`` of the model deployment ``name`` serves in ``app`` (running)."""
    hosted = app.state.loopml.hosted[name]
    model = hosted.model
    original = model.predict
    spy = Spy()

    def predict(data: Any, **kw: Any) -> Any:
        spy.rows.append(len(data))
        try:
            return original(data, **kw)
        except Exception:
            spy.raised.append(len(data))
            raise

    monkeypatch.setattr(model, "predict", predict)
    return spy


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the Prometheus sample ``name{labels...}`` in ``text`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.fixture
def m(project: Path) -> Path:
    """``m`` v1 (answers ``x * 2``) deployed from prod, in a project that loads pickled
    models: the deployment the rollout tests roll out on (see ``rollouts.py``)."""
    from tests.serving.rollouts import deploy_m, trusting

    trusting(project)
    deploy_m()
    return project
