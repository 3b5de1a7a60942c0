"""Alert sinks: where a monitor's alerts are sent, one :class:`Delivery` per attempt.

- ``log``: a WARNING (a resolved alert: INFO) on the ``loopml.alerts`` logger;
- ``file:<path>``: one JSON line appended to ``<path>`` (relative to the project root;
  parent folders are created). The line goes out in one ``os.write`` on a file opened
  with ``O_APPEND`` and is then fsynced, so writers appending at once never interleave;
- ``http://`` / ``https://``: a POST of the JSON payload, answered within :data:`TIMEOUT` s
  (the whole answer, not each read of it), tried
  up to ``len(RETRY_DELAYS) + 1`` times with exponential backoff and jitter on network
  errors, 5xx, 408 and 429 (any other 4xx is the webhook refusing the payload: not
  retried). A redirect is a failure (following it would drop the POST's body).

A sink that fails gives a failed Delivery naming the error; :func:`send` never raises.
A webhook URL holds secrets (a password, a ``token=`` query value, the path token of a
Slack-style hook), so it is shown only through :func:`shown_sink`: the host and the
plain words of its path, every other part ``***``. That form is what logs, errors and
the stored Delivery hold.

Example::

    send("file:alerts.jsonl", payload, root=project_root)
    shown_sink("https://hooks.slack.com/services/T0AB1/B0CD2/x9Y8z7")
    # 'https://hooks.slack.com/services/***/***/***'
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from loopml.monitoring._records import Delivery

__all__ = ["RETRY_DELAYS", "TIMEOUT", "send", "shown_sink"]

log = logging.getLogger("loopml.alerts")

TIMEOUT = 5.0
"""Seconds a webhook has to answer one attempt."""

RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
"""Seconds before each retry of a webhook (each scaled by a random factor in [0.5, 1]),
so ``len(RETRY_DELAYS) + 1`` attempts in all."""

_RETRIED_4XX = (408, 429)
_MAX_REPLY = 64 * 1024  # of a webhook's answer, read and dropped
# A path segment shown as it is: a short word without digits (``services``, ``hooks``,
# ``api``); ids and tokens hold digits or are long, and are shown as ``***``.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z][A-Za-z_.-]{0,15}")
_MIN_SECRET = 4


def send(sink: str, payload: dict[str, Any], *, root: Path) -> Delivery:
    """Send ``payload`` (an alert, see :func:`loopml.monitoring._alerts.payload_of`) to
    ``sink``; a failed Delivery, never an exception, when it cannot be sent."""
    shown = shown_sink(sink)
    try:
        if sink == "log":
            return _to_log(payload)
        if sink.startswith("file:"):
            return _to_file(sink, sink[len("file:") :], payload, root)
        if sink.startswith(("http://", "https://")):
            return _to_webhook(sink, shown, payload)
        return Delivery(
            shown, False, 0, time.time(), "unknown sink: expected log, file:<path> or a URL"
        )
    except Exception as exc:  # a sink must never break the monitor that raised the alert
        error = _scrub(f"{type(exc).__name__}: {exc}", sink)
        log.warning("alert %s could not be sent to %s: %s", payload.get("alert"), shown, error)
        return Delivery(shown, False, 1, time.time(), error)


# -- log ----------------------------------------------------------------------------


def _to_log(payload: dict[str, Any]) -> Delivery:
    level = logging.INFO if payload.get("status") == "resolved" else logging.WARNING
    log.log(level, "%s %s: %s", payload.get("alert"), payload.get("status"), payload.get("message"))
    return Delivery("log", True, 1, time.time())


# -- file ---------------------------------------------------------------------------


def _to_file(sink: str, name: str, payload: dict[str, Any], root: Path) -> Delivery:
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = root / path
    line = (json.dumps(payload, ensure_ascii=False, default=str) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"wrote {written} of {len(line)} bytes (is the disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        error = f"cannot append to {path}: {reason}. Expected a writable file; fix the path."
        log.warning("alert %s could not be written to %s: %s", payload.get("alert"), sink, reason)
        return Delivery(sink, False, 1, time.time(), error)
    return Delivery(sink, True, 1, time.time())


# -- webhook ------------------------------------------------------------------------


def _to_webhook(url: str, shown: str, payload: dict[str, Any]) -> Delivery:
    target, auth = _without_userinfo(url)
    headers = {"Content-Type": "application/json", "User-Agent": "loopml-alerts"}
    if auth is not None:
        headers["Authorization"] = auth
    body = json.dumps(payload, default=str).encode()
    attempts = 0
    error = ""
    for attempt in range(len(RETRY_DELAYS) + 1):
        if attempt:
            _sleep(RETRY_DELAYS[attempt - 1] * random.uniform(0.5, 1.0))
        attempts += 1
        request = urllib.request.Request(target, data=body, headers=headers, method="POST")
        try:
            _post(request)
            return Delivery(shown, True, attempts, time.time())
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            error = f"the webhook answered HTTP {code} {exc.reason}"
            if 300 <= code < 400:
                error += " (a redirect: give the URL it redirects to)"
                break
            if 400 <= code < 500 and code not in _RETRIED_4XX:
                error += " (the webhook refused the alert: check its URL and token)"
                break
        except urllib.error.URLError as exc:
            error = f"cannot reach the webhook: {exc.reason}"
        except (OSError, ValueError) as exc:
            error = f"cannot reach the webhook: {type(exc).__name__}: {exc}"
        except Exception as exc:  # http.client's protocol errors (a garbled reply...)
            error = f"the webhook's reply was not HTTP: {type(exc).__name__}: {exc}"
        log.debug("attempt %d to send to %s failed: %s", attempts, shown, _scrub(error, url))
    error = _scrub(error, url)
    log.warning(
        "alert %s could not be sent to %s after %d attempt%s: %s",
        payload.get("alert"),
        shown,
        attempts,
        "" if attempts == 1 else "s",
        error,
    )
    return Delivery(shown, False, attempts, time.time(), error)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _post(request: urllib.request.Request) -> None:
    """Send ``request`` and read at most ``_MAX_REPLY`` bytes of the reply, all within
    :data:`TIMEOUT` seconds. The socket's timeout bounds each read only: a webhook that
    answers one byte a second would otherwise hold the monitor for hours, so a timer
    shuts the connection down once the time is up (the read then fails)."""
    sockets: list[socket.socket] = []
    opener = urllib.request.build_opener(
        _NoRedirect(), _Tracked(sockets), _TrackedTLS(sockets, context=ssl.create_default_context())
    )
    timer = threading.Timer(TIMEOUT, _shut, (sockets,))
    timer.daemon = True
    timer.start()
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            response.read(_MAX_REPLY)
    except Exception:  # a connection shut mid-answer fails as OSError or a bad reply
        if not timer.is_alive():
            raise TimeoutError(f"no complete answer within {TIMEOUT:g} s") from None
        raise
    finally:
        timer.cancel()


def _shut(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)


def _tracking(http_class: Any, sockets: list[socket.socket]) -> Any:
    """``http_class`` whose connections record their socket once connected."""

    def connection(*args: Any, **kwargs: Any) -> Any:
        conn = http_class(*args, **kwargs)
        connect = conn.connect

        def connect_and_record() -> None:
            connect()
            sockets.append(conn.sock)

        conn.connect = connect_and_record
        return conn

    return connection


class _Tracked(urllib.request.HTTPHandler):
    def __init__(self, sockets: list[socket.socket]) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: Any) -> Any:
        return self.do_open(_tracking(http.client.HTTPConnection, self._sockets), req)


class _TrackedTLS(urllib.request.HTTPSHandler):
    def __init__(self, sockets: list[socket.socket], context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._sockets = sockets
        self._tls = context

    def https_open(self, req: Any) -> Any:
        return self.do_open(
            _tracking(http.client.HTTPSConnection, self._sockets), req, context=self._tls
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers, not followed: following one would turn the POST into a GET
    without the alert."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _without_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@``, and the Basic ``Authorization`` it stood for."""
    scheme, _, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return f"{scheme}://{host}{slash}{tail}", f"Basic {token}"


