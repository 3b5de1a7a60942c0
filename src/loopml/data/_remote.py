"""Data remotes: push and pull dataset objects to a folder or any fsspec URL.

Thousands of small files must not become thousands of round trips, so small
objects travel in pack files; large ones travel alone::

    <remote>/objects/ab/cdef…          an object of 1 MiB or more, under its hash
    <remote>/packs/<hash>.pack         small objects, concatenated
    <remote>/packs/<hash>.idx          JSON: {"format": 1, "pack": "<hash>.pack",
                                              "objects": [[hash, offset, length], …]}

A pack is written before its index, so a reader never sees an index whose
pack is missing. A push killed mid-write leaves ``.part`` files on a remote
(``packs/.<hex>.part``, ``tmp/<hex>.part``); the next push removes those
older than an hour (younger ones may be another push's, in progress). A pull
downloads into ``.loopml/cache/tmp/pull-<hex>/`` under a file lock, and the
next pull removes the folders whose lock nobody holds. What the remote holds is learnt from one listing plus the
(few) indexes; only missing objects are sent or fetched, and every fetched
object is checked against its hash before it is stored locally.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loopml import _validate
from loopml.context import current
from loopml.data._lock import read_lock
from loopml.data._manifest import Manifest, load_manifest
from loopml.data._progress import byte_progress
from loopml.data._records import RemoteGcReport, TransferReport
from loopml.data._resolve import pinned_entry
from loopml.errors import CorruptObject, InvalidInput, NotFound, StoreError
from loopml.store.artifacts import (
    ArtifactStore,
    FsspecArtifactStore,
    hash_bytes,
)
from loopml.uri import DataURI, local_path, parse_data_uri, redact, scrub

__all__ = [
    "PACK_BYTES",
    "SMALL_OBJECT",
    "Inventory",
    "PackFile",
    "Remote",
    "fetch_objects",
    "gc_remote",
    "open_remote",
    "pull",
    "push",
]

#: Objects smaller than this travel in packs.
SMALL_OBJECT = 1 << 20
#: A pack is closed once it holds this many bytes.
PACK_BYTES = 64 << 20
_PACK_FORMAT = 1
#: Packed objects closer than this are fetched in one range read.
_MERGE_GAP = 1 << 20
#: An upload's temporary file older than this is a killed push's, and is removed.
_LEFTOVER_AGE = 3600.0


@dataclass(frozen=True)
class PackSlot:
    """Where a small object sits in a pack."""

    pack: str
    offset: int
    length: int


@dataclass
class PackFile:
    """One pack on a remote: its index, its bytes (``size`` None when the pack is missing)
    and the objects the index lists, as ``(hash, offset, length)``."""

    index: str
    pack: str
    size: int | None
    slots: list[tuple[str, int, int]]
    #: when the pack was written (seconds since the epoch; now when the listing omits it)
    mtime: float = 0.0


@dataclass
class Inventory:
    """What a remote holds: single objects (hash → size), and packed objects by hash.

    A packed object counts only when its pack holds all of its bytes; ``packs`` lists
    every readable index, ``torn`` those that could not be read.
    """

    single: dict[str, int] = field(default_factory=dict)
    #: when each single object was written (seconds since the epoch)
    single_mtime: dict[str, float] = field(default_factory=dict)
    packed: dict[str, PackSlot] = field(default_factory=dict)
    packs: list[PackFile] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    #: temporary files of uploads (path, modification time), maybe of a killed push
    leftovers: list[tuple[str, float]] = field(default_factory=list)

    def __contains__(self, digest: object) -> bool:
        return digest in self.single or digest in self.packed

    def holds(self, digest: str, size: int) -> bool:
        """Whether the remote has a copy of ``digest`` of the right size (a truncated or
        overgrown copy is one to replace)."""
        if self.single.get(digest) == size:
            return True
        slot = self.packed.get(digest)
        return slot is not None and slot.length == size


class Remote:
    """A data remote: a local folder or an fsspec URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.store = FsspecArtifactStore(url)
        self.fs = self.store.fs
        self.root = self.store.root
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self._local = any(p in ("file", "local") for p in protocols)

    def inventory(self) -> Inventory:
        """One listing of the remote, then its pack indexes in one batched read."""
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            found = {}
        inv = Inventory()
        indexes = []
        pack_sizes: dict[str, int] = {}
        pack_mtimes: dict[str, float] = {}
        for name, info in found.items():
            parts = name.rstrip("/").split("/")
            if len(parts) >= 3 and parts[-3] == "objects" and len(parts[-2]) == 2:
                if len(parts[-1]) == 62:
                    inv.single[parts[-2] + parts[-1]] = int(info.get("size") or 0)
                    inv.single_mtime[parts[-2] + parts[-1]] = _mtime(info)
            elif len(parts) >= 2 and parts[-2] == "packs" and parts[-1].endswith(".idx"):
                indexes.append(name)
            elif len(parts) >= 2 and parts[-2] in ("packs", "tmp") and parts[-1].endswith(".part"):
                inv.leftovers.append((name, _mtime(info)))
            elif len(parts) >= 2 and parts[-2] == "packs" and parts[-1].endswith(".pack"):
                pack_sizes[name] = int(info.get("size") or 0)
                pack_mtimes[name] = _mtime(info)
        if indexes:
            blobs = self._cat_all(sorted(indexes))
            for name in sorted(blobs):
                parsed = _parse_index(blobs[name], name.rsplit("/", 1)[0])
                if parsed is None:
                    inv.torn.append(name)
                    continue
                pack, slots = parsed
                size = pack_sizes.get(pack)
                inv.packs.append(
                    PackFile(name, pack, size, slots, pack_mtimes.get(pack, time.time()))
                )
                for digest, offset, length in slots:
                    if size is not None and offset + length <= size:  # all its bytes there
                        inv.packed[digest] = PackSlot(pack, offset, length)
        return inv

    def _cat_all(self, paths: list[str]) -> dict[str, bytes]:
        """The bytes of each path that exists. ``fs.cat`` reads a list at once, but takes
        ``*``, ``?`` and ``[`` as a glob: a remote whose path holds one is read file by
        file."""
        if not any(c in p for p in paths for c in "*?["):
            return dict(self.fs.cat(paths, on_error="omit"))
        out = {}
        for path in paths:
            try:
                out[path] = self.fs.cat_file(path)
            except FileNotFoundError:
                continue
        return out

    def _write(self, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0]
        if self._local:
            self.fs.makedirs(parent, exist_ok=True)
            tmp = f"{parent}/.{uuid.uuid4().hex}.part"
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def put_pack(self, objects: list[tuple[str, bytes]]) -> str:
        """Upload one pack of small objects, then its index; returns the pack's path."""
        blob = b"".join(data for _, data in objects)
        digest = hash_bytes(blob)
        slots, offset = [], 0
        for obj_digest, data in objects:
            slots.append([obj_digest, offset, len(data)])
            offset += len(data)
        index = orjson.dumps(
            {"format": _PACK_FORMAT, "pack": f"{digest}.pack", "objects": slots},
            option=orjson.OPT_SORT_KEYS,
        )
        self._write(f"{self.root}/packs/{digest}.pack", blob)
        self._write(f"{self.root}/packs/{digest}.idx", index)
        return f"{self.root}/packs/{digest}.pack"

    def read_slots(self, slots: list[tuple[str, PackSlot]]) -> dict[str, bytes]:
        """The bytes of packed objects (unchecked), in one batched read of byte ranges.

        Objects of one pack that lie close together are read as one range, so
        fetching most of a pack costs one request, not one per object.
        """
        spans: list[tuple[str, int, int, list[tuple[str, PackSlot]]]] = []
        for item in sorted(slots, key=lambda it: (it[1].pack, it[1].offset)):
            slot = item[1]
            if spans and spans[-1][0] == slot.pack and slot.offset - spans[-1][2] <= _MERGE_GAP:
                pack, start, end, items = spans[-1]
                spans[-1] = (pack, start, max(end, slot.offset + slot.length), items)
                items.append(item)
            else:
                spans.append((slot.pack, slot.offset, slot.offset + slot.length, [item]))
        if not spans:
            return {}
        blobs = self.fs.cat_ranges(
            [sp[0] for sp in spans], [sp[1] for sp in spans], [sp[2] for sp in spans]
        )
        out: dict[str, bytes] = {}
        for (pack, start, _end, items), blob in zip(spans, blobs, strict=True):
            if isinstance(blob, Exception):
                raise NotFound(
                    f"could not read {pack} from the remote {redact(self.url)}: "
                    f"{scrub(str(blob), self.url)}"
                )
            for digest, slot in items:
                out[digest] = bytes(blob[slot.offset - start : slot.offset - start + slot.length])
        return out

    def remove_pack(self, pack: PackFile) -> None:
        """Remove a pack: its index first, so no reader finds an index without its pack."""
        for path in (pack.index, pack.pack):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(path)

    def remove_leftovers(self, inventory: Inventory, older_than: float = _LEFTOVER_AGE) -> int:
        """Remove the temporary files of uploads older than ``older_than`` seconds (a push
        killed mid-write); younger ones may belong to a push in progress."""
        cutoff = time.time() - older_than
        stale = [name for name, mtime in inventory.leftovers if mtime < cutoff]
        for name in stale:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(name)
        return len(stale)


