"""Checking every stored object against its hash, and repairing it from a sound copy.

``fsck`` hashes every object of the artifact store and, given a data remote,
every object there (single objects streamed, packs read whole, a pack cut
short losing the objects past its end). With ``repair`` each corrupt object
is replaced from whichever side holds it sound:

- a local object from the remote: fetched, checked, and stored over the
  corrupt copy;
- a single object on the remote from the local store: uploaded over it,
  hashed as it streams;
- a pack holding corrupt objects: written again with the sound objects and
  sound local copies of the corrupt ones, and the old pack removed. A
  corrupt object no side holds sound is left out of it, so the next
  ``loopml data push`` from a machine that has it sends it again.

What stays corrupt is listed with what to do. Example::

    report = loopml.fsck(remote="s3://bucket/loopml", repair=True)
    report.ok, [p.digest for p in report.repaired]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loopml.context import current
from loopml.data._progress import byte_progress
from loopml.data._records import FsckProblem, FsckReport, StoreSide
from loopml.data._remote import Inventory, PackFile, PackSlot, Remote, _staging, open_remote
from loopml.errors import CorruptObject, NotFound
from loopml.store.artifacts import ArtifactStore, hash_bytes
from loopml.uri import redact

__all__ = ["fsck"]

_THREADS = 8


def fsck(
    remote: str | None = None, *, repair: bool = False, progress: bool | None = None
) -> FsckReport:
    """Check every object of the artifact store (and, with ``remote``, of that data remote)
    against its hash; with ``repair``, replace each corrupt object with a sound copy from
    the other side. ``progress`` shows a bar on stderr (default: for long checks on a
    terminal). The report lists what was found, what was repaired, and what to do about
    the rest (``report.ok`` is True when everything is sound now)."""
    ctx = current()
    ctx.check_project()
    local = ctx.artifacts
    rem = open_remote(remote) if remote else None
    report = FsckReport(
        store=redact(local.uri), remote=redact(rem.url) if rem else None, repair=repair
    )
    objects = list(local.iter_objects())
    planted = getattr(local, "iter_planted", None)  # links, folders under objects' names
    if planted is not None:
        objects.extend(planted())
    inventory = rem.inventory() if rem is not None else None
    total = sum(size for _, size, _ in objects)
    count = len(objects)
    if inventory is not None:
        total += sum(inventory.single.values()) + sum(p.size or 0 for p in inventory.packs)
        count += len(inventory.single) + len(inventory.packs)
    with byte_progress("checking", total, count, progress) as advance:
        bad_local = _check_local(local, objects, advance)
        report.checked = len(objects)
        report.checked_bytes = sum(size for _, size, _ in objects)
        bad_single: dict[str, int] = {}
        bad_packs: list[tuple[PackFile, bytes, set[int]]] = []
        if rem is not None and inventory is not None:
            bad_single, bad_packs = _check_remote(rem, inventory, report, advance)
    sound_local = {d for d, _, _ in objects} - bad_local.keys()
    if rem is None or inventory is None:
        for digest, size in sorted(bad_local.items()):
            report.problems.append(
                FsckProblem(digest, StoreSide.LOCAL, size, advice=_NO_REMOTE_ADVICE)
            )
        return report
    url = redact(rem.url)
    remote_sound = _remote_sound(inventory, bad_single, bad_packs)
    with _staging() as staging:
        with local.batch():
            for digest, size in sorted(bad_local.items()):
                report.problems.append(
                    _local_problem(local, rem, digest, size, remote_sound, repair, url)
                )
        for digest, size in sorted(bad_single.items()):
            report.problems.append(
                _single_problem(local, rem, digest, size, sound_local, repair, url, staging)
            )
        for pack, blob, bad in bad_packs:
            report.problems.extend(
                _pack_problems(local, rem, pack, blob, bad, sound_local, remote_sound, repair)
            )
    return report


_NO_REMOTE_ADVICE = (
    "restore it from a remote that has it with 'loopml fsck --remote URL --repair', or add "
    "the data again from its source (the write replaces the corrupt copy)"
)


def _check_local(
    local: ArtifactStore, objects: list[tuple[str, int, float]], advance: Callable[[int], None]
) -> dict[str, int]:
    """The corrupt local objects (hash → size), hashed on a few threads."""

    def check(item: tuple[str, int, float]) -> tuple[str, int, str | None]:
        digest, size, _ = item
        return digest, size, local.check(digest)

    bad: dict[str, int] = {}
    workers = max(1, min(_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        for digest, size, problem in pool.map(check, objects):
            if problem == "corrupt":  # "missing": removed while checking, by gc
                bad[digest] = size
            advance(size)
    return bad


def _check_remote(
    rem: Remote, inventory: Inventory, report: FsckReport, advance: Callable[[int], None]
) -> tuple[dict[str, int], list[tuple[PackFile, bytes, set[int]]]]:
    """The corrupt single objects (hash → size), and each pack with corrupt objects: its
    bytes as read and the positions of its bad slots."""
    bad_single: dict[str, int] = {}
    for digest, size in sorted(inventory.single.items()):
        if rem.store.check(digest) == "corrupt":
            bad_single[digest] = size
        report.remote_checked += 1
        report.remote_checked_bytes += size
        advance(size)
    bad_packs = []
    for pack in inventory.packs:
        try:
            blob = bytes(rem.fs.cat_file(pack.pack))
        except FileNotFoundError:
            blob = b""
        bad = {
            i
            for i, (digest, offset, length) in enumerate(pack.slots)
            if offset + length > len(blob) or hash_bytes(blob[offset : offset + length]) != digest
        }
        report.remote_checked += len(pack.slots)
        report.remote_checked_bytes += len(blob)
        if bad:
            bad_packs.append((pack, blob, bad))
        advance(pack.size or 0)
    for name in inventory.torn:
        report.notes.append(
            f"the pack index {name} cannot be read: the objects of its pack count as absent "
            "on the remote, and 'loopml data push' sends them again."
        )
    return bad_single, bad_packs


def _remote_sound(
    inventory: Inventory,
    bad_single: dict[str, int],
    bad_packs: list[tuple[PackFile, bytes, set[int]]],
) -> dict[str, PackSlot | None]:
    """Every object the remote holds sound: None for a single object, else its slot."""
    bad_slots = {(pack.pack, pack.slots[i][1]) for pack, _, bad in bad_packs for i in bad}
    sound: dict[str, PackSlot | None] = {}
    for pack in inventory.packs:
        for digest, offset, length in pack.slots:
            whole = pack.size is not None and offset + length <= pack.size
            if whole and (pack.pack, offset) not in bad_slots:
                sound[digest] = PackSlot(pack.pack, offset, length)
    for digest in inventory.single:
        if digest not in bad_single:
            sound[digest] = None
    return sound


def _local_problem(
    local: ArtifactStore,
    rem: Remote,
    digest: str,
    size: int,
    remote_sound: dict[str, PackSlot | None],
    repair: bool,
    url: str,
) -> FsckProblem:
    problem = FsckProblem(digest, StoreSide.LOCAL, size)
    if digest not in remote_sound:
        problem.advice = (
            f"the remote {url} has no sound copy: add the data again from its source (the "
            "write replaces the corrupt copy)"
        )
    elif not repair:
        problem.advice = "the remote has a sound copy: run again with --repair to restore it"
    else:
        _restore_local(local, rem, digest, remote_sound[digest])
        problem.repaired_from = StoreSide.REMOTE
    return problem


def _restore_local(local: ArtifactStore, rem: Remote, digest: str, slot: PackSlot | None) -> None:
    """Fetch the remote's sound copy and store it over the corrupt local one."""
    with _staging() as staging:
        path = staging / digest
        if slot is None:
            rem.store.get_file(digest, path)  # checked against its hash
        else:
            data = rem.read_slots([(digest, slot)])[digest]
            if hash_bytes(data) != digest:
                raise CorruptObject(
                    f"object {digest} changed on the remote {redact(rem.url)} while it was "
                    "being repaired; run 'loopml fsck' again."
                )
            path.write_bytes(data)
        local.put_file(path)  # finds the corrupt copy and replaces it


