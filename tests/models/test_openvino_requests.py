"""Requests in flight give their results in submission order, whatever order they finish in; a failed
request fails its own input only; the pool widens to the throughput model only for a caller that keeps
requests overlapping. Fake requests (tests/helpers: threads with set delays) stand in for OpenVINO's."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.models.openvino_requests import RequestPool
from tests.helpers import FakeCompiled


def tensor(value: float) -> np.ndarray:
    return np.full((1, 3, 4, 4), value, dtype=np.float32)


def test_results_come_back_in_submission_order_though_requests_finish_out_of_order() -> None:
    # each group of 4 finishes last-submitted first: 0.2, 0.15, 0.1, 0.05 s
    model = FakeCompiled(delay=lambda v: 0.05 * (4 - int(v) % 4))
    pool = RequestPool(model, 4)
    tickets = [pool.submit(tensor(v)) for v in range(12)]
    outputs = [t.output()[0, 0] for t in tickets]
    assert outputs == list(range(12))
    assert model.finished != sorted(model.finished)  # they did finish out of order
    assert model.most_running == 4  # and ran four at once, never more


def test_a_failed_request_fails_its_own_input_only() -> None:
    pool = RequestPool(FakeCompiled(delay=lambda v: 0.01, fail_on=(2.0,)), 3)
    tickets = [pool.submit(tensor(v)) for v in range(6)]
    for value, ticket in enumerate(tickets):
        if value == 2:
            with pytest.raises(RuntimeError, match=r"inference failed on input 2$"):
                ticket.output()
        else:
            assert ticket.output()[0, 0] == value


def test_tickets_read_late_or_early_keep_their_outputs() -> None:
    """A newer ticket read before older ones (a batch retried image by image while others run), and
    tickets left unread while many more are submitted: each still gives its own input's result."""
    pool = RequestPool(FakeCompiled(delay=lambda v: 0.002 * (v % 3)), 2)
    first = [pool.submit(tensor(v)) for v in range(3)]
    assert first[2].output()[0, 0] == 2
    later = [pool.submit(tensor(v)) for v in range(3, 10)]
    assert [t.output()[0, 0] for t in later + first] == [*range(3, 10), 0, 1, 2]


def test_the_pool_widens_once_for_a_caller_that_keeps_requests_overlapping() -> None:
    latency, throughput = FakeCompiled(delay=lambda v: 0.01), FakeCompiled(delay=lambda v: 0.01)
    widened = []

    def widen() -> tuple[FakeCompiled, int]:
        widened.append(True)
        return throughput, 3

    pool = RequestPool(latency, 2, widen=widen, widen_after=4)
    tickets = [pool.submit(tensor(v)) for v in range(10)]
    assert [t.output()[0, 0] for t in tickets] == list(range(10))
    assert widened == [True] and pool.widened and pool.size == 3 and throughput.requests == 3
    assert len(latency.finished) == 4 and len(throughput.finished) == 6  # 4 overlapping submissions, then it


def test_a_caller_that_waits_for_each_result_never_widens() -> None:
    """One image, or the runtime trials timing images one at a time: the latency model throughout."""
    pool = RequestPool(FakeCompiled(), 2, widen=lambda: pytest.fail("widened"), widen_after=2)
    assert [pool.submit(tensor(v)).output()[0, 0] for v in range(6)] == list(range(6))
    assert pool.size == 2


def test_a_widening_that_fails_keeps_the_model_in_use() -> None:
    def broken() -> tuple[FakeCompiled, int]:
        raise RuntimeError("out of memory compiling")

    pool = RequestPool(FakeCompiled(delay=lambda v: 0.01), 2, widen=broken, widen_after=1)
    tickets = [pool.submit(tensor(v)) for v in range(5)]
    assert [t.output()[0, 0] for t in tickets] == list(range(5)) and pool.size == 2 and not pool.widened
