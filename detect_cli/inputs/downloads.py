"""Download one http(s) URL into memory, treating the server as hostile.

The whole download is bounded in time (a server dripping a byte just before each socket timeout
is cut off at the deadline, whatever it is doing) and in bytes; redirects are followed to http(s)
only, each hop checked like the URL itself; a body shorter than its Content-Length is refused; a
caller's check of the first bytes can refuse the rest unread (images: a known signature).
"""

from __future__ import annotations

import http.client
import socket
import string
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote, urljoin

from detect_cli import __version__
from detect_cli.core.errors import InputError, amount, one_line
from detect_cli.core.guarded_read import HEAD_BYTES
from detect_cli.inputs.sources import url_problem

HeadCheck = Callable[[bytes], None]  # raises InputError to refuse a body by its first bytes


def download(url: str, *, timeout: float, max_bytes: int, check_head: HeadCheck | None = None) -> bytes:
    """The body of an http(s) URL, or InputError. `timeout` bounds the whole download (a server that
    drips a byte at a time is cut off), `max_bytes` its size; redirects are followed to http(s)
    only; a body shorter than its Content-Length is refused. `check_head` sees the first
    `HEAD_BYTES` (or the whole body, if shorter) and may raise InputError before the rest comes."""
    problem = url_problem(url)
    if problem:
        raise InputError(problem)
    deadline = _Deadline(timeout)
    timed_out = f"timed out after {timeout:g} s"
    request = urllib.request.Request(url, headers={"User-Agent": f"attn-detect/{__version__}"})
    try:
        with _opener(deadline).open(request, timeout=timeout) as response:
            declared = getattr(response, "length", None)  # from Content-Length; None when chunked or absent
            if declared is not None and declared > max_bytes:
                raise InputError(_too_big(max_bytes))
            data = _read_body(response, max_bytes, deadline, check_head)
    except InputError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        raise InputError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise InputError(timed_out if deadline.expired or _is_timeout(exc) else _fetch_failed(exc)) from None
    finally:
        deadline.cancel()
    if deadline.expired:  # the watchdog shut the socket: what was read is only a part
        raise InputError(timed_out)
    if len(data) > max_bytes:
        raise InputError(_too_big(max_bytes))
    if declared is not None and len(data) < declared:
        raise InputError(f"truncated download: got {len(data)} of {declared} bytes")
    if not data:
        raise InputError("empty response (0 bytes)")
    return data


def _read_body(
    response: http.client.HTTPResponse, limit: int, deadline: _Deadline, check_head: HeadCheck | None
) -> bytes:
    body = bytearray()
    checked = check_head is None
    while len(body) <= limit and not deadline.expired:
        chunk = response.read1(min(1 << 20, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if not checked and len(body) >= HEAD_BYTES:
            checked = True
            check_head(bytes(body[:HEAD_BYTES]))  # type: ignore[misc]
    if not checked and body and not deadline.expired:  # cut by the deadline, a few bytes are no body's head:
        check_head(bytes(body))  # type: ignore[misc]  # the caller says "timed out", not "not an image"
    return bytes(body)


class _Deadline:
    """Bounds a whole download. A socket timeout bounds one read, so a server that sends a byte just
    before each timeout would hold a read for ever; at the deadline, this shuts down every socket it
    watches, which wakes any read blocked on them (from the timer's own daemon thread)."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True  # a pending timer must not keep the interpreter alive at exit
        self._timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: never touches TLS state
    except OSError:
        pass  # already closed, or a raw socket whose descriptor TLS has taken over


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """http(s) only: no ftp or file handlers, and a redirect is checked like the URL itself."""
    opener = urllib.request.OpenerDirector()
    handlers = [
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTPHandler(deadline),
        _HTTPSHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        _HttpOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ]
    for handler in handlers:
        opener.add_handler(handler)
    return opener


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Every hop is checked like the URL given (urllib itself would follow a redirect to ftp://)."""

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urljoin(req.full_url, location)
            problem = url_problem(quote(target, encoding="iso-8859-1", safe=string.punctuation))  # as urllib will
            if problem:
                fp.close()
                raise InputError(f"refused a redirect to {_short(target)}: {problem}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _WatchedConnections:
    """A handler mixin: its connections register their sockets with the download's deadline."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class, req, **kwargs):  # type: ignore[no-untyped-def]
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)  # type: ignore[misc]


class _HTTPHandler(_WatchedConnections, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_WatchedConnections, urllib.request.HTTPSHandler):
    pass


def _watched(http_class: type[http.client.HTTPConnection], deadline: _Deadline) -> type[http.client.HTTPConnection]:
    class Watched(http_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            connect = self._create_connection
            self._create_connection = lambda *a, **k: deadline.watch(connect(*a, **k))  # the raw TCP socket

        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)  # and the TLS socket that may have replaced it

    return Watched


def _is_timeout(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, TimeoutError) or "timed out" in str(reason)


def _fetch_failed(exc: BaseException) -> str:
    if isinstance(exc, http.client.InvalidURL):
        return f"invalid URL: {one_line(exc)}"
    if isinstance(exc, http.client.HTTPException):
        name, detail = type(exc).__name__, one_line(exc)
        what = detail if detail.startswith(name) else f"{name}: {detail}" if detail else name
        return f"bad HTTP response from the server ({what})"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return f"cannot fetch URL: {one_line(reason)}"


def _too_big(limit: int) -> str:
    return f"download larger than the {amount(limit / 2**20)} MiB limit (url_max_mb in the config raises it)"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
