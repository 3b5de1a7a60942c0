"""The one place the registry reads a model package: through the models package, by path.

The models package sits beside the registry's dependencies, and is reached by
its import path so the registry imports nothing heavy until a model is
registered or shown.
"""

from __future__ import annotations

from typing import Any

from loopml._lazy import load
from loopml.context import Context

__all__ = ["model_info"]


def model_info(ctx: Context, source: str) -> Any:
    """The :class:`ModelInfo` of the model package at ``source`` (``runs:/<id>/<path>``):
    ``.run_id``, ``.path``, ``.flavor``, ``.signature``, ``.manifest_digest``,
    ``.digests``...; :class:`~loopml.errors.NotFound` when the run has no model there."""
    del ctx  # the models package reads the current context, which is ``ctx``
    return load("loopml.models:read_model_info")(source)
