"""A local HTTP server for URL tests (127.0.0.1, ephemeral port, one thread per request).

Routes:
  /photo?id=7&fmt=jpeg  a real JPEG (PHOTO_SHAPE), no extension in the path
  /missing              404
  /slow                 answers only after SLOW_S seconds (bounded; cut short at teardown)
  /page                 a text/html page, not an image
  /big                  BIG_BYTES bytes with a Content-Length header
  /big-stream           BIG_BYTES bytes, no Content-Length (ends when the connection closes)
  /redirect             302 to /photo;  /to-ftp and /to-file: 302 to an ftp:// or file:// URL;
  /to-file-video.mp4    302 to the shipped video as a file:// URL (FFmpeg must not follow it)
  /clip.mp4             the shipped 100-frame video, with byte ranges (as web servers and S3 do), so
                        FFmpeg can seek to the index an mp4 keeps at its end
  /clip-no-ranges.mp4   the same video from a server that ignores Range: unreadable for FFmpeg
  /hls/index.m3u8       an HLS playlist (VOD) of two MPEG-TS segments, /hls/seg0.ts and /hls/seg1.ts,
                        of 50 frames each of the shipped video (re-encoded as the server starts)
  /hls/evil.m3u8        an HLS playlist whose segment is file:///etc/passwd

Misbehaving on purpose (raw bytes on the socket):
  /bad-chunked          "Transfer-Encoding: chunked" with a body that is not chunked
  /bad-status           a status line that is not HTTP
  /many-headers         200 with more headers (150) than http.client accepts
  /short                Content-Length: SHORT_DECLARED, then only SHORT_SENT bytes of the photo, then close
  /drip                 headers, then the photo one byte every DRIP_S seconds (never slow enough for a
                        per-read timeout to fire)
  /drip-headers         the status line, then the headers one byte every DRIP_S seconds

`wait_for_request(path)` blocks until a request for that path has arrived (for tests that must act
while a client is stuck in it). Use it as `from tests.http_server import http_server  # noqa: F401`;
the fixture yields the base URL.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.helpers import jpeg_bytes

PHOTO_SHAPE = (40, 56, 3)  # (H, W, 3) of the JPEG at /photo
PHOTO_PATH = "/photo?id=7&fmt=jpeg"
SLOW_S = 3.0
BIG_BYTES = 64 * 1024
HTML = b"<!doctype html><html><body><h1>Not an image</h1></body></html>\n"
DRIP_S = 0.4
SHORT_DECLARED, SHORT_SENT = 5000, 100

_PHOTO = jpeg_bytes(PHOTO_SHAPE[0], PHOTO_SHAPE[1], seed=3)
CLIP = Path(__file__).resolve().parents[1] / "sample_images" / "video" / "shapes.mp4"
_REDIRECTS = {
    "/redirect": PHOTO_PATH,
    "/to-ftp": "ftp://127.0.0.1/x.jpg",
    "/to-file": "file:///etc/passwd",
    "/to-file-video.mp4": CLIP.as_uri(),
}
_RAW = {
    "/bad-chunked": b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"zz not a chunk size\r\n"
    + _PHOTO[:50],
    "/bad-status": b"HTTP/1.1 banana split\r\nContent-Length: 0\r\n\r\n",
    "/many-headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Header-%d: v\r\n" % i for i in range(150)) + b"\r\n",
    "/short": b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % SHORT_DECLARED
    + _PHOTO[:SHORT_SENT],
}
_DRIP_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(_PHOTO)

_seen: defaultdict[str, threading.Event] = defaultdict(threading.Event)
_seen_lock = threading.Lock()


def _arrived(path: str) -> threading.Event:
    with _seen_lock:
        return _seen[path]


def wait_for_request(path: str, timeout: float = 60.0) -> bool:
    """Whether a request for `path` (without its query) arrived within `timeout` seconds."""
    return _arrived(path).wait(timeout)


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestServer/1"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_ranged(self, body: bytes, ranges: bool) -> None:
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")) if ranges else None
        if wanted is None:
            self._send(200, body, "video/mp4")
            return
        first = int(wanted[1])
        last = min(int(wanted[2]) if wanted[2] else len(body) - 1, len(body) - 1)
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
        self.send_header("Content-Length", str(max(last - first + 1, 0)))
        self.end_headers()
        self.wfile.write(body[first : last + 1])

    def _drip(self, head: bytes, body: bytes) -> None:
        """Send `head` at once and `body` a byte at a time, until done or the server stops."""
        self.wfile.write(head)
        for byte in body:
            if self.server.stop.wait(DRIP_S):  # type: ignore[attr-defined]
                return
            self.wfile.write(bytes([byte]))

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        _arrived(path).set()
        if path in _RAW:
            self.wfile.write(_RAW[path])
        elif path == "/drip":
            self._drip(_DRIP_HEAD, _PHOTO)
        elif path == "/drip-headers":
            self._drip(b"HTTP/1.1 200 OK\r\n", _DRIP_HEAD.split(b"\r\n", 1)[1] + _PHOTO)
        elif path in _REDIRECTS:
            self.send_response(302)
            self.send_header("Location", _REDIRECTS[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/hls/"):
            body = _hls().get(path.removeprefix("/hls/"))
            if body is None:
                self._send(404, b"not found\n", "text/plain")
            else:
                kind = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
                self._send(200, body, kind)
        elif path in ("/clip.mp4", "/clip-no-ranges.mp4"):
            self._send_ranged(CLIP.read_bytes(), ranges=path == "/clip.mp4")
        elif path == "/photo":
            self._send(200, _PHOTO, "image/jpeg")
        elif path == "/slow":
            if not self.server.stop.wait(SLOW_S):  # type: ignore[attr-defined]
                self._send(200, _PHOTO, "image/jpeg")
        elif path == "/page":
            self._send(200, HTML, "text/html; charset=utf-8")
        elif path == "/big":
            self._send(200, _PHOTO + b"\0" * (BIG_BYTES - len(_PHOTO)), "image/jpeg")
        elif path == "/big-stream":
            self._send(200, _PHOTO + b"\0" * (BIG_BYTES - len(_PHOTO)), "image/jpeg", length=False)
        else:
            self._send(404, b"not found\n", "text/plain")


_hls_files: dict[str, bytes] = {}
_hls_lock = threading.Lock()
HLS_PLAYLIST = b"""#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXTINF:2.0,
seg0.ts
#EXTINF:2.0,
seg1.ts
#EXT-X-ENDLIST
"""


def _hls() -> dict[str, bytes]:
    """The HLS files, made once: the shipped clip cut in two MPEG-TS segments (MPEG-4 video; OpenCV
    notes on stderr that it writes no codec tag, which MPEG-TS does not need)."""
    import tempfile

    import cv2

    with _hls_lock:
        if not _hls_files:
            capture = cv2.VideoCapture(str(CLIP))
            frames = []
            while (read := capture.read())[0]:
                frames.append(read[1])
            capture.release()
            with tempfile.TemporaryDirectory() as folder:
                for k in range(2):
                    segment = Path(folder) / f"seg{k}.ts"
                    writer = cv2.VideoWriter(str(segment), cv2.VideoWriter_fourcc(*"FMP4"), 25.0, (320, 320))
                    for frame in frames[50 * k : 50 * (k + 1)]:
                        writer.write(frame)
                    writer.release()
                    _hls_files[segment.name] = segment.read_bytes()
            _hls_files["index.m3u8"] = HLS_PLAYLIST
            _hls_files["evil.m3u8"] = HLS_PLAYLIST.replace(b"seg0.ts", b"file:///etc/passwd")
        return _hls_files


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up early (timeouts, size caps) leave broken pipes behind


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """Base URL (no trailing slash) of a server bound to 127.0.0.1 on a free port."""
    _hls()  # before any client: OpenCV's FFmpeg lock, held by a client opening a URL, would stall the writer
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stop = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    with pytest.MonkeyPatch.context() as mp:  # never send 127.0.0.1 through a proxy
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop.set()  # type: ignore[attr-defined]
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
