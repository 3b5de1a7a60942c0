"""The ASGI app: every deployment of a project over HTTP, in two protocols.

:func:`create_app` builds a FastAPI app bound to one context (project). At
startup it reads every deployment, loads each one's version (hash-checked and
tried on its input example) and only then accepts requests; afterwards it asks
the metadata store for deployment changes every ``reload_seconds`` and swaps in
a new version once it has loaded, so a ``loopml deploy`` reaches every worker
without a restart. At shutdown (SIGTERM) it writes every queued prediction.

A deployment with a rollout in progress is held as its primary (``hosted``) and a
:class:`~loopml.serving._rollouts.Route` (the rollout and its loaded candidate);
each request is routed by the rollout's weight (see ``_rollouts``), a shadow's copy
is answered by a task of its own after the primary answered, and a task calls the
rollout controller (``deployments.control``) about once a second.

Request bodies are parsed with orjson and checked against the signature with
NumPy and pandas (no per-row objects); a prediction runs once per request, or
once per micro-batch when the deployment's ``max_batch_size`` is above 1, on the
deployment's own thread. A model's answer is checked before it is sent: one
value per row, finite numbers, values JSON can hold; anything else is a 500
``model_error``, never a 200 with nulls or shifted rows.

With ``protect_predictions``, every endpoint about a deployment (predict,
infer, metadata, ready, the list) needs the token, and the 401 comes before
the deployment is looked up; the health endpoints, ``GET /v2`` and
``/metrics`` stay open.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from loopml.config import ServeSettings
from loopml.context import Context, current, using
from loopml.deployments import Deployment, Rollout, RolloutStatus, Strategy
from loopml.errors import CorruptRecord, InvalidInput, LoopmlError, NotFound
from loopml.predictions import PredictionStatus
from loopml.serving._hosted import CANDIDATE, PRIMARY, SHADOW, VARIANT, Hosted, load
from loopml.serving._metrics import Metrics
from loopml.serving._protocol import (
    BadOutput,
    BadRequest,
    Rows,
    located,
    oip_datatype,
    parse_body,
    rows_from_json,
    rows_from_oip,
    to_jsonable,
)
from loopml.serving._rollouts import (
    MIRRORS_PENDING,
    Route,
    flipped,
    smoke_test,
    sticky_key,
    to_candidate,
)
from loopml.serving._server import serve_options
from loopml.uri import ModelURI

__all__ = ["create_app"]

log = logging.getLogger("loopml.serving")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}\Z")
_JSON = "application/json"
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+
_PATH_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_PATH_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
_BODY_SECONDS = 30.0  # a request body that takes longer to arrive is refused (408)
_INLINE_BYTES = 64 * 1024  # larger bodies are parsed and checked off the event loop
_INLINE_ROWS = 2_000  # larger answers are serialized and logged off the event loop
_RETRY_FIRST = 1.0  # seconds before a version that failed to load is tried again...
_RETRY_MAX = 60.0  # ...doubling up to this
_CONTROL_SECONDS = 1.0  # between two ticks of the rollout controller
_MODEL_ERROR = PredictionStatus.MODEL_ERROR
_REFUSED = PredictionStatus.REFUSED


@dataclass
class _Loaded:
    """What :meth:`_State._load` found for one deployment."""

    primary: Hosted
    route: Route | None
    standby: Hosted | None
    rollout: Rollout | None
    rollout_error: str | None = None


def _put(where: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        where.pop(name, None)
    else:
        where[name] = value


def _as_version(record: Deployment, model_name: str, version: int) -> Deployment:
    """Deployment ``record`` as if it served ``version`` of ``model_name`` (a rollout's
    candidate, or a blue-green primary kept loaded)."""
    uri = str(ModelURI(model_name, version))
    return replace(record, model_name=model_name, version=version, model_uri=uri)


def _serves_as(d: Any) -> tuple[str, int, Any]:
    """What a loaded deployment answers with: the model, its version, its settings (a
    deploy that changes any of them loads anew; one version number of two models differs)."""
    return d.model_name, d.version, d.config


class _State:
    """What one app holds: the deployments served (``hosted``: the version each serves;
    ``routes``: the rollouts in progress, with their candidates; ``standby``: a blue-green
    primary kept loaded after its flip), the generation seen, the metrics."""

    def __init__(self, ctx: Context, settings: ServeSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.hosted: dict[str, Hosted] = {}
        self.routes: dict[str, Route] = {}
        self.standby: dict[str, Hosted] = {}
        self.rollouts: dict[str, Rollout] = {}  # each deployment's latest rollout, if any
        self.unreadable: dict[str, str] = {}  # the rollouts that could not be read, why
        self.failed: dict[str, str] = {}
        self.generation = 0
        self.ready = False
        self.started = time.time()
        self.metrics = Metrics(self._sources)
        self.owner = ""  # the controller's name in the store's leases (set by ``control``)
        self.ticking: asyncio.Future[Any] | None = None
        self._retired: list[Hosted] = []
        self._retry: dict[str, tuple[float, float]] = {}  # name -> (when, delay)
        self._smoked: set[int] = set()  # blue-green rollouts this worker reported on

    def _sources(self) -> list[tuple[str, str, int, Any]]:
        serving = [*self.hosted.values()]
        serving += [r.candidate for r in self.routes.values() if r.candidate is not None]
        return [(h.name, h.model_name, h.version, h.logger) for h in serving]

    def _held(self, name: str) -> list[Hosted]:
        """Every version of deployment ``name`` this worker holds loaded."""
        route = self.routes.get(name)
        found = [self.hosted.get(name), route.candidate if route else None, self.standby.get(name)]
        return [h for h in found if h is not None]

    # -- loading ---------------------------------------------------------------------------

    def _load(self, name: str) -> _Loaded | None:
        """Load deployment ``name`` as stored now (None when it was deleted): the version
        it serves and, during a rollout, the candidate (a version already loaded is kept,
        whatever its role was); runs in a thread."""
        from loopml import deployments

        with using(self.ctx):
            try:
                record = deployments.get_deployment(name)
            except NotFound:
                return None
            rollout = None
            unreadable = None
            if record.rollout_id is not None:
                try:
                    rollout = deployments.get_rollout(record.rollout_id)
                except CorruptRecord as exc:  # the version the deployment names serves alone
                    unreadable = str(exc)
            held = self._held(name)

            def loaded(d: Deployment, variant: str) -> Hosted:
                for h in held:
                    if _serves_as(h.deployment) == _serves_as(d):
                        h.deployment = d
                        return h
                return load(d, self.metrics, variant)

            active = rollout is not None and rollout.active
            primary = loaded(record, PRIMARY if active else VARIANT)
            route = standby = None
            if rollout is not None and active:
                route = Route(rollout)
                try:
                    route.candidate = loaded(
                        _as_version(record, rollout.candidate_model, rollout.candidate_version),
                        SHADOW if rollout.mirror else CANDIDATE,
                    )
                except Exception as exc:
                    route.error = f"{type(exc).__name__}: {exc}"
                    log.error(
                        "the candidate %s of deployment %r could not be loaded, so it takes no "
                        "traffic here (the primary %s answers every request): %s",
                        rollout.candidate,
                        name,
                        record.version_uri,
                        route.error,
                    )
                if rollout.strategy is Strategy.BLUE_GREEN:
                    try:
                        self._smoke(name, route)
                    except Exception as exc:  # the store is away: tried again later
                        route.retry = True
                        log.error(
                            "the smoke test of %s on deployment %r could not be reported "
                            "(trying again): %s",
                            rollout.candidate,
                            name,
                            exc,
                        )
            elif rollout is not None and flipped(rollout):
                at = _as_version(record, rollout.primary_model, rollout.primary_version)
                serves = (record.model_name, record.version)
                if serves == (rollout.candidate_model, rollout.candidate_version):
                    try:  # kept loaded: a rollback flips back to it at once
                        standby = loaded(at, VARIANT)
                    except Exception as exc:
                        log.warning(
                            "the blue-green primary %s of deployment %r could not be kept "
                            "loaded (a rollback will load it): %s",
                            rollout.primary,
                            name,
                            exc,
                        )
            return _Loaded(primary, route, standby, rollout, unreadable)

    def _smoke(self, name: str, route: Route) -> None:
        """Smoke-test a PENDING blue-green candidate and report it, once per worker (every
        worker may report: the first report decides)."""
        from loopml import deployments

        rollout = route.rollout
        if rollout.status is not RolloutStatus.PENDING or rollout.id in self._smoked:
            return
        if route.candidate is None:
            kind = (route.error or "an error").split(":", 1)[0]
            # the kind alone is recorded (status and history show it to anyone who reads
            # the store); the text, which may name paths or hosts, is in the server's log
            passed, detail = (
                False,
                (
                    f"{rollout.candidate} could not be loaded ({kind}; the server's log has the "
                    "details)"
                ),
            )
        else:
            passed, detail = smoke_test(route.candidate, rollout)
        log.info(
            "blue-green candidate %s of deployment %r: smoke test %s (%s)",
            rollout.candidate,
            name,
            "passed" if passed else "FAILED",
            detail,
        )
        deployments.record_smoke_test(name, rollout.id, passed=passed, detail=detail)
        self._smoked.add(rollout.id)

    async def start(self) -> None:
        from loopml import deployments

        def read() -> tuple[int, list[str]]:
            with using(self.ctx):
                generation = deployments.current_generation()
                return generation, [d.name for d in deployments.list_deployments()]

        self.generation, names = await asyncio.to_thread(read)
        for name in names:
            await self.refresh(name)
        self.ready = True

    def _later(self, name: str) -> float:
        """Try deployment ``name`` again later (the delay doubles, up to a minute)."""
        _, delay = self._retry.get(name, (0.0, _RETRY_FIRST / 2))
        delay = min(delay * 2, _RETRY_MAX)
        self._retry[name] = (time.monotonic() + delay, delay)
        return delay

    async def refresh(self, name: str) -> None:
        """Bring deployment ``name`` up to its stored state: load a new version before it
        takes traffic, drop a deleted one; a version that fails to load leaves the old one
        serving and is reported. During a rollout the candidate is loaded beside the
        primary; a candidate that fails to load is reported and takes no traffic."""
        try:
            loaded = await asyncio.to_thread(self._load, name)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            self.failed[name] = message
            # tried again later: a store that was away a moment must not leave the old
            # version serving until the next deploy
            delay = self._later(name)
            log.error(
                "deployment %r could not be loaded, so it was not changed (trying again in "
                "%.0f s): %s",
                name,
                delay,
                message,
            )
            return
        self.failed.pop(name, None)
        route = loaded.route if loaded is not None else None
        if route is None or (route.error is None and not route.retry):
            self._retry.pop(name, None)
        else:  # the candidate, or its smoke test, is tried again (later each time)
            self._later(name)
        before = self._held(name)
        old = self.hosted.get(name)
        keep: list[Hosted] = []
        if loaded is None:
            self.hosted.pop(name, None)
            self.routes.pop(name, None)
            self.standby.pop(name, None)
            self.rollouts.pop(name, None)
            self.unreadable.pop(name, None)
        else:
            hosted, route = loaded.primary, loaded.route
            held = self.routes.get(name)
            if route is not None and held is not None and held.rollout.id == route.rollout.id:
                # the same rollout moved on: its mirrored copies in flight stay counted
                held.rollout, held.candidate = route.rollout, route.candidate
                held.error, held.retry = route.error, route.retry
                route = held
            hosted.serve_as(PRIMARY if route is not None else VARIANT)
            if route is not None and route.candidate is not None:
                route.candidate.serve_as(SHADOW if route.rollout.mirror else CANDIDATE)
            self.hosted[name] = hosted
            _put(self.routes, name, route)
            _put(self.standby, name, loaded.standby)
            _put(self.rollouts, name, loaded.rollout)
            if loaded.rollout_error not in (None, self.unreadable.get(name)):
                log.error(
                    "the rollout of deployment %r could not be read, so %s answers every "
                    "request: %s",
                    name,
                    hosted.version_uri,
                    loaded.rollout_error,
                )
            _put(self.unreadable, name, loaded.rollout_error)
            keep = [h for h in (hosted, route and route.candidate, loaded.standby) if h]
            if hosted is not old:
                log.info("deployment %r serves %s", name, hosted.version_uri)
            if route is not None and route.candidate is not None:
                r = route.rollout
                log.info(
                    "deployment %r: %s rollout %s of %s is %s, weights %s%s",
                    name,
                    r.strategy,
                    r.uri,
                    r.candidate,
                    r.status,
                    r.weights,
                    " (every request mirrored)" if r.mirror else "",
                )
        for h in before:
            if h not in keep:
                self._retire(h)

    async def control(self) -> None:
        """Every second or so, one tick of the controller of each rollout in progress
        (``deployments.control``: the store's lease makes one analysis per rollout across
        workers and hosts), until cancelled. What it changes arrives by ``follow``."""
        from loopml import deployments

        # named in the worker process itself: unique to it among workers and hosts
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        said: dict[str, str] = {}

        def tick(names: list[str]) -> None:
            with using(self.ctx):
                for name in names:
                    try:
                        deployments.control(name, owner=self.owner)
                        said.pop(name, None)
                    except Exception as exc:  # say it once; the next tick tries again
                        text = f"{type(exc).__name__}: {exc}"
                        if said.get(name) != text:
                            log.warning("the rollout controller of %r failed: %s", name, text)
                        said[name] = text

        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_CONTROL_SECONDS)
            names = [
                name
                for name, route in self.routes.items()
                if route.rollout.active and route.rollout.strategy is not Strategy.BLUE_GREEN
            ]
            if not names:
                continue
            self.ticking = loop.run_in_executor(None, tick, names)
            try:
                await asyncio.shield(self.ticking)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never ends the task
                log.warning("the rollout controller failed: %s", exc)

    def _retire(self, old: Hosted) -> None:
        """Close ``old`` once the requests it is answering are done, however long they take
        (a slow model, a full micro-batch): closing it earlier would drop their log records
        and strand the requests still queued in its batcher."""
        self._retired.append(old)
        loop = asyncio.get_running_loop()

        def close() -> None:
            if old in self._retired:
                self._retired.remove(old)
                loop.run_in_executor(None, old.close)

        old.retire(close)

    async def follow(self) -> None:
        """Poll the metadata store for deployment changes until cancelled."""
        from loopml import deployments

        def changes() -> list[Any]:
            with using(self.ctx):
                return deployments.changes_since(self.generation)

        last_error = ""
        while True:
            await asyncio.sleep(self.settings.reload_seconds)
            try:
                found = await asyncio.to_thread(changes)
            except Exception as exc:  # the store is away: keep serving, say it once
                text = f"{type(exc).__name__}: {exc}"
                if text != last_error:
                    log.warning("could not read deployment changes (%s); still serving", text)
                last_error = text
                continue
            last_error = ""
            changed = dict.fromkeys(c.name for c in found)
            for name in changed:
                await self.refresh(name)
            if found:
                self.generation = found[-1].generation
            now = time.monotonic()
            for name, (when, _) in list(self._retry.items()):
                if name not in changed and when <= now:
                    await self.refresh(name)

    def close(self) -> None:
        serving = [*self.hosted.values(), *self.standby.values()]
        serving += [r.candidate for r in self.routes.values() if r.candidate is not None]
        for hosted in [*serving, *self._retired]:
            try:
                hosted.close()
            except Exception as exc:  # one logger that fails must not keep others from flushing
                log.warning("closing deployment %r: %s", hosted.name, exc)
        self._retired.clear()


class _Deadlines:
    """Deadlines on reading request bodies, kept by one watcher task for every request
    rather than a timer each (a timer costs a request more than reading a small body
    does): a read past its deadline is cancelled and ends in TimeoutError. The watcher
    needs Python 3.11 (a task cancelled for its deadline is uncancelled to go on and
    answer 408); without it running, each read gets a timeout of its own."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = False
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    async def watch(self) -> None:
        """Cancel the reads past their deadline, checking a few times per deadline."""
        if not hasattr(asyncio.Task, "uncancel"):
            return
        loop = asyncio.get_running_loop()
        self.running = True
        try:
            while True:
                await asyncio.sleep(min(1.0, self.seconds / 4))
                now = loop.time()
                for task, deadline in list(self._reading.items()):
                    if now >= deadline and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            self.running = False

    async def within(self, read: Callable[[], Awaitable[bytes]]) -> bytes:
        """``await read()`` within the deadline (TimeoutError when it passes)."""
        task = asyncio.current_task() if self.running else None
        if task is None:
            if _timeout is not None:
                async with _timeout(self.seconds):
                    return await read()
            return await asyncio.wait_for(read(), self.seconds)
        self._reading[task] = asyncio.get_running_loop().time() + self.seconds
        try:
            return await read()
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # cancelled for another reason (the client left, shutdown)
            task.uncancel()  # type: ignore[attr-defined]
            raise asyncio.TimeoutError from None
        finally:
            del self._reading[task]
            self._expired.discard(task)


