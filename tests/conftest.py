"""Shared fixtures.

``project``: a fresh project folder as the working directory, with loopml's
settings and cached stores reset around the test.

``ray_session``: one Ray shared by every test of the session (``ray.init``
takes several seconds), started locally when ``LOOPML_TEST_RAY=local`` or
joined at the address it holds; skips (fails under CI) when unset.

``backend``: parametrized over every metadata backend — SQLite always, and
PostgreSQL when ``LOOPML_TEST_POSTGRES_URL`` is set (each test gets its own
schema, dropped afterwards). Without the variable the PostgreSQL case skips
with a message; under CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ENV = "LOOPML_TEST_POSTGRES_URL"
REDIS_ENV = "LOOPML_TEST_REDIS_URL"
RAY_ENV = "LOOPML_TEST_RAY"


def _reset_loopml() -> None:
    import loopml.context

    loopml.context.reset()


def require_service(env: str, what: str) -> str:
    """The URL in ``env``; skip (or, under CI, fail) when it is unset."""
    url = os.environ.get(env)
    if url:
        return url
    message = f"{what} tests need {env} (e.g. make test sets it when the service answers)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; in CI a missing service is a failure")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps CLI output at the terminal width: make it wide enough that long
    temporary paths never split the words a test looks for."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder, made the working directory, with loopml reset."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "loopml.toml").write_text("")
    monkeypatch.chdir(root)
    for var in (
        "LOOPML_TRACKING_URI",
        "LOOPML_ARTIFACT_URI",
        "LOOPML_DATA_REMOTE",
        "LOOPML_PROJECT_DIR",
        "LOOPML_FLUSH_INTERVAL",
        "LOOPML_EXECUTOR",
        "LOOPML_TRUST_PICKLE",
    ):
        monkeypatch.delenv(var, raising=False)
    _reset_loopml()
    path_before = list(sys.path)
    yield root
    _reset_loopml()
    # modules a test imported from its project (loopml.load_pipeline puts the root on
    # sys.path) must not shadow the next test's modules of the same name
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(root.resolve()):
            del sys.modules[name]
    sys.path[:] = path_before


def postgres_schema_url(base: str) -> Iterator[str]:
    """A URL on ``base`` whose search_path is a fresh schema, dropped afterwards."""
    import sqlalchemy

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        _reset_loopml()
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The tracking URI of a fresh metadata store, once per backend, set for the project."""
    if request.param == "sqlite":
        uri = f"sqlite:///{project / '.loopml' / 'loopml.db'}"
        monkeypatch.setenv("LOOPML_TRACKING_URI", uri)
        _reset_loopml()
        yield uri
        return
    base = require_service(PG_ENV, "PostgreSQL")
    for uri in postgres_schema_url(base):
        monkeypatch.setenv("LOOPML_TRACKING_URI", uri)
        _reset_loopml()
        yield uri


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    """Ray, initialised once for the whole test session."""
    address = require_service(RAY_ENV, "Ray")
    import ray

    if not ray.is_initialized():
        if address == "local":
            ray.init(
                num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
            )
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
