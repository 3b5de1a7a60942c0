"""The registry's records: model versions, registered models, environment moves."""

from __future__ import annotations

from dataclasses import dataclass, field

from loopml._enum import StrEnum
from loopml.uri import ModelURI

__all__ = ["ModelStatus", "ModelVersion", "RegisteredModel", "Transition"]


class ModelStatus(StrEnum):
    """A version is READY to serve until it is ARCHIVED (kept, loadable, not offered)."""

    READY = "READY"
    ARCHIVED = "ARCHIVED"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: ``models:/<name>/<version>``.

    ``source`` is the ``runs:/`` URI of the model package it was registered
    from, ``manifest_digest`` the hash of that package's manifest (equal
    bytes, equal digest). ``is_new`` is False when :func:`register_model`
    found the package already registered under this name and returned that
    version instead of a new one (``note`` says so).
    """

    name: str
    version: int
    run_id: str
    source: str
    manifest_digest: str
    status: ModelStatus
    created_at: float
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    is_new: bool = field(default=True, compare=False)
    note: str | None = field(default=None, compare=False)

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return str(ModelURI(self.name, self.version))


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with its versions: how many, the newest, and its aliases."""

    name: str
    latest_version: int
    n_versions: int
    aliases: dict[str, int]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Transition:
    """One move of an environment: ``name``'s ``environment`` went from ``from_version``
    (None: it pointed nowhere) to ``to_version``, by ``user`` at ``created_at``; ``id``
    numbers the moves in the store."""

    name: str
    environment: str
    from_version: int | None
    to_version: int
    user: str | None
    reason: str | None
    created_at: float
    id: int | None = field(default=None, compare=False)