# -- responses -----------------------------------------------------------------------------


class _Ids:
    """New request ids: 128 random bits as 32 hex digits, from the operating system's
    random source (unguessable, as a key of feedback must be), read 256 ids at a time
    rather than one call per request."""

    _BATCH = 256

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0
        # a forked worker must not hand out the ids its parent holds
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._at = b"", 0

    def new(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(16 * self._BATCH), 0
        self._at = at + 16
        return self._pool[at : at + 16].hex()


_new_id = _Ids().new


def _request_id(request: Any) -> str:
    given = request.headers.get("x-request-id")
    if given and _REQUEST_ID.match(given):
        return str(given)
    return _new_id()


def _default(value: Any) -> Any:
    """What orjson cannot write itself: a datetime subclass (pandas' Timestamp) as ISO text."""
    import datetime

    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    return _raw(_dumps(body), status, headers)


def _raw(content: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    return Response(content, status_code=status, media_type=_JSON, headers=headers)


def _headers(request_id: str, hosted: Hosted | None) -> dict[str, str]:
    out = {"x-request-id": request_id}
    if hosted is not None:
        out["x-loopml-deployment"] = hosted.name
        out["x-loopml-model-version"] = str(hosted.version)
        out["x-loopml-variant"] = hosted.variant
    return out


def _error(
    status: int,
    kind: str,
    message: str,
    request_id: str,
    hosted: Hosted | None = None,
    loc: list[Any] | None = None,
    oip: bool = False,
    extra: dict[str, str] | None = None,
) -> Any:
    headers = _headers(request_id, hosted)
    if extra:
        headers.update(extra)
    if oip:  # the protocol's own error body
        return _json({"error": message}, status, headers)
    error: dict[str, Any] = {"type": kind, "message": message}
    if loc:
        error["loc"] = loc
    return _json({"error": error, "request_id": request_id}, status, headers)


# -- the app -------------------------------------------------------------------------------


_PREDICT_BODY = {
    "required": True,
    "content": {
        _JSON: {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["records"],
                        "properties": {
                            "records": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "object"},
                            },
                            "probabilities": {"type": "boolean"},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["columns", "data"],
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "minItems": 1, "items": {"type": "array"}},
                            "probabilities": {"type": "boolean"},
                        },
                    },
                ]
            },
            "example": {"records": [{"age": 41, "plan": "pro"}]},
        }
    },
}
_FEEDBACK_BODY = {
    "required": True,
    "content": {
        _JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "request_id": {"type": "string"},
                    "row": {"type": "integer", "minimum": 0},
                    "ground_truth": {},
                    "feedback": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["request_id", "ground_truth"],
                            "properties": {
                                "request_id": {"type": "string"},
                                "row": {"type": "integer", "minimum": 0},
                                "ground_truth": {},
                            },
                        },
                    },
                },
            },
            "example": {"request_id": "9f1c...", "ground_truth": 1},
        }
    },
}
_INFER_BODY = {
    "required": True,
    "content": {
        _JSON: {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype", "data"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string"},
                                "data": {"type": "array"},
                                "parameters": {"type": "object"},
                            },
                        },
                    },
                    "outputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
}


