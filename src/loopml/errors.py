"""Every error loopml raises on purpose.

One root, a few specific kinds. A message says what was expected, what was
got, and what to do::

    LoopmlError
    ├── NotFound            a run, dataset, version, object or file that does not exist
    ├── InvalidInput        a malformed URI, filter, path, value or file
    │   └── MissingExtra    a backend whose optional dependency is not installed
    ├── ValidationFailed    data that breaks declared expectations
    ├── GateFailed          a model version refused by an environment's gates (``.promotion``)
    ├── PipelineFailed      a step of a pipeline raised (``.run`` is the failed run)
    ├── TrialPruned         a tuning trial stopped early by the pruner (not a failure)
    ├── Conflict            a write that clashes with what is stored
    ├── Unavailable         a service loopml was pointed at does not answer (a Ray cluster)
    ├── Untrusted           stored bytes that run code when loaded (a pickle), not opted in
    └── StoreError          the metadata or artifact store cannot serve the request
        ├── CorruptObject   a stored object whose bytes no longer match its hash
        ├── CorruptRecord   a metadata record that cannot be read as what it should be
        └── SchemaTooNew    a database written by a newer loopml

(Errors for permissions join the tree with the feature that raises them.)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "CorruptObject",
    "CorruptRecord",
    "GateFailed",
    "InvalidInput",
    "LoopmlError",
    "MissingExtra",
    "NotFound",
    "PipelineFailed",
    "SchemaTooNew",
    "StoreError",
    "TrialPruned",
    "Unavailable",
    "Untrusted",
    "ValidationFailed",
]


class LoopmlError(Exception):
    """The root of every error loopml raises on purpose."""


class NotFound(LoopmlError):
    """A run, dataset, version, stored object or path that does not exist."""


class InvalidInput(LoopmlError, ValueError):
    """A malformed URI, filter expression, path, value or file."""


class MissingExtra(InvalidInput):
    """A backend was asked for whose optional dependency is not installed."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        self.extra = extra
        install = f"loopml[{extra}]" if extra else module
        super().__init__(
            f"{what} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install '{install}'"
        )


class ValidationFailed(LoopmlError):
    """Data that breaks the expectations declared for it."""


class GateFailed(LoopmlError):
    """A model version an environment's gates refused: ``promotion`` is the stored
    :class:`~loopml.evaluation.Promotion` (status ``REFUSED``), every failing check listed
    in the message and in ``promotion.checks``. Nothing moved. Raised after registering
    (``loopml run --register NAME --to ENV``), ``registration`` is the version that
    stays registered."""

    def __init__(self, message: str, promotion: Any, registration: Any = None) -> None:
        super().__init__(message)
        self.promotion = promotion
        self.registration = registration


class PipelineFailed(LoopmlError):
    """A step of a pipeline raised; ``run`` is the FAILED
    :class:`~loopml.pipelines.PipelineRun` (each step's status, the traceback)."""

    def __init__(self, message: str, run: Any) -> None:
        super().__init__(message)
        self.run = run


class Conflict(LoopmlError):
    """A write that clashes with what is already stored."""


class Unavailable(LoopmlError):
    """A service loopml was pointed at (a Ray cluster, say) does not answer."""


class Untrusted(LoopmlError):
    """Stored bytes that would run code when loaded (a pickle), which the reader has not
    opted in to: ``allow_pickle=True`` on the load, or ``[store] trust_pickle = true``."""


class TrialPruned(LoopmlError):
    """Raised inside a tuning trial when the pruner stops it early; the trial ends
    PRUNED, which is not a failure. Raised by a pipeline run, ``run`` is the PRUNED
    :class:`~loopml.pipelines.PipelineRun`; inside a step it is None."""

    def __init__(self, message: str, run: Any = None) -> None:
        super().__init__(message)
        self.run = run


class StoreError(LoopmlError):
    """The metadata or artifact store cannot serve the request."""


class CorruptObject(StoreError):
    """A stored object whose bytes no longer match the hash it is stored under."""


class CorruptRecord(StoreError):
    """A metadata record that cannot be read as what it should be (a row whose JSON does
    not parse, or whose value is out of its range): the message names the record, the
    field and the value, and what to do."""


class SchemaTooNew(StoreError):
    """The metadata database was written by a newer version of loopml."""
