"""Inference requests in flight on an OpenVINO compiled model, their results handed back in order.

One synchronous request at a time leaves a 2-core CPU idle while Python letterboxes the next image
and decodes the last one's boxes, and runs one OpenVINO stream where the throughput hint runs two.
`RequestPool` keeps up to `size` requests running: `submit` starts one and returns a `Ticket`;
`Ticket.output()` waits for that request only. Requests are reused oldest first (FIFO), so the
oldest ticket is always the next to finish its wait: results come back in submission order by
construction, and a request's failure is raised by its own ticket's `output()`, nowhere else.
(`openvino.AsyncInferQueue` hands any idle request to the next job, but its Python callback is
skipped for a request that failed, which would leave that input without a result or an error.)

A ticket keeps its request's output once collected, so submitting past the pool's size while older
tickets are unread costs a copy (300 x 6 floats), not a lost result.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

# Overlapping submissions before the pool widens to the throughput-compiled model: a second compile (from
# the cache: about as long as the first) pays for itself after some tens of images (see RequestPool).
WIDEN_AFTER = 16


class Ticket:
    """One submitted inference: `output()` is its first output (a copy), or its request's error."""

    def __init__(self, request: Any) -> None:
        self._request: Any = request
        self._output: np.ndarray | None = None
        self._error: BaseException | None = None
        self.latency_ms = 0.0  # the request's own time, start to end (OpenVINO measures it)
        self._started = time.perf_counter()

    @property
    def collected(self) -> bool:
        return self._request is None

    def collect(self) -> None:
        """Wait for the request and keep what it gave, freeing the request for another input."""
        if self._request is None:
            return
        request, self._request = self._request, None
        try:
            request.wait()
            self._output = np.array(request.get_output_tensor(0).data[0], dtype=np.float32)
        except Exception as exc:  # the input's failure, raised by output()
            self._error = exc
        waited = (time.perf_counter() - self._started) * 1e3
        self.latency_ms = float(getattr(request, "latency", 0.0) or waited)

    def output(self) -> np.ndarray:
        self.collect()
        if self._error is not None:
            raise self._error
        assert self._output is not None
        return self._output


class RequestPool:
    """Inference requests of one compiled model, reused oldest first; optionally widened once.

    A model compiled for latency runs one image fastest (one stream, every core on it); one compiled
    for throughput runs one stream per core or two, each image slower alone but more images a second.
    `widen` compiles the latter (from OpenVINO's cache when there is one) and gives its optimal number
    of requests; the pool switches to it once the caller has kept requests overlapping `widen_after`
    times: a run of many images, never one image, nor a caller that waits for each result (the
    runtime trials time images one at a time)."""

    def __init__(
        self,
        compiled: Any,
        size: int,
        *,
        widen: Callable[[], tuple[Any, int]] | None = None,
        widen_after: int = WIDEN_AFTER,
    ) -> None:
        self._in_flight: deque[Ticket] = deque()  # submitted and not yet collected, oldest first
        self._use(compiled, size)
        self._widen, self._widen_after, self._overlapped = widen, widen_after, 0
        self.widened = False

    def _use(self, compiled: Any, size: int) -> None:
        self.size = max(1, int(size))
        self._requests = [compiled.create_infer_request() for _ in range(self.size)]
        self._next = 0

    def submit(self, tensor: np.ndarray) -> Ticket:
        """Start inference on `tensor` (copied into the request); waits only when every request is
        running, and then for the oldest, whose output its ticket keeps."""
        if self._widen is not None and self.busy():
            self._overlapped += 1
            if self._overlapped >= self._widen_after:
                self._switch()
        while self._in_flight and (self._in_flight[0].collected or len(self._in_flight) >= self.size):
            self._in_flight.popleft().collect()
        request = self._requests[self._next]
        self._next = (self._next + 1) % self.size
        ticket = Ticket(request)
        request.start_async({0: tensor})
        self._in_flight.append(ticket)
        return ticket

    def busy(self) -> int:
        """Requests submitted and not yet collected."""
        return sum(not t.collected for t in self._in_flight)

    def _switch(self) -> None:
        widen, self._widen = self._widen, None
        assert widen is not None
        try:
            compiled, size = widen()
        except Exception:  # the model in use runs as well as it did: keep it
            return
        while self._in_flight:  # their tickets keep the outputs
            self._in_flight.popleft().collect()
        self._use(compiled, size)
        self.widened = True