def _single_problem(
    local: ArtifactStore,
    rem: Remote,
    digest: str,
    size: int,
    sound_local: set[str],
    repair: bool,
    url: str,
    staging: Path,
) -> FsckProblem:
    problem = FsckProblem(digest, StoreSide.REMOTE, size)
    if digest not in sound_local:
        problem.advice = (
            "the local store has no sound copy: on a machine that has the data intact, run "
            f"'loopml fsck --remote {url} --repair'"
        )
    elif not repair:
        problem.advice = "the local store has a sound copy: run again with --repair to upload it"
    else:
        path = local.local_file(digest)
        if path is None:
            path = staging / digest
            local.get_file(digest, path)
        rem.store.put_file(path, digest=digest)
        problem.repaired_from = StoreSide.LOCAL
    return problem


def _pack_problems(
    local: ArtifactStore,
    rem: Remote,
    pack: PackFile,
    blob: bytes,
    bad: set[int],
    sound_local: set[str],
    remote_sound: dict[str, PackSlot | None],
    repair: bool,
) -> list[FsckProblem]:
    """The corrupt objects of one pack; with ``repair``, the pack written again with sound
    bytes (local copies of its corrupt objects where there are some) and the old one
    removed."""
    problems = []
    objects: list[tuple[str, bytes]] = []
    for i, (digest, offset, length) in enumerate(pack.slots):
        if i not in bad:
            objects.append((digest, blob[offset : offset + length]))
            continue
        problem = FsckProblem(digest, StoreSide.REMOTE, length)
        problems.append(problem)
        elsewhere = digest in remote_sound  # another sound copy on the remote
        if digest in sound_local:
            if repair:
                try:
                    objects.append((digest, local.get_bytes(digest)))
                except (CorruptObject, NotFound):
                    problem.advice = "the local copy went bad meanwhile: run 'loopml fsck' again"
                    continue
                problem.repaired_from = StoreSide.LOCAL
            else:
                problem.advice = (
                    "the local store has a sound copy: run again with --repair to upload it"
                )
        elif elsewhere:
            if repair:
                problem.repaired_from = StoreSide.REMOTE
            else:
                problem.advice = (
                    "the remote holds another sound copy: run again with --repair to drop this one"
                )
        elif repair:
            problem.advice = (
                "no sound copy on either side; it was dropped from the remote, so 'loopml "
                "data push' from a machine that has the data intact sends it again"
            )
        else:
            problem.advice = (
                "no sound copy on either side: on a machine that has the data intact, run "
                f"'loopml fsck --remote {redact(rem.url)} --repair'"
            )
    if repair:
        new = rem.put_pack(objects) if objects else None
        if new is None or os.path.basename(new) != os.path.basename(pack.pack):
            rem.remove_pack(pack)
    return problems
