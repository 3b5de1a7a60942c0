"""The URIs users meet, parsed into small records.

- ``runs:/<run_id>`` and ``runs:/<run_id>/<artifact path>``
- ``data:/<dataset>@<version>`` (``@latest`` or no ``@`` means the newest)
- ``models:/<name>/<version>`` and ``models:/<name>@<alias>``

Example::

    >>> parse_uri("data:/iris@3")
    DataURI(name='iris', version=3)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.errors import InvalidInput

__all__ = ["DataURI", "ModelURI", "RunURI", "parse_data_uri", "parse_run_uri", "parse_uri"]

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_NAME_RE = re.compile(rf"^{_NAME}$")
_DATA_RE = re.compile(rf"^data:/(?P<name>{_NAME})(?:@(?P<version>[^/@]+))?$")
_RUN_RE = re.compile(r"^runs:/(?P<run_id>[0-9a-f]{8,64})(?:/(?P<path>.+))?$")
_MODEL_RE = re.compile(
    rf"^models:/(?P<name>{_NAME})(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z][A-Za-z0-9_-]*))$"
)


@dataclass(frozen=True)
class DataURI:
    """``data:/name@version``; ``version`` is None for the newest."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return f"data:/{self.name}@{self.version if self.version is not None else 'latest'}"


@dataclass(frozen=True)
class RunURI:
    """``runs:/run_id[/path]``."""

    run_id: str
    path: str = ""

    def __str__(self) -> str:
        return f"runs:/{self.run_id}" + (f"/{self.path}" if self.path else "")


@dataclass(frozen=True)
class ModelURI:
    """``models:/name/version`` or ``models:/name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.version}" if self.version is not None else f"@{self.alias}"
        return f"models:/{self.name}{tail}"


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it can stand in a URI, else raise :class:`InvalidInput`."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(
            f"invalid {what} {name!r}: expected letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'iris-train')."
        )
    return name


def parse_data_uri(uri: str) -> DataURI:
    """Parse ``data:/name@version``; a bare dataset name is accepted too."""
    text = uri.strip()
    if not text.startswith("data:/") and ("@" in text or _NAME_RE.match(text)):
        text = "data:/" + text
    m = _DATA_RE.match(text)
    if not m:
        raise InvalidInput(
            f"malformed dataset URI {uri!r}: expected 'data:/<name>@<version>' "
            "such as 'data:/iris@3' or 'data:/iris@latest'."
        )
    raw = m.group("version")
    if raw is None or raw == "latest":
        return DataURI(m.group("name"), None)
    if raw.startswith("v"):
        raw = raw[1:]
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(
            f"malformed dataset version {m.group('version')!r} in {uri!r}: "
            "expected a positive number or 'latest'."
        )
    return DataURI(m.group("name"), int(raw))


def parse_run_uri(uri: str) -> RunURI:
    """Parse ``runs:/<run_id>[/<path>]``."""
    m = _RUN_RE.match(uri.strip())
    if not m:
        raise InvalidInput(
            f"malformed run URI {uri!r}: expected 'runs:/<run_id>' or "
            "'runs:/<run_id>/<artifact path>' with a hexadecimal run id."
        )
    return RunURI(m.group("run_id"), (m.group("path") or "").strip("/"))


def parse_uri(uri: str) -> DataURI | RunURI | ModelURI:
    """Parse any loopml URI by its scheme."""
    if not isinstance(uri, str):
        raise InvalidInput(f"expected a URI string, got {type(uri).__name__}")
    text = uri.strip()
    if text.startswith("data:/"):
        return parse_data_uri(text)
    if text.startswith("runs:/"):
        return parse_run_uri(text)
    if text.startswith("models:/"):
        m = _MODEL_RE.match(text)
        if not m:
            raise InvalidInput(
                f"malformed model URI {uri!r}: expected 'models:/<name>/<version>' "
                "or 'models:/<name>@<alias>'."
            )
        version = m.group("version")
        return ModelURI(m.group("name"), int(version) if version else None, m.group("alias"))
    raise InvalidInput(
        f"unknown URI {uri!r}: expected one starting with 'data:/', 'runs:/' or 'models:/'."
    )