def create_app(
    context: Context | None = None,
    *,
    token: str | None = None,
    protect_predictions: bool | None = None,
    max_request_bytes: int | None = None,
    reload_seconds: float | None = None,
) -> Any:
    """The ASGI app serving every deployment of ``context``'s project (default: the
    current one). Arguments left None come from ``[serve]`` of loopml.toml (the token
    from ``LOOPML_SERVE_TOKEN`` first).

    Example::

        import uvicorn, loopml.serving
        uvicorn.run(loopml.serving.create_app(), port=8080)
    """

    from loopml import __version__

    ctx = context if context is not None else current()
    settings = serve_options(
        token=token,
        protect_predictions=protect_predictions,
        max_request_bytes=max_request_bytes,
        reload_seconds=reload_seconds,
        context=ctx,
    )
    state = _State(ctx, settings)
    deadlines = _Deadlines(_BODY_SECONDS)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await state.start()
        watcher = asyncio.create_task(deadlines.watch())
        task = asyncio.create_task(state.follow())
        controller = asyncio.create_task(state.control())
        try:
            yield
        finally:
            task.cancel()
            watcher.cancel()
            controller.cancel()
            if state.ticking is not None and not state.ticking.done():
                # a controller tick in progress ends before the store is left
                await asyncio.wait([state.ticking], timeout=30)
            await asyncio.to_thread(state.close)

    app = FastAPI(
        title="loopml",
        version=__version__,
        summary="The deployments of a loopml project: JSON and Open Inference Protocol v2.",
        lifespan=lifespan,
    )
    app.state.loopml = state
    limit = settings.max_request_bytes

    # -- helpers bound to this app ---------------------------------------------------------

    def authorized(request: Request) -> bool:
        expected = settings.token
        if expected is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.strip().partition(" ")
        # the header's bytes as sent (ASGI hands them over as latin-1) against the token's
        # UTF-8 bytes, in constant time: a token outside ASCII matches too
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("latin-1"), expected.encode("utf-8")
        )

    def unauthorized(rid: str, name: str | None = None, oip: bool = False) -> Any:
        # the deployment's headers only when anyone may predict it anyway: a protected
        # server tells a caller without the token nothing of what it serves
        hosted = None if settings.protect_predictions or name is None else state.hosted.get(name)
        return _error(
            401,
            "unauthorized",
            "this endpoint needs the server's token: send 'Authorization: Bearer <token>' "
            "(LOOPML_SERVE_TOKEN of the server).",
            rid,
            hosted,
            oip=oip,
            extra={"www-authenticate": "Bearer"},
        )

    def guarded(request: Request, rid: str, name: str | None, oip: bool) -> Any:
        """The 401 answer when predictions need the token and the request has none, else
        None. Checked before the deployment is looked up, so its name, version and failure
        are not told to a caller without the token."""
        if not settings.protect_predictions or authorized(request):
            return None
        hosted = state.hosted.get(name) if name is not None else None
        if hosted is not None:  # counted only for a deployment served: no label from a caller
            hosted.count(401)
        return unauthorized(rid, oip=oip)

    def hosted_or_404(name: str, rid: str, oip: bool, version: str | None = None) -> Any:
        hosted = state.hosted.get(name)
        if hosted is None:
            if name in state.failed:
                return _error(
                    503,
                    "unavailable",
                    f"deployment {name!r} could not be loaded: {state.failed[name]}",
                    rid,
                    oip=oip,
                )
            known = ", ".join(sorted(state.hosted)) or "none"
            return _error(
                404,
                "not_found",
                f"no deployment {name!r}; deployments: {known}.",
                rid,
                oip=oip,
            )
        if version is not None and version != str(hosted.version):
            return _error(
                404,
                "not_found",
                f"deployment {name!r} serves version {hosted.version} of "
                f"{hosted.model_name}, not {version!r}.",
                rid,
                hosted,
                oip=oip,
            )
        return hosted

    async def body_of(request: Request) -> bytes:
        """The request's body: JSON by its Content-Type, at most ``limit`` bytes, arrived
        within ``_BODY_SECONDS`` (a client that announces more than it sends, or sends a
        byte a minute, is answered 408 rather than holding the request open)."""
        ctype = request.headers.get("content-type")
        if ctype is not None:
            media = ctype.split(";", 1)[0].strip().lower()
            if media != _JSON and not (
                media.startswith("application/") and media.endswith("+json")
            ):
                raise BadRequest(
                    415,
                    f"Content-Type {ctype!r} is not JSON: send 'Content-Type: application/json'.",
                    ["header", "content-type"],
                )
        length = request.headers.get("content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()):
                raise BadRequest(400, f"Content-Length {length!r} is not a number.", ["header"])
            if int(length) > limit:
                raise BadRequest(
                    413,
                    f"the body is {int(length)} bytes; this server takes at most {limit} "
                    "([serve] max_request_bytes). Send fewer rows per request.",
                    ["body"],
                )

        async def read() -> bytes:
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BadRequest(
                        413,
                        f"the body is over {limit} bytes ([serve] max_request_bytes). Send "
                        "fewer rows per request.",
                        ["body"],
                    )
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            return await deadlines.within(read)
        except asyncio.TimeoutError:
            raise BadRequest(
                408,
                f"the body did not arrive within {deadlines.seconds:g} seconds: send it "
                "whole, with a Content-Length that matches it.",
                ["body"],
            ) from None

    def prepare(
        hosted: Hosted, body: bytes, oip: bool, payload: Any = None
    ) -> tuple[Rows, Any, bool, str | None, Any]:
        """The request's rows, its checked frame, whether it asks for probabilities, the
        OIP ``id`` it gives and the parsed body (``payload``, when it was parsed already);
        BadRequest for anything the model must not see."""
        if payload is None:
            payload = parse_body(body)
        given_id = None
        if oip:
            rows = rows_from_oip(payload, hosted.names)
            asked = payload.get("outputs")
            want_proba = isinstance(asked, list) and any(
                isinstance(o, dict) and o.get("name") == "predict_proba" for o in asked
            )
            if isinstance(payload.get("id"), str) and _REQUEST_ID.match(payload["id"]):
                given_id = payload["id"]
        else:
            rows = rows_from_json(payload, hosted.names)
            want_proba = payload.get("probabilities") is True
        if want_proba and not hosted.has_proba:
            raise BadRequest(
                422,
                f"{hosted.version_uri} gives no probabilities (it is not a classifier with "
                "predict_proba): ask for predictions only.",
                ["probabilities"],
            )
        return rows, checked(hosted, rows), want_proba, given_id, payload

    def checked(hosted: Hosted, rows: Rows) -> Any:
        try:
            return hosted.frame(rows)
        except InvalidInput as exc:
            message = str(exc)
            raise BadRequest(422, message, located(message)) from None

    def respond(
        hosted: Hosted, outcome: Any, rows: Rows, want_proba: bool, rid: str, oip: bool
    ) -> tuple[bytes, list[Any], list[Any] | None]:
        """The response body of a prediction, serialized, with the predictions and
        probabilities to log (BadOutput when the model's answer cannot be sent)."""
        predictions = to_jsonable(outcome.predictions, rows.n)
        probabilities = (
            None
            if outcome.probabilities is None
            else to_jsonable(outcome.probabilities, rows.n, "probabilities")
        )
        if oip:
            outputs = [
                {
                    "name": "predict",
                    "datatype": oip_datatype(outcome.predictions),
                    "shape": _shape_of(predictions),
                    "data": _flatten(predictions),
                }
            ]
            if want_proba and probabilities is not None:
                outputs.append(
                    {
                        "name": "predict_proba",
                        "datatype": "FP64",
                        "shape": _shape_of(probabilities),
                        "data": _flatten(probabilities),
                    }
                )
            doc: dict[str, Any] = {
                "model_name": hosted.name,
                "model_version": str(hosted.version),
                "id": rid,
                "parameters": {"deployment": hosted.name, "variant": hosted.variant},
                "outputs": outputs,
            }
        else:
            doc = {
                "predictions": predictions,
                "deployment": hosted.name,
                "model": hosted.version_uri,
                "model_version": hosted.version,
                "variant": hosted.variant,
                "request_id": rid,
            }
            if want_proba:
                doc["probabilities"] = probabilities
                doc["classes"] = hosted.classes()
            if rows.ignored:
                doc["warnings"] = [
                    f"columns the model does not take were ignored: {', '.join(rows.ignored[:20])}"
                ]
        try:
            return _dumps(doc), predictions, probabilities
        except TypeError as exc:  # orjson's JSONEncodeError: a value JSON has no form for
            raise BadOutput(f"the model's answer cannot be written as JSON ({exc}).") from None

    async def answer(request: Request, name: str, oip: bool, version: str | None = None) -> Any:
        start = time.perf_counter()
        rid = _request_id(request)
        refused = guarded(request, rid, name, oip)
        if refused is not None:
            return refused
        route = state.routes.get(name)
        candidate = route.candidate if route is not None else None
        if candidate is not None and version == str(candidate.version):
            # asked for the candidate's version by name: it answers, whatever the weights
            return await answer_with(candidate, request, start, rid, name, oip)
        found = hosted_or_404(name, rid, oip, version)
        if not isinstance(found, Hosted):
            return found
        if route is None or route.candidate is None or version is not None:
            return await answer_with(found, request, start, rid, name, oip)
        return await routed(route, found, request, start, rid, name, oip)

    async def answer_with(
        hosted: Hosted, request: Request, start: float, rid: str, name: str, oip: bool
    ) -> Any:
        hosted.enter()  # before the first await: a retired version waits for this request
        try:
            return await answer_on(hosted, request, start, rid, name, oip)
        finally:
            hosted.leave()

    async def routed(
        route: Route,
        primary: Hosted,
        request: Request,
        start: float,
        rid: str,
        name: str,
        oip: bool,
    ) -> Any:
        """Answer a request of a deployment in the middle of a rollout: on the variant the
        rollout's weight (or the request's sticky key) sends it to; a shadow's primary
        answers and a copy goes to the candidate."""
        rollout = route.rollout
        candidate = route.candidate
        assert candidate is not None
        mirror = route if route.mirror else None
        sticky = rollout.sticky if rollout.strategy is Strategy.AB else None
        if sticky is None or not sticky.startswith("field:") or rollout.weight in (0, 100):
            key = None if sticky is None else sticky_key(sticky, request.headers, None, oip)
            chosen = candidate if to_candidate(rollout, key) else primary
            chosen.enter()
            try:
                return await answer_on(
                    chosen,
                    request,
                    start,
                    rid,
                    name,
                    oip,
                    mirror=mirror,
                    fallback=primary if chosen is candidate else None,
                )
            finally:
                chosen.leave()
        # keyed by a field of the body: read it before the variant is chosen
        primary.enter()
        try:
            try:
                body = await body_of(request)
                if len(body) <= _INLINE_BYTES:
                    payload = parse_body(body)
                else:
                    payload = await asyncio.to_thread(parse_body, body)
            except BadRequest as exc:
                return refuse(primary, exc, rid, oip)
            key = sticky_key(sticky, request.headers, payload, oip)
            chosen = candidate if to_candidate(rollout, key) else primary
            chosen.enter()
        finally:
            primary.leave()
        try:
            return await answer_on(
                chosen,
                request,
                start,
                rid,
                name,
                oip,
                body,
                payload,
                fallback=primary if chosen is candidate else None,
            )
        finally:
            chosen.leave()

    def refuse(hosted: Hosted, exc: BadRequest, rid: str, oip: bool) -> Any:
        status = 400 if oip and exc.status == 422 else exc.status
        hosted.m_invalid.inc()
        hosted.count(status)  # the code answered, as the client and the access log see it
        return _error(status, "invalid_input", exc.message, rid, hosted, exc.loc, oip)

    async def answer_on(
        hosted: Hosted,
        request: Request,
        start: float,
        rid: str,
        name: str,
        oip: bool,
        body: bytes | None = None,
        payload: Any = None,
        mirror: Route | None = None,
        fallback: Hosted | None = None,
    ) -> Any:
        try:
            if body is None:
                body = await body_of(request)
            if len(body) <= _INLINE_BYTES:
                rows, frame, want_proba, given_id, payload = prepare(hosted, body, oip, payload)
            else:  # parsing megabytes must not stall every other request
                rows, frame, want_proba, given_id, payload = await asyncio.to_thread(
                    prepare, hosted, body, oip, payload
                )
        except BadRequest as exc:
            if fallback is not None and body is not None:
                return await taken_over(hosted, fallback, exc, request, start, rid, name, oip, body)
            return refuse(hosted, exc, rid, oip)
        if given_id is not None and "x-request-id" not in request.headers:
            rid = given_id
        try:
            outcome = await hosted.run(frame, rows.n, want_proba)
            if rows.n <= _INLINE_ROWS:
                content, predictions, probabilities = respond(
                    hosted, outcome, rows, want_proba, rid, oip
                )
            else:
                content, predictions, probabilities = await asyncio.to_thread(
                    respond, hosted, outcome, rows, want_proba, rid, oip
                )
        except Exception as exc:
            latency = (time.perf_counter() - start) * 1000.0
            hosted.m_model_error.inc()
            hosted.count(500)
            bad_output = isinstance(exc, BadOutput)
            log.error(
                "request %s: deployment %r (%s) %s %s: %s",
                rid,
                name,
                hosted.version_uri,
                "answered wrong:" if bad_output else "raised",
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, (LoopmlError, BadOutput)),
            )
            hosted.log(rid, rows, None, None, latency, _MODEL_ERROR)
            message = (
                f"{exc} The server's log has it under request id {rid}."
                if bad_output
                else f"the model raised {type(exc).__name__}; the server's log has the details "
                f"under request id {rid}."
            )
            if mirror is not None:
                shadow(mirror, rid, payload, oip, rows)
            return _error(500, "model_error", message, rid, hosted, oip=oip)
        latency = time.perf_counter() - start
        if rows.n <= _INLINE_ROWS:
            hosted.log(rid, rows, predictions, probabilities, latency * 1000.0)
        else:
            await asyncio.to_thread(
                hosted.log, rid, rows, predictions, probabilities, latency * 1000.0
            )
        hosted.m_ok.inc()
        hosted.m_rows.inc(rows.n)
        hosted.m_latency.observe(latency)
        if mirror is not None:
            shadow(mirror, rid, payload, oip, rows)
        return _raw(content, headers=_headers(rid, hosted))

    async def taken_over(
        candidate: Hosted,
        primary: Hosted,
        exc: BadRequest,
        request: Request,
        start: float,
        rid: str,
        name: str,
        oip: bool,
        body: bytes,
    ) -> Any:
        """A request the rollout sent to its candidate, which refused it: when the primary
        takes it, the primary answers (the caller sees no change of contract) and the
        candidate is charged a ``refused`` row, a failure its analysis counts; when the
        primary refuses it too, it is a bad request, refused as always."""
        try:
            asked, _, _, given_id, _ = await asyncio.to_thread(prepare, primary, body, oip)
        except BadRequest:
            return refuse(candidate, exc, rid, oip)
        if given_id is not None and "x-request-id" not in request.headers:
            rid = given_id  # the id the primary's answer and row will carry
        candidate.m_invalid.inc()
        log.info(
            "request %s: the candidate %s refused what the primary takes (%s); the primary "
            "answers it",
            rid,
            candidate.version_uri,
            exc.message[:200],
        )
        candidate.log(rid, asked, None, None, (time.perf_counter() - start) * 1000.0, _REFUSED)
        primary.enter()
        try:
            return await answer_on(primary, request, start, rid, name, oip, body)
        finally:
            primary.leave()

    # -- shadow: a copy of each request to the candidate, off the response path ----------

    def shadow(route: Route, rid: str, payload: Any, oip: bool, rows: Rows) -> None:
        """Mirror a request the primary answered to the shadow's candidate: a task of its
        own, predicting on the candidate's side thread; dropped (and counted) when too many
        copies are waiting already."""
        candidate = route.candidate
        if candidate is None:
            return
        if route.pending >= MIRRORS_PENDING:
            route.dropped += 1
            state.metrics.shadow_dropped.labels(candidate.name).inc()
            return
        route.pending += 1
        candidate.enter()
        queued = time.perf_counter()
        task = asyncio.create_task(mirrored(route, candidate, rid, payload, oip, rows, queued))
        route.tasks.add(task)
        task.add_done_callback(route.tasks.discard)

    async def mirrored(
        route: Route,
        candidate: Hosted,
        rid: str,
        payload: Any,
        oip: bool,
        asked: Rows,
        queued: float,
    ) -> None:
        try:
            await candidate.side(shadow_answer, candidate, rid, payload, oip, asked, queued)
        except asyncio.CancelledError:
            pass  # the server stops, or the candidate was closed with copies still queued
        except Exception as exc:  # never reaches a client
            log.warning("request %s: the shadow %s failed: %s", rid, candidate.version_uri, exc)
        finally:
            route.pending -= 1
            candidate.leave()

    def shadow_answer(
        candidate: Hosted, rid: str, payload: Any, oip: bool, asked: Rows, queued: float
    ) -> None:
        """The shadow's answer to a copy of request ``rid``, logged as variant ``shadow``
        (its error as a model_error; a request it refuses, which the primary took, as
        ``refused`` with the primary's reading of the rows, ``asked``); runs on the
        candidate's side thread. Its latency counts from the copy's queueing, so a shadow
        that falls behind shows as slow, as it would be serving."""
        start = queued
        try:
            rows = (
                rows_from_oip(payload, candidate.names)
                if oip
                else rows_from_json(payload, candidate.names)
            )
            frame = candidate.frame(rows)
        except (BadRequest, InvalidInput) as exc:  # not a request the candidate takes
            candidate.m_invalid.inc()
            log.info("request %s: the shadow %s refused it: %s", rid, candidate.version_uri, exc)
            latency = (time.perf_counter() - start) * 1000.0
            candidate.log(rid, asked, None, None, latency, _REFUSED)
            return
        try:
            outcome = candidate.predict(frame, False)
            predictions = to_jsonable(outcome.predictions, rows.n)
            probabilities = (
                None
                if outcome.probabilities is None
                else to_jsonable(outcome.probabilities, rows.n, "probabilities")
            )
        except Exception as exc:
            latency = time.perf_counter() - start
            candidate.m_model_error.inc()
            candidate.count(500)
            log.info(
                "request %s: the shadow %s raised %s: %s",
                rid,
                candidate.version_uri,
                type(exc).__name__,
                exc,
            )
            candidate.log(rid, rows, None, None, latency * 1000.0, _MODEL_ERROR)
            return
        latency = time.perf_counter() - start
        candidate.log(rid, rows, predictions, probabilities, latency * 1000.0)
        candidate.m_ok.inc()
        candidate.m_rows.inc(rows.n)
        candidate.m_latency.observe(latency)

    def describe(hosted: Hosted) -> dict[str, Any]:
        d = hosted.deployment
        return {
            "name": hosted.name,
            "model": hosted.version_uri,
            "model_name": hosted.model_name,
            "model_version": hosted.version,
            "model_uri": d.model_uri,
            "generation": d.generation,
            "variant": hosted.variant,
            "config": d.config,
            "flavor": hosted.model.flavor,
            "signature": None if hosted.signature is None else hosted.signature.to_dict(),
            "loaded_at": hosted.loaded_at,
            "ready": True,
            "rollout": rollout_of(hosted.name),
            "rollout_error": state.unreadable.get(hosted.name),
        }

    def rollout_of(name: str) -> dict[str, Any] | None:
        """The deployment's rollout as this server routes by it (the latest, when none is in
        progress), or None when it never had one."""
        route = state.routes.get(name)
        if route is not None:
            return route.describe()
        rollout = state.rollouts.get(name)
        return None if rollout is None else Route(rollout).describe()

    # -- exception handlers: every answer carries a request id --------------------------

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        oip = request.url.path.startswith("/v2")
        return _error(exc.status_code, kind, str(exc.detail), _request_id(request), oip=oip)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        message = f"{first.get('msg', 'invalid request')} at {list(first.get('loc', []))}"
        return _error(
            422, "invalid_input", message, _request_id(request), loc=list(first.get("loc", []))
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Any:
        rid = _request_id(request)
        log.exception("request %s failed", rid)
        return _error(500, "server_error", f"the server failed; its log has request id {rid}.", rid)

    # -- JSON (v1) -------------------------------------------------------------------------

    @app.get("/v1/deployments", tags=["deployments"])
    async def list_deployments(request: Request) -> Any:
        """Every deployment this server serves (needs the token when predictions do)."""
        rid = _request_id(request)
        refused = guarded(request, rid, None, False)
        if refused is not None:
            return refused
        return _json(
            {
                "deployments": [describe(h) for _, h in sorted(state.hosted.items())],
                "failed": dict(sorted(state.failed.items())),
                "generation": state.generation,
            },
            headers=_headers(rid, None),
        )

    @app.get("/v1/deployments/{name}", tags=["deployments"])
    async def get_deployment(name: str, request: Request) -> Any:
        """One deployment: the version served, its signature, its settings (needs the token
        when predictions do)."""
        rid = _request_id(request)
        refused = guarded(request, rid, name, False)
        if refused is not None:
            return refused
        found = hosted_or_404(name, rid, False)
        if not isinstance(found, Hosted):
            return found
        return _json(describe(found), headers=_headers(rid, found))

    @app.post(
        "/v1/deployments/{name}/predict",
        tags=["predict"],
        openapi_extra={"requestBody": _PREDICT_BODY, "parameters": [_PATH_NAME]},
    )
    async def predict(request: Request) -> Any:
        """Predict rows: ``{"records": [{...}]}`` or ``{"columns": [...], "data": [[...]]}``;
        ``"probabilities": true`` adds a classifier's class probabilities."""
        return await answer(request, request.path_params["name"], oip=False)

    @app.post(
        "/v1/deployments/{name}/feedback",
        tags=["predict"],
        openapi_extra={"requestBody": _FEEDBACK_BODY},
    )
    async def feedback(name: str, request: Request) -> Any:
        """Ground truth for earlier predictions, by request id (and row): one
        ``{"request_id", "ground_truth", "row"}`` or ``{"feedback": [...]}``. Needs the
        token when the server has one."""
        rid = _request_id(request)
        if not authorized(request):
            return unauthorized(rid, name)
        found = hosted_or_404(name, rid, False)
        if not isinstance(found, Hosted):
            return found
        try:
            payload = parse_body(await body_of(request))
            if not isinstance(payload, dict):
                raise BadRequest(
                    422,
                    f"the body must be a JSON object, got {type(payload).__name__}: e.g. "
                    '{"request_id": "...", "ground_truth": 1} or {"feedback": [...]}.',
                    ["body"],
                )
            items = payload.get("feedback", payload)
            if isinstance(items, list) and len(items) == 0:
                raise BadRequest(422, "feedback is empty: send at least one item.", ["feedback"])
        except BadRequest as exc:
            return _error(exc.status, "invalid_input", exc.message, rid, found, exc.loc)

        def store() -> int:
            from loopml import predictions

            with using(ctx):
                return predictions.log_feedback(name, items)

        try:
            stored = await asyncio.to_thread(store)
        except InvalidInput as exc:
            return _error(422, "invalid_input", str(exc), rid, found, ["feedback"])
        return _json(
            {"stored": stored, "deployment": name, "request_id": rid}, headers=_headers(rid, found)
        )

    # -- Open Inference Protocol v2 -------------------------------------------------------

    @app.get("/v2", tags=["v2"])
    async def server_metadata(request: Request) -> Any:
        """The server's OIP metadata."""
        return _json(
            {"name": "loopml", "version": __version__, "extensions": []},
            headers=_headers(_request_id(request), None),
        )

    @app.get("/v2/health/live", tags=["v2"])
    async def live(request: Request) -> Any:
        """200 while the server runs."""
        return _json({"live": True}, headers=_headers(_request_id(request), None))

    @app.get("/v2/health/ready", tags=["v2"])
    async def ready(request: Request) -> Any:
        """200 once every deployment has been loaded (or has failed to)."""
        status = 200 if state.ready else 503
        return _json({"ready": state.ready}, status, _headers(_request_id(request), None))

    def metadata(hosted: Hosted) -> dict[str, Any]:
        sig = hosted.signature
        inputs = (
            []
            if sig is None
            else [
                {"name": c.name, "datatype": _oip_type(c.dtype), "shape": [-1]} for c in sig.inputs
            ]
        )
        outputs = [{"name": "predict", "datatype": _output_type(sig), "shape": [-1]}]
        if hosted.has_proba:
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
        return {
            "name": hosted.name,
            "versions": [str(hosted.version)],
            "platform": f"loopml-{hosted.model.flavor}",
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {"model": hosted.version_uri, "variant": hosted.variant},
        }

    async def model_metadata(request: Request, name: str, version: str | None) -> Any:
        rid = _request_id(request)
        refused = guarded(request, rid, name, True)
        if refused is not None:
            return refused
        found = hosted_or_404(name, rid, True, version)
        if not isinstance(found, Hosted):
            return found
        return _json(metadata(found), headers=_headers(rid, found))

    async def model_ready(request: Request, name: str, version: str | None) -> Any:
        rid = _request_id(request)
        refused = guarded(request, rid, name, True)
        if refused is not None:
            return refused
        found = hosted_or_404(name, rid, True, version)
        if not isinstance(found, Hosted):
            return found
        return _json({"name": name, "ready": True}, headers=_headers(rid, found))

    async def v2_metadata(request: Request) -> Any:
        """A deployment's metadata: inputs and outputs from the model's signature (with a
        version: of the version it serves, 404 for another)."""
        params = request.path_params
        return await model_metadata(request, params["name"], params.get("version"))

    async def v2_ready(request: Request) -> Any:
        """200 when the deployment is loaded (with a version: when it serves that one)."""
        params = request.path_params
        return await model_ready(request, params["name"], params.get("version"))

    async def v2_infer(request: Request) -> Any:
        """OIP inference: one tensor per input column (or one [N, columns] tensor); with a
        version: on the version the deployment serves (404 for another)."""
        params = request.path_params
        return await answer(request, params["name"], oip=True, version=params.get("version"))

    # each route plain and under /versions/{version}; the path is read from the request
    # (a declared path parameter costs every request a validation), and documented here
    for suffix, endpoint, method, body in (
        ("", v2_metadata, "GET", None),
        ("/ready", v2_ready, "GET", None),
        ("/infer", v2_infer, "POST", _INFER_BODY),
    ):
        for versioned in (False, True):
            extra: dict[str, Any] = {
                "parameters": [_PATH_NAME, _PATH_VERSION] if versioned else [_PATH_NAME]
            }
            if body is not None:
                extra["requestBody"] = body
            app.add_api_route(
                "/v2/models/{name}" + ("/versions/{version}" if versioned else "") + suffix,
                endpoint,
                methods=[method],
                tags=["v2"],
                name=endpoint.__name__ + ("_version" if versioned else ""),
                openapi_extra=extra,
            )

    # -- metrics ---------------------------------------------------------------------------

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request) -> Any:
        """Prometheus metrics: requests, errors and latency by deployment, model version and
        variant; the prediction log's queue, writes and drops."""
        content, media = state.metrics.render()
        return Response(content, media_type=media, headers={"x-request-id": _request_id(request)})

    return app


def _shape_of(values: list[Any]) -> list[int]:
    if values and isinstance(values[0], list):
        return [len(values), len(values[0])]
    return [len(values)]


def _flatten(values: list[Any]) -> list[Any]:
    if values and isinstance(values[0], list):
        return [v for row in values for v in row]
    if values and isinstance(values[0], dict):  # a frame's rows: their values, in order
        return [v for row in values for v in row.values()]
    return values


def _oip_type(dtype: str) -> str:
    if dtype == "bool":
        return "BOOL"
    if dtype.startswith("float"):
        return "FP32" if dtype == "float32" else "FP64"
    if dtype.startswith(("int", "Int")):
        return f"INT{dtype.lower()[3:] or 64}"
    if dtype.startswith("uint"):
        return f"UINT{dtype[4:] or 64}"
    return "BYTES"


def _output_type(sig: Any) -> str:
    out = getattr(sig, "output", None)
    dtype = getattr(out, "dtype", None)
    return "BYTES" if not dtype else _oip_type(str(dtype))
