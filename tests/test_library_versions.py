from __future__ import annotations

import importlib.metadata

from loopml.pipelines._cache import _KEY_LIBRARIES, library_versions
from loopml.tracking._capture import KEY_PACKAGES


def test_the_cache_key_libraries_are_among_those_every_run_records() -> None:
    assert set(_KEY_LIBRARIES) <= set(KEY_PACKAGES)


def test_the_cache_key_has_the_installed_versions_of_its_libraries() -> None:
    versions = library_versions({})
    for name in _KEY_LIBRARIES:
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            assert name not in versions
        else:
            assert versions[name] == installed
