"""Readable names for runs started without one: ``brave-otter-42``."""

from __future__ import annotations

import random

__all__ = ["random_name"]

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair",
    "fast", "gentle", "glad", "grand", "happy", "honest", "keen", "kind", "lively", "lucky",
    "merry", "mighty", "neat", "nimble", "noble", "proud", "quick", "quiet", "rapid", "sharp",
    "shiny", "silent", "smart", "steady", "sunny", "swift", "tidy", "vivid", "warm", "wise",
)  # fmt: skip
_NOUNS = (
    "badger", "bear", "beaver", "bison", "crane", "deer", "dolphin", "eagle", "falcon", "fox",
    "gecko", "heron", "ibis", "jaguar", "koala", "lark", "lemur", "lion", "lynx", "marten",
    "mole", "moose", "newt", "otter", "owl", "panda", "puffin", "quail", "raven", "robin",
    "salmon", "seal", "sparrow", "stork", "swan", "tiger", "toad", "trout", "wolf", "wren",
)  # fmt: skip

_rng = random.Random()


def random_name() -> str:
    """An ``adjective-animal-NN`` name; collisions are harmless (runs are keyed by id)."""
    return f"{_rng.choice(_ADJECTIVES)}-{_rng.choice(_NOUNS)}-{_rng.randint(0, 99)}"
