"""Who is running loopml: the name recorded beside a run, a version, a promotion or a deployment."""

from __future__ import annotations

import getpass

__all__ = ["current_user"]


def current_user() -> str | None:
    """The login name of the operating-system user; None when the system cannot say
    (no password entry for the uid in a container, no ``pwd`` module)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return None
