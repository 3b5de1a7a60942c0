"""A stand-in for the models package: a "model package" is a run's artifact folder
holding ``loopml-model.json``; its info comes from the run's artifact records."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import NotFound
from loopml.uri import RunURI, parse_run_uri


@dataclass(frozen=True)
class FakeSignature:
    inputs: list[dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs}


@dataclass(frozen=True)
class FakeModelInfo:
    uri: str
    run_id: str
    path: str
    flavor: str
    signature: FakeSignature
    requirements: list[str]
    manifest_digest: str
    digests: frozenset[str]
    metadata: dict[str, Any] = field(default_factory=dict)


def read_model_info(source: str) -> FakeModelInfo:
    parsed = parse_run_uri(source)
    run = loopml.get_run(parsed.run_id)
    entries = loopml.tracking.list_artifacts(run.id, parsed.path)
    manifest = [e for e in entries if e.path == f"{parsed.path}/loopml-model.json"]
    if not manifest:
        raise NotFound(f"no model at {source}")
    return FakeModelInfo(
        uri=str(RunURI(run.id, parsed.path)),
        run_id=run.id,
        path=parsed.path,
        flavor="sklearn",
        signature=FakeSignature([{"name": "x", "type": "double"}]),
        requirements=["scikit-learn==1.5.0"],
        manifest_digest=manifest[0].digest,
        digests=frozenset(e.digest for e in entries),
        metadata={"flavor": "sklearn"},
    )


def install_fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the registry read model packages with :func:`read_model_info`."""
    from loopml.registry import _source

    monkeypatch.setattr(_source, "model_info", lambda ctx, source: read_model_info(source))


def model_logger(tmp_path: Path) -> Callable[..., str]:
    """Log a run holding a model folder ``model/`` whose bytes depend on ``seed``; return
    its ``runs:/<id>/model`` URI."""
    counter = iter(range(1_000_000))

    def log(seed: int | None = None, metric: float = 0.9) -> str:
        n = next(counter) if seed is None else seed
        folder = tmp_path / f"pkg{next(counter)}" / "model"
        folder.mkdir(parents=True)
        (folder / "loopml-model.json").write_text(json.dumps({"flavor": "sklearn", "seed": n}))
        (folder / "model.bin").write_bytes(bytes([n % 256]) * 64)
        with loopml.start_run() as run:
            run.log_metric("auc", metric)
            run.log_param("seed", n)
            run.log_artifact(folder)
        return str(RunURI(run.id, "model"))

    return log


@pytest.fixture(autouse=True)
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_models(monkeypatch)


@pytest.fixture
def log_model(tmp_path: Path) -> Callable[..., str]:
    return model_logger(tmp_path)
