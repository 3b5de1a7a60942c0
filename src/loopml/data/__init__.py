"""Versioned datasets: add, find, compare, check out and share them.

A version is a small manifest of files stored by hash, so identical bytes are
stored once and equal folders are the same version. ``loopml.lock`` at the
project root pins the versions the project uses; commit it with your code.

Example::

    import loopml

    ds = loopml.add_dataset("data/iris.csv", name="iris")
    loopml.get_dataset("data:/iris@latest").to_pandas()
    loopml.data.status()                  # working copies vs loopml.lock
    loopml.data.push("s3://bucket/loopml")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# name -> private module defining it; loaded on first use, so that e.g.
# ``status`` does not pay for the metadata store's imports
_EXPORTS: dict[str, str] = {
    "CheckoutResult": "loopml.data._records",
    "ColumnProfile": "loopml.data._records",
    "DatasetDiff": "loopml.data._records",
    "DatasetProfile": "loopml.data._records",
    "DatasetStatus": "loopml.data._records",
    "DatasetVersion": "loopml.data._records",
    "FileChange": "loopml.data._records",
    "LockEntry": "loopml.data._lock",
    "ManifestEntry": "loopml.data._records",
    "SchemaChange": "loopml.data._records",
    "TableProfile": "loopml.data._records",
    "TransferReport": "loopml.data._records",
    "add_dataset": "loopml.data._datasets",
    "checkout": "loopml.data._checkout",
    "dataset_versions": "loopml.data._datasets",
    "diff_versions": "loopml.data._diff",
    "get_dataset": "loopml.data._datasets",
    "list_datasets": "loopml.data._datasets",
    "pull": "loopml.data._remote",
    "push": "loopml.data._remote",
    "read_lock": "loopml.data._lock",
    "status": "loopml.data._checkout",
}

__all__ = [
    "CheckoutResult",
    "ColumnProfile",
    "DatasetDiff",
    "DatasetProfile",
    "DatasetStatus",
    "DatasetVersion",
    "FileChange",
    "LockEntry",
    "ManifestEntry",
    "SchemaChange",
    "TableProfile",
    "TransferReport",
    "add_dataset",
    "checkout",
    "dataset_versions",
    "diff_versions",
    "get_dataset",
    "list_datasets",
    "pull",
    "push",
    "read_lock",
    "status",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from loopml.data._checkout import checkout, status
    from loopml.data._datasets import add_dataset, dataset_versions, get_dataset, list_datasets
    from loopml.data._diff import diff_versions
    from loopml.data._lock import LockEntry, read_lock
    from loopml.data._records import (
        CheckoutResult,
        ColumnProfile,
        DatasetDiff,
        DatasetProfile,
        DatasetStatus,
        DatasetVersion,
        FileChange,
        ManifestEntry,
        SchemaChange,
        TableProfile,
        TransferReport,
    )
    from loopml.data._remote import pull, push


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