def _mtime(info: dict[str, Any]) -> float:
    """A listing entry's modification time in seconds (now, so never stale, when unknown)."""
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
    if mtime is None:
        return time.time()
    return float(mtime.timestamp() if hasattr(mtime, "timestamp") else mtime)


def _parse_index(blob: bytes, base: str) -> tuple[str, list[tuple[str, int, int]]] | None:
    """The pack an index names and its slots; None for a torn index (its objects are then
    simply not on the remote)."""
    try:
        doc = orjson.loads(blob)
        pack = f"{base}/{doc['pack']}"
        slots = [(str(d), int(o), int(n)) for d, o, n in doc["objects"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return pack, slots


def open_remote(url: str | None) -> Remote:
    """The remote at ``url`` (default: ``[data] remote`` / ``LOOPML_DATA_REMOTE``)."""
    if url is not None:
        _validate.text(url, "remote URL", empty=True)
    if not url:
        url = current().settings.data.remote
    if not url:
        raise InvalidInput(
            "no data remote given: expected --remote URL (a folder or e.g. "
            "'s3://bucket/prefix'), or set one in loopml.toml:\n\n[data]\nremote = "
            '"s3://bucket/prefix"\n\nor in the LOOPML_DATA_REMOTE environment variable.'
        )
    path = local_path(url)
    if path is not None:
        url = os.path.abspath(os.path.expanduser(path))
    return Remote(url)


# -- which objects -----------------------------------------------------------------------


def _targets(uris: Iterable[str] | None) -> list[tuple[str, str]]:
    """``(label, manifest hash)`` for the given versions, or for everything in the lock."""
    settings = current().settings
    lock = read_lock(settings.lock_path)
    if not uris:
        if not lock:
            raise NotFound(
                f"{settings.lock_path.name} pins no datasets, so there is nothing to transfer. "
                "Add one with 'loopml data add PATH --name NAME', or name versions (NAME@V)."
            )
        return [(str(DataURI(e.name, e.version)), e.manifest) for e in lock.values()]
    from loopml.data._datasets import get_dataset

    out = []
    for uri in uris:
        entry = pinned_entry(parse_data_uri(uri), lock)  # the one rule: bare is pinned
        if entry is not None:
            out.append((str(DataURI(entry.name, entry.version)), entry.manifest))
        else:
            version = get_dataset(uri)
            out.append((version.uri, version.manifest_digest))
    return out


def _object_sizes(manifests: dict[str, Manifest]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for digest, manifest in manifests.items():
        sizes[digest] = len(manifest.to_bytes())
        for e in manifest.entries:
            sizes[e.digest] = e.size
    return sizes


# -- push --------------------------------------------------------------------------------


def push(
    remote: str | None = None, uris: Iterable[str] | None = None, *, progress: bool | None = None
) -> TransferReport:
    """Send the objects of the locked dataset versions (or of ``uris``) that the remote lacks.

    Example::

        loopml.data.push("s3://bucket/loopml")          # everything in loopml.lock
        loopml.data.push(uris=["iris@3"])               # one version
    """
    rem = open_remote(remote)
    local = current().artifacts
    manifests = {}
    for label, digest in _targets(uris):
        try:
            manifests[digest] = load_manifest(digest, local)
        except NotFound:
            raise NotFound(
                f"the manifest of {label} ({digest}) is not in the local store {local.uri}, "
                "so it cannot be pushed. Pull it first, or push from the machine that added it."
            ) from None
    sizes = _object_sizes(manifests)
    inventory = rem.inventory()
    rem.remove_leftovers(inventory)
    # a remote copy of the wrong size (a truncated upload, a damaged pack) is sent again
    missing = sorted(d for d in sizes if not inventory.holds(d, sizes[d]))
    report = TransferReport(remote=redact(rem.url), wanted=len(sizes))
    total = sum(sizes[d] for d in missing)
    with byte_progress("pushing", total, len(missing), progress) as advance, _writing(rem):
        batch: list[tuple[str, bytes]] = []
        batch_bytes = 0
        for digest in missing:
            if sizes[digest] >= SMALL_OBJECT:
                _push_single(rem, local, digest)
                report.single += 1
            else:
                try:
                    data = local.get_bytes(digest)  # checked against its hash
                except CorruptObject as exc:
                    raise CorruptObject(f"{exc} It was not pushed.") from None
                batch.append((digest, data))
                batch_bytes += len(data)
                if batch_bytes >= PACK_BYTES:
                    rem.put_pack(batch)
                    report.packs += 1
                    batch, batch_bytes = [], 0
            report.transferred += 1
            report.bytes += sizes[digest]
            advance(sizes[digest])
        if batch:
            rem.put_pack(batch)
            report.packs += 1
    return report


def _push_single(rem: Remote, local: ArtifactStore, digest: str) -> None:
    """Upload one large object, hashed as it streams: a local copy that does not hash to
    ``digest`` is refused and nothing of it is left on the remote."""
    path = local.local_file(digest)
    try:
        if path is not None:
            rem.store.put_file(path, digest=digest)
            return
        with _staging() as staging:
            local.get_file(digest, staging / digest)  # checked against its hash
            rem.store.put_file(staging / digest, digest=digest)
    except CorruptObject:
        raise CorruptObject(
            f"object {digest} in the local store {redact(local.uri)} is corrupt (its bytes "
            "no longer hash to its name), so it was not pushed. Repair it with 'loopml fsck "
            "--remote URL --repair' from a remote that has it, or add the data again from its "
            "source."
        ) from None


@contextlib.contextmanager
def _writing(rem: Remote) -> Iterator[None]:
    """Turn a refused write on the remote into one clear error."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or scrub(str(exc), rem.url) or type(exc).__name__
        raise StoreError(
            f"cannot write to the remote {redact(rem.url)}: {reason}. Expected a folder or "
            "bucket this process may write: check the URL and its permissions (or free some "
            "space), then push again."
        ) from None


# -- pull --------------------------------------------------------------------------------


def pull(
    remote: str | None = None, uris: Iterable[str] | None = None, *, progress: bool | None = None
) -> TransferReport:
    """Fetch the objects of the locked dataset versions (or of ``uris``) missing locally.

    Every object is checked against its hash; if any is corrupt, nothing is
    stored and :class:`~loopml.errors.CorruptObject` names it.
    """
    rem = open_remote(remote)
    targets = _targets(uris)
    return fetch_objects([d for _, d in targets], rem, progress=progress, manifests=True)


def fetch_objects(
    digests: Iterable[str],
    rem: Remote,
    *,
    progress: bool | None = None,
    manifests: bool = False,
) -> TransferReport:
    """Bring ``digests`` (and, with ``manifests``, the files they list) from ``rem``.

    Everything is downloaded into a staging folder and checked first; only
    when every object is intact is anything put into the local store.
    """
    local = current().artifacts
    inventory = rem.inventory()
    report = TransferReport(remote=redact(rem.url))
    wanted = list(dict.fromkeys(digests))
    with _staging() as staging:
        staged: dict[str, Path] = {}
        if manifests:
            absent = [d for d in wanted if not local.exists(d)]
            staged.update(_download(rem, inventory, absent, staging, report, progress))
            files: dict[str, int] = {}
            for d in wanted:
                if d in staged:
                    manifest = Manifest.from_bytes(staged[d].read_bytes(), d)
                else:
                    manifest = load_manifest(d, local)
                files.update({e.digest: e.size for e in manifest.entries})
            report.wanted = len(wanted) + len(files)
            wanted = list(files)
        else:
            report.wanted = len(wanted)
        missing = sorted(set(wanted) - local.existing(wanted) - staged.keys())
        staged.update(_download(rem, inventory, missing, staging, report, progress))
        with local.batch():
            for path in staged.values():
                local.put_file(path)
                report.transferred += 1
    return report


def _download(
    rem: Remote,
    inventory: Inventory,
    missing: list[str],
    staging: Path,
    report: TransferReport,
    progress: bool | None,
) -> dict[str, Path]:
    """Fetch ``missing`` into ``staging``, each checked against its hash."""
    if not missing:
        return {}
    absent = [d for d in missing if d not in inventory]
    if absent:
        raise NotFound(
            f"{len(absent)} object(s) are neither in the local store nor on the remote "
            f"{rem.url} (e.g. {absent[0]}). Push them from the machine that added the data "
            "('loopml data push'), or check the remote URL."
        )
    packed = [(d, inventory.packed[d]) for d in missing if d not in inventory.single]
    single = [d for d in missing if d in inventory.single]
    total = sum(s.length for _, s in packed) + sum(inventory.single[d] for d in single)
    staged: dict[str, Path] = {}
    with byte_progress("pulling", total, len(missing), progress) as advance:
        for i in range(0, len(packed), 20000):
            chunk = packed[i : i + 20000]
            for digest, data in rem.read_slots(chunk).items():
                got = hash_bytes(data)
                if got != digest:
                    raise _corrupt(rem.url, digest, f"its {len(data)} bytes hash to {got}")
                path = staging / digest
                path.write_bytes(data)
                staged[digest] = path
                advance(len(data))
                report.bytes += len(data)
            report.packs += len({s.pack for _, s in chunk})
        for digest in single:
            path = staging / digest
            try:
                rem.store.get_file(digest, path)  # checks the hash
            except CorruptObject:
                raise _corrupt(rem.url, digest, "its bytes no longer hash to its name") from None
            size = path.stat().st_size
            staged[digest] = path
            advance(size)
            report.bytes += size
            report.single += 1
    return staged


def _corrupt(url: str, digest: str, detail: str) -> CorruptObject:
    return CorruptObject(
        f"object {digest} on the remote {redact(url)} is corrupt: {detail}. Nothing was "
        "stored locally. On a machine that has the data intact, repair the remote with "
        f"'loopml fsck --remote {redact(url)} --repair'."
    )


@contextlib.contextmanager
def _staging() -> Iterator[Path]:
    """A private folder for downloads under ``.loopml/cache/tmp/``, held under a file lock
    and removed afterwards. The folders of killed transfers (whose lock nobody holds) are
    removed first."""
    from filelock import FileLock

    base = current().settings.state_dir / "cache" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(base)
    path = base / f"pull-{uuid.uuid4().hex}"
    lock = FileLock(f"{path}.lock")
    lock.acquire()
    try:
        path.mkdir()
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        Path(f"{path}.lock").unlink(missing_ok=True)
        lock.release()


def _remove_stale_staging(base: Path) -> None:
    """Remove the download folders of killed transfers: those whose lock nobody holds."""
    from filelock import FileLock, Timeout

    for entry in os.scandir(base):
        if not entry.name.startswith("pull-"):
            continue
        folder = entry.path.removesuffix(".lock")
        lock = FileLock(f"{folder}.lock")
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):
            continue  # in use by a transfer in progress
        try:
            shutil.rmtree(folder, ignore_errors=True)
            Path(f"{folder}.lock").unlink(missing_ok=True)
        finally:
            lock.release()


# -- gc ----------------------------------------------------------------------------------


def gc_remote(
    remote: str | None = None,
    *,
    dry_run: bool = True,
    grace_seconds: float = 3600.0,
    progress: bool | None = None,
) -> RemoteGcReport:
    """Remove from a data remote the objects no dataset version references; with
    ``dry_run`` (the default) only report them.

    Kept: every object of each dataset version this project's metadata database holds
    (removed datasets' too, until ``loopml gc --force`` purges them) and of each version
    ``loopml.lock`` pins, and every object or pack younger than ``grace_seconds`` (a
    push in progress). A pack that holds live and dead objects is written anew with
    the live ones (each checked against its hash) before the old one is removed, so
    a reader always finds every live object. Judge a remote only from a project whose
    database knows every version pushed to it (a shared PostgreSQL database, say): a
    version recorded elsewhere is unknown here.

    A manifest of a known version that neither the local store nor the remote holds
    stops it with :class:`~loopml.errors.NotFound` before anything is removed (its files
    are not known). Example::

        report = loopml.data.gc_remote("s3://bucket/loopml", dry_run=False)
        report.removed_bytes
    """
    grace_seconds = _validate.seconds(grace_seconds, "grace_seconds")
    ctx = current()
    ctx.check_project()
    rem = open_remote(remote)
    report = RemoteGcReport(remote=redact(rem.url), dry_run=dry_run)
    inventory = rem.inventory()  # listed before the references are read, as local gc does
    live = _remote_live(rem, inventory)
    cutoff = time.time() - float(grace_seconds)

    doomed_single: list[tuple[str, int]] = []
    for digest, size in sorted(inventory.single.items()):
        if digest in live:
            report.kept += 1
            report.kept_bytes += size
        elif inventory.single_mtime.get(digest, time.time()) > cutoff:
            report.young += 1
        else:
            doomed_single.append((digest, size))
    doomed_packs: list[tuple[PackFile, list[tuple[str, int, int]]]] = []
    for pack in inventory.packs:
        keep = [slot for slot in pack.slots if slot[0] in live]
        dead = [slot for slot in pack.slots if slot[0] not in live]
        report.kept += len(keep)
        report.kept_bytes += sum(n for _, _, n in keep)
        if not dead:
            continue
        if pack.mtime > cutoff or pack.size is None:
            report.young += len(dead)
            continue
        doomed_packs.append((pack, keep))
        report.removed.extend((d, n) for d, _, n in dead)
        report.repacked += bool(keep)
    report.removed.extend(doomed_single)
    if dry_run:
        return report

    still = _remote_live(rem, rem.inventory())  # versions recorded while this ran
    total = sum(n for _, n in report.removed)
    removed: list[tuple[str, int]] = []
    with (
        byte_progress("collecting", total, len(report.removed), progress) as advance,
        _writing(rem),
    ):
        for digest, size in doomed_single:
            if digest in still:
                report.kept += 1
                report.kept_bytes += size
            elif rem.store.delete_if_stale(digest, cutoff):
                removed.append((digest, size))
            else:
                report.young += 1
            advance(size)
        for pack, _ in doomed_packs:
            survivors = [slot for slot in pack.slots if slot[0] in still]
            if survivors:  # written anew before the old pack goes: always readable
                blobs = rem.read_slots([(d, PackSlot(pack.pack, o, n)) for d, o, n in survivors])
                for d, _, _ in survivors:
                    got = hash_bytes(blobs[d])
                    if got != d:
                        raise _corrupt(rem.url, d, f"its bytes hash to {got}; its pack was kept")
                rem.put_pack([(d, blobs[d]) for d, _, _ in survivors])
            rem.remove_pack(pack)
            for d, _, n in pack.slots:
                if d not in still:
                    removed.append((d, n))
                    advance(n)
                elif d not in live:  # referenced meanwhile
                    report.kept += 1
                    report.kept_bytes += n
        report.leftovers = rem.remove_leftovers(inventory, older_than=float(grace_seconds))
    report.removed = removed
    return report


def _remote_live(rem: Remote, inventory: Inventory) -> set[str]:
    """Every object a dataset version of this project references: the manifests of the
    versions in the metadata database and in ``loopml.lock``, and the files they list
    (a manifest is read locally, else from the remote)."""
    from loopml.data import _repository

    ctx = current()
    local = ctx.artifacts
    manifests = set(_repository.manifest_digests(ctx.metadata))
    manifests.update(e.manifest for e in read_lock(ctx.settings.lock_path).values())
    live = set(manifests)
    here = local.existing(manifests)
    missing = sorted(manifests - here)
    fetched: dict[str, bytes] = {}
    packed = [(d, inventory.packed[d]) for d in missing if d in inventory.packed]
    fetched.update(rem.read_slots(packed))
    for digest in missing:
        if digest in fetched:
            continue
        if digest in inventory.single:
            with _staging() as staging:
                rem.store.get_file(digest, staging / digest)
                fetched[digest] = (staging / digest).read_bytes()
            continue
        raise NotFound(
            f"the manifest {digest} of a dataset version is neither in the local store nor "
            f"on the remote {redact(rem.url)}, so which objects that version references is "
            "not known; nothing was removed. Pull the version's data (or remove the dataset "
            "with 'loopml data remove' and purge it with 'loopml gc --force'), then retry."
        )
    for digest in sorted(here):
        live.update(e.digest for e in load_manifest(digest, local).entries)
    for digest, blob in fetched.items():
        live.update(e.digest for e in Manifest.from_bytes(blob, digest).entries)
    return live
