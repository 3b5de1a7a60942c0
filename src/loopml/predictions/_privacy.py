"""Privacy of the prediction log: ``[privacy] mask`` and ``drop`` of loopml.toml.

A masked input column is replaced by the HMAC-SHA256 of its value (hex), keyed by
``LOOPML_PRIVACY_KEY`` or else by a random key made once in the project's state
folder (``.loopml/privacy.key``, readable by its owner only): equal values still
hash equal, so a masked column can be grouped by and joined, but not read back.
A dropped column is left out. Both happen before a record is queued, so the raw
values never reach the writer, the disk or a log line.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.config import PrivacySettings
from loopml.errors import InvalidInput, StoreError

__all__ = ["KEY_ENV", "KEY_FILE", "Privacy"]

KEY_ENV = "LOOPML_PRIVACY_KEY"
KEY_FILE = "privacy.key"


class Privacy:
    """The masking and dropping of input columns; ``apply(inputs)`` returns the row to
    log. Its key is never shown (not in ``repr``, not in errors)."""

    __slots__ = ("_key", "drop", "mask")

    def __init__(self, mask: tuple[str, ...] = (), drop: tuple[str, ...] = (), key: bytes = b""):
        if mask and not key:
            raise InvalidInput("masking columns needs a key: set LOOPML_PRIVACY_KEY.")
        self.mask = frozenset(mask)
        self.drop = frozenset(drop)
        self._key = key

    def __repr__(self) -> str:
        return f"Privacy(mask={sorted(self.mask)!r}, drop={sorted(self.drop)!r})"

    @classmethod
    def from_settings(cls, settings: PrivacySettings, state_dir: Path) -> Privacy:
        """The privacy of ``[privacy]``; the key is read (or made) only when a column is
        masked."""
        key = load_key(state_dir) if settings.mask else b""
        return cls(settings.mask, settings.drop, key)

    @property
    def active(self) -> bool:
        """Whether any column is masked or dropped."""
        return bool(self.mask or self.drop)

    def hash(self, value: Any) -> str:
        """The keyed hash of one value (text as is, anything else as JSON)."""
        raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        data = raw.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def apply(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``inputs`` with the dropped columns left out and the masked ones hashed (a
        missing value stays missing)."""
        out: dict[str, Any] = {}
        for name, value in inputs.items():
            if name in self.drop:
                continue
            if name in self.mask and value is not None:
                value = self.hash(value)
            out[name] = value
        return out


def load_key(state_dir: Path) -> bytes:
    """The masking key: ``LOOPML_PRIVACY_KEY``, else ``<state_dir>/privacy.key``, made with
    32 random bytes (owner-only) the first time; two processes making it at once agree."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode("utf-8", "surrogatepass")
    path = state_dir / KEY_FILE
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise StoreError(
            f"cannot read the privacy key {path}: {exc.strerror}. Fix its permissions or set "
            f"{KEY_ENV}."
        ) from None
    if data:
        return data
    return _make_key(path)


def _make_key(path: Path) -> bytes:
    key = secrets.token_hex(32).encode("ascii")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process made it first: use theirs
        except FileExistsError:
            return path.read_bytes().strip()
        return key
    except OSError as exc:
        raise StoreError(
            f"cannot create the privacy key {path}: {exc.strerror}. Fix the folder's "
            f"permissions or set {KEY_ENV}."
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
