"""Database URLs: which driver, which file or server, and how to show them without secrets.

``sqlite:////abs/path.db`` (and ``sqlite:///:memory:``) or
``postgresql://user:password@host:port/db?options=...`` (``postgres://`` and
``postgresql+psycopg://`` are accepted too). Parsed with the standard
library: the store runs on the drivers directly and imports SQLAlchemy only
to migrate, so its URL class is not at hand on the common path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from loopml.errors import InvalidInput
from loopml.uri import redact

__all__ = ["DatabaseURL", "parse_database_url"]


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed metadata database URL.

    ``database`` is the SQLite file's path (None for an in-memory database)
    or the PostgreSQL database name; ``libpq`` is what psycopg connects
    with; ``sqlalchemy`` what the migrations' engine is created from.
    """

    text: str
    dialect: str
    database: str | None

    @property
    def redacted(self) -> str:
        """The URL with its password replaced by ``***``."""
        return redact(self.text)

    @property
    def libpq(self) -> str:
        rest = self.text.partition("://")[2]
        return f"postgresql://{rest}"

    @property
    def sqlalchemy(self) -> str:
        if self.dialect == "sqlite":
            return f"sqlite:///{self.database or ':memory:'}"
        rest = self.text.partition("://")[2]
        return f"postgresql+psycopg://{rest}"


def parse_database_url(uri: str) -> DatabaseURL:
    """Parse a metadata database URL; anything else is :class:`~loopml.errors.InvalidInput`."""
    text = uri.strip()
    scheme = text.partition(":")[0].lower()
    if scheme == "sqlite":
        if not text.startswith("sqlite:///"):
            raise InvalidInput(
                f"malformed SQLite URL {redact(text)!r}: expected 'sqlite:///relative.db' or "
                "'sqlite:////absolute/path.db'."
            )
        rest = text[len("sqlite:///") :].split("?", 1)[0]
        return DatabaseURL(text, "sqlite", None if rest in ("", ":memory:") else rest)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - parsed now, so a bad one is refused here
        except ValueError as exc:
            raise InvalidInput(
                f"malformed PostgreSQL URL {redact(text)!r}: {exc}. Expected "
                "'postgresql://user:password@host:port/database' (an IPv6 host in brackets, "
                "'[::1]')."
            ) from None
        return DatabaseURL(text, "postgresql", parts.path.lstrip("/") or None)
    raise InvalidInput(
        f"unsupported tracking URI {redact(text)!r}: expected 'sqlite:///path/to.db' "
        "or 'postgresql://user@host/db'."
    )
