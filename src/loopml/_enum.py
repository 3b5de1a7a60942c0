"""The base of loopml's status vocabularies: an enum whose members are their text."""

from __future__ import annotations

import enum

__all__ = ["StrEnum"]


class StrEnum(str, enum.Enum):
    """Members compare equal to, print as, and are stored as their value
    (``RunStatus.FINISHED == "FINISHED"``), on every Python loopml supports."""

    def __str__(self) -> str:
        return str(self.value)
