"""Versioned datasets: add, find, compare, check out and share them.

A version is a small manifest of files stored by hash, so identical bytes are
stored once and equal folders are the same version. ``loopml.lock`` at the
project root pins the versions the project uses; commit it with your code.

Example::

    import loopml

    ds = loopml.add_dataset("data/iris.csv", name="iris")   # pins data:/iris@1
    loopml.get_dataset("data:/iris").to_pandas()            # the version the lock pins
    loopml.data.status()                  # working copies vs loopml.lock
    loopml.data.push("s3://bucket/loopml")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
