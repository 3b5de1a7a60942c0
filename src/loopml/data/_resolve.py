"""Which version a dataset reference means: the one rule every reader of data follows.

- ``data:/iris@3`` (or ``iris@3``): version 3.
- ``data:/iris@latest``: the newest version, whatever ``loopml.lock`` pins.
- ``data:/iris`` (or ``iris``): the version ``loopml.lock`` pins, so that
  ``git checkout <old commit>`` brings back the data of that commit for
  training as it does for ``loopml data checkout``. A dataset the lock does
  not name (or a project without a lock) gets its newest version.

``get_dataset``, ``run.use_dataset``, pipeline parameters and step arguments
that are dataset references, ``validate``/``infer_suite`` on a reference,
``diff_versions`` and the ``data:/`` scheme of the URI registry (lineage)
all resolve here. ``checkout`` and ``push``/``pull``, which work from the
lock file without the database, ask :func:`pinned_entry` the same question.

When the answer may surprise, a :class:`DatasetNotice` warning says it in one
line: a bare name that fell back to the newest version because nothing pins
it, a pinned version older than the newest, and ``@latest`` when the lock
pins another version. Turn them into errors with
``warnings.filterwarnings("error", category=loopml.DatasetNotice)`` (or
``-W error::loopml.DatasetNotice``) to insist that every dataset is pinned.

A pinned version must be in this project's database with the manifest the
lock records, and that manifest in the local store: otherwise
:class:`~loopml.errors.NotFound` says what is missing and what to run
(``loopml data pull``). Its files are checked when they are read, which
names the version and ``loopml data pull`` too; a step that comes from the
cache does not read them. (Checking every file here would cost one
``stat()`` per file on each resolution: 24 ms for 2,000 files.)
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from loopml.context import Context
from loopml.data import _repository
from loopml.data._lock import LockEntry, read_lock
from loopml.data._records import DatasetVersion
from loopml.errors import InvalidInput, NotFound
from loopml.uri import DataURI, parse_data_uri

__all__ = ["DatasetNotice", "Resolution", "pinned_entry", "resolve"]


class DatasetNotice(UserWarning):
    """A dataset reference resolved to a version that may not be the one expected
    (see :mod:`loopml.data._resolve`); the message names the version used."""


@dataclass(frozen=True)
class Resolution:
    """How a dataset reference was resolved: the ``version`` used, the version
    ``loopml.lock`` pins (None when it pins none), the newest version, and a one-line
    ``notice`` when the choice may surprise (else None). For a reference that names a
    version (``data:/iris@3``) the lock and the newest are not looked up: ``pinned`` and
    ``newest`` are None."""

    reference: DataURI
    version: DatasetVersion
    pinned: int | None
    newest: int | None
    notice: str | None

    @property
    def uri(self) -> str:
        """The resolved version's URI, ``data:/name@N``."""
        return self.version.uri


def pinned_entry(reference: DataURI, lock: Mapping[str, LockEntry]) -> LockEntry | None:
    """The lock entry ``reference`` means, or None when it means no pinned version: a bare
    name the lock pins, or the pinned version named by number; never ``@latest``."""
    entry = lock.get(reference.name)
    if entry is None or reference.latest:
        return None
    if reference.version is None or reference.version == entry.version:
        return entry
    return None


def resolve(ctx: Context, reference: str | DataURI, *, notify: bool = True) -> Resolution:
    """Resolve ``reference`` in ``ctx`` by the rule above; with ``notify``, a notice is
    also given as a :class:`DatasetNotice` warning.

    Raises :class:`~loopml.errors.NotFound` for an unknown dataset or version, and for a
    pinned version this database or the local store does not have;
    :class:`~loopml.errors.InvalidInput` for a malformed reference or lock file.
    """
    ref = reference if isinstance(reference, DataURI) else parse_data_uri(reference)
    meta = ctx.metadata
    if ref.version is not None:
        version = _repository.find_version(meta, ref.name, ref.version)
        return _bound(ctx, Resolution(ref, version, None, None, None))
    lock_path = ctx.settings.lock_path
    if ref.latest:
        newest = _repository.find_version(meta, ref.name, None)
        try:
            entry = read_lock(lock_path).get(ref.name)
        except InvalidInput:  # @latest does not need the lock; a broken one is not its business
            entry = None
        notice = None
        if entry is not None and entry.version != newest.version:
            notice = (
                f"{ref} means {newest.uri}, the newest version; "
                f"{lock_path.name} pins {DataURI(ref.name, entry.version)}."
            )
        pinned = entry.version if entry is not None else None
        return _bound(ctx, Resolution(ref, newest, pinned, newest.version, notice), notify)
    lock = read_lock(lock_path)
    entry = pinned_entry(ref, lock)
    if entry is None:
        newest = _repository.find_version(meta, ref.name, None)
        why = (
            f"{lock_path.name} does not pin {ref.name!r}"
            if lock_path.exists()
            else f"there is no {lock_path.name}"
        )
        notice = (
            f"{ref} means the newest version, {newest.uri}, as {why}; name a version "
            f"({newest.uri}) or pin one with 'loopml data checkout {ref.name}@{newest.version}'."
        )
        return _bound(ctx, Resolution(ref, newest, None, newest.version, notice), notify)
    version = _pinned_version(ctx, entry, lock_path.name)
    newest_number = _repository.find_version(meta, ref.name, None).version
    notice = None
    if newest_number != version.version:
        notice = (
            f"{ref} means {version.uri}, the version {lock_path.name} pins; the newest is "
            f"{DataURI(ref.name, newest_number)} (ask for {DataURI(ref.name, latest=True)}, "
            f"or pin it with 'loopml data checkout {ref.name}@{newest_number}')."
        )
    return _bound(ctx, Resolution(ref, version, entry.version, newest_number, notice), notify)


def _pinned_version(ctx: Context, entry: LockEntry, lock_name: str) -> DatasetVersion:
    """The database's record of the pinned version, once its manifest matches the lock's
    and is in the local store."""
    pinned = DataURI(entry.name, entry.version)
    try:
        version = _repository.find_version(ctx.metadata, entry.name, entry.version)
    except NotFound as exc:
        raise NotFound(
            f"{lock_name} pins {pinned} (manifest {entry.manifest[:12]}…), which the metadata "
            f"database does not hold: {exc} Use the database the lock was written with "
            f"(tracking_uri), or pin a version this one has with 'loopml data checkout "
            f"{entry.name}@<version>'."
        ) from None
    if version.manifest_digest != entry.manifest:
        raise NotFound(
            f"{lock_name} pins {pinned} with manifest {entry.manifest[:12]}…, but the metadata "
            f"database's {pinned} has manifest {version.manifest_digest[:12]}…: the lock was "
            "written against another database. Use that database (tracking_uri), or pin a "
            f"version of this one with 'loopml data checkout {entry.name}@<version>'."
        )
    if not ctx.artifacts.exists(entry.manifest):
        raise NotFound(
            f"{pinned}, pinned in {lock_name}, is not in the local store (its manifest "
            f"{entry.manifest} is missing). Fetch it with 'loopml data pull' (from the data "
            "remote the project pushes to)."
        )
    return version


def _bound(ctx: Context, found: Resolution, notify: bool = False) -> Resolution:
    found.version._context = ctx
    if notify and found.notice is not None:
        warnings.warn(found.notice, DatasetNotice, stacklevel=_caller_level())
    return found


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside loopml (the
    user's line that asked for the data)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
