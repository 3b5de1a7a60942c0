"""A process killed with SIGKILL in the middle of ``put_file`` leaves no visible object."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopml.store.artifacts import LocalArtifactStore, hash_file

_WRITER = """
import sys, time
from loopml.store import artifacts

real = artifacts._copy_slice

def slow_copy(src, dst, offset, count, kernel):
    n = real(src, dst, offset, min(count, 1 << 20), kernel)
    time.sleep(0.02)  # slow enough to be caught half way
    return n

artifacts._copy_slice = slow_copy
artifacts.LocalArtifactStore(sys.argv[1]).put_file(sys.argv[2])
print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_during_put_file_leaves_no_partial_object_and_a_retry_succeeds(
    project: Path,
) -> None:
    root = project / ".loopml" / "artifacts"
    big = project / "big.bin"
    big.write_bytes(os.urandom(48 << 20))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(big)])
    try:
        deadline = time.monotonic() + 30
        partial: list[Path] = []
        while time.monotonic() < deadline:
            partial = [p for p in (root / "tmp").glob("*.part") if p.stat().st_size > 0]
            if partial:
                break
            time.sleep(0.005)
        assert partial, "the writer never started writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = LocalArtifactStore(root)
    assert list(store.iter_objects()) == []  # nothing half-written is visible
    assert 0 < partial[0].stat().st_size < big.stat().st_size

    digest, size = hash_file(big)
    from loopml.data import add_dataset

    v = add_dataset(big, "big")
    assert v.files()[0].digest == digest
    assert [(d, s) for d, s, _ in store.iter_objects() if d == digest] == [(digest, size)]
    assert store.verify(digest)

    os.utime(partial[0], (time.time() - 7200, time.time() - 7200))
    assert store.clean_tmp(older_than=3600) == 1  # the leftover goes with the next gc
