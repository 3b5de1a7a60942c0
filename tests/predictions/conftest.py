from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_privacy_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LOOPML_PRIVACY_KEY", raising=False)
    yield


def parquet_files(root: Path) -> list[Path]:
    """Every Parquet file of the prediction log under the project's artifact store."""
    return sorted((root / ".loopml" / "artifacts" / "predictions").rglob("*.parquet"))
