"""Reference profiles stored with the dataset version they describe.

A profile is a JSON file at ``profiles/<dataset>/<version>.json``, a
path-addressed file of the artifact store (written atomically, never
garbage-collected), so drift checks against ``data:/<dataset>@<version>`` read
a few kB instead of the version's data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopml.context import current
from loopml.errors import CorruptObject, InvalidInput, NotFound
from loopml.monitoring._profile import ReferenceProfile, profile_table

if TYPE_CHECKING:  # pragma: no cover
    from loopml.data import DatasetVersion

__all__ = ["load_profile", "profile_of_dataset", "profile_path"]

ROOT = "profiles"


def profile_path(version: DatasetVersion) -> str:
    """Where the profile of ``version`` is stored in the artifact store."""
    return f"{ROOT}/{version.name}/{version.version}.json"


def load_profile(uri: str) -> ReferenceProfile:
    """The stored profile of dataset version ``uri``; NotFound when none was stored yet
    (:func:`profile_reference` computes and stores it)."""
    from loopml.data import get_dataset

    version = get_dataset(uri)
    found = _read(version)
    if found is None:
        raise NotFound(
            f"no reference profile is stored for {version.uri}: compute it with "
            f"loopml.monitoring.profile_reference({version.uri!r})."
        )
    return found


def profile_of_dataset(uri: str, columns: Sequence[str] | None) -> ReferenceProfile:
    """The profile of dataset version ``uri``: the stored one, else computed from its
    data and stored (when it covers every column; a profile of some columns only is
    computed but not stored)."""
    from loopml.data import get_dataset

    version = get_dataset(uri)
    stored = _read(version)
    if stored is not None:
        return stored.select(columns) if columns is not None else stored
    table = version.to_arrow()
    try:
        profile = profile_table(table, None, version.uri)
    except InvalidInput:
        if columns is None:
            raise
        return profile_table(table, columns, version.uri)
    data = json.dumps(profile.to_dict(), sort_keys=True).encode()
    current().artifacts.write_path(profile_path(version), data)
    return profile.select(columns) if columns is not None else profile


def _read(version: DatasetVersion) -> ReferenceProfile | None:
    store = current().artifacts
    path = profile_path(version)
    try:
        raw = store.read_path(path)
    except NotFound:
        return None
    try:
        return ReferenceProfile.from_dict(json.loads(raw))
    except (ValueError, InvalidInput) as exc:
        raise CorruptObject(
            f"the stored profile {path!r} of {version.uri} is damaged ({exc}). Remove that "
            "file from the artifact store; the next drift check computes it again."
        ) from None
