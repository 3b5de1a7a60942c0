"""Every models entry point answers hostile values with a loopml error, and writes nothing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import LoopmlError

VALUES = [
    None,
    1,
    1.5,
    math.nan,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    b"bytes",
    "../x",
    "/etc",
    "runs:/",
    "runs:/zzzz/model",
    "runs:/abcdef/../x",
    "models:/",
    "s3://x/y",
    [],
    {},
    object(),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_models_entry_points_raise_only_loopml_errors(
    project: Path, classifier: Any, frame: Any, value: Any
) -> None:
    loopml.save_model(classifier, project / "ok", input_example=frame.head())
    model = loopml.load_model(project / "ok")
    calls = [
        lambda: loopml.load_model(value),
        lambda: loopml.models.read_model_info(value),
        lambda: loopml.save_model(classifier, value),
        lambda: loopml.save_model(classifier, project / "x", flavor=value),
        lambda: loopml.save_model(classifier, project / "x", allow_pickle=value),
        lambda: loopml.save_model(classifier, project / "x", signature=value),
        lambda: loopml.load_model(project / "ok", allow_pickle=value),
        lambda: model.predict(value),
        lambda: model.predict_proba(value),
        lambda: loopml.models.register_flavor("f", value),
    ]
    with loopml.start_run() as run:
        calls.append(lambda: loopml.log_model(classifier, value))
        for call in calls:
            try:
                call()
            except LoopmlError as exc:
                assert "\n" not in str(exc), str(exc)
    assert not (project / "s3:").exists()
    assert not (project / "x").exists() or (project / "x" / "loopml-model.json").is_file()
    assert all(not e.path.startswith("..") for e in loopml.Client(project).list_artifacts(run.id))