# -- secrets ------------------------------------------------------------------------


def shown_sink(sink: str) -> str:
    """``sink`` as it may be shown and stored: ``log`` and ``file:`` sinks as they are; a
    URL with its userinfo, query values, fragment and every path segment but short plain
    words replaced by ``***`` (``https://***@hooks.example.com/services/***?token=***``)."""
    if not sink.startswith(("http://", "https://")):
        return sink
    try:
        parts = urlsplit(sink)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{sink.partition('://')[0]}://***"
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if "@" in parts.netloc else "") + host + (f":{port}" if port else "")
    path = "/".join(
        seg if not seg or _PLAIN_SEGMENT.fullmatch(seg) else "***" for seg in parts.path.split("/")
    )
    shown = f"{parts.scheme}://{netloc}{path}"
    if parts.query:
        shown += "?" + "&".join(
            f"{item.partition('=')[0]}=***" if "=" in item else "***"
            for item in parts.query.split("&")
        )
    if parts.fragment:
        shown += "#***"
    return shown


def _secrets(url: str) -> list[str]:
    """The parts of ``url`` :func:`shown_sink` hides, raw and percent-decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url.partition("://")[2]]
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0]
    found.extend(p for p in userinfo.split(":") if p)
    found.extend(s for s in parts.path.split("/") if s and not _PLAIN_SEGMENT.fullmatch(s))
    for item in parts.query.split("&"):
        key, eq, value = item.partition("=")
        found.append(value if eq else key)
    found.append(parts.fragment)
    forms = {form for s in found for form in (s, unquote(s)) if len(form) >= _MIN_SECRET}
    return sorted(forms, key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    """``text`` with ``url`` shown by :func:`shown_sink` and each of its secrets ``***``."""
    if not url.startswith(("http://", "https://")):
        return text
    text = text.replace(url, shown_sink(url))
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text
