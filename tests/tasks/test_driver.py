"""`tasks.driver.drive`: one loop for every task, with records, Ctrl-C and exit codes alike."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from detect_cli.core.errors import ConfigError, ExitCode
from detect_cli.outputs.formats import open_sink
from detect_cli.outputs.records import Layout
from detect_cli.tasks.driver import Outcome, drive

ROWS = Layout("rows", ("n",))


class Counting:
    """A task that yields `n` records, then stops as told: normally, Ctrl-C, or an error."""

    layout = ROWS

    def __init__(self, n: int, then: BaseException | None = None, failed: bool = False) -> None:
        self.n, self.then, self.failed = n, then, failed
        self.summarised: list[bool] = []
        self.cleaned_up = False

    def records(self, sources) -> Iterator[dict]:
        try:
            for i in range(self.n):
                yield {"n": i}
            if self.then is not None:
                raise self.then
        finally:
            self.cleaned_up = True

    def summary(self, interrupted: bool = False) -> dict:
        self.summarised.append(interrupted)
        return {"done": self.n, "interrupted": interrupted}

    def incomplete(self) -> bool:
        return self.failed


def document(fmt: str, task: Counting) -> tuple[Outcome, str]:
    stream = io.StringIO()
    outcome = drive(task, (), [open_sink(fmt, stream, {"command": "test"}, layout=ROWS)])
    return outcome, stream.getvalue()


@pytest.mark.parametrize(
    ("task", "code"),
    [
        (Counting(3), ExitCode.OK),
        (Counting(3, failed=True), ExitCode.INPUTS_FAILED),
        (Counting(2, KeyboardInterrupt()), ExitCode.INTERRUPTED),
        (Counting(2, KeyboardInterrupt(), failed=True), ExitCode.INTERRUPTED),  # Ctrl-C says it first
    ],
    ids=["done", "incomplete", "ctrl-c", "ctrl-c-and-incomplete"],
)
def test_the_exit_code_says_how_the_task_ended(task: Counting, code: ExitCode) -> None:
    outcome, text = document("json", task)
    assert outcome.exit_code == code
    doc = json.loads(text)  # whole, however it ended
    assert [r["n"] for r in doc["rows"]] == list(range(task.n))
    assert doc["summary"] == {"done": task.n, "interrupted": code == ExitCode.INTERRUPTED}
    assert task.summarised == [code == ExitCode.INTERRUPTED] and task.cleaned_up


def test_ctrl_c_in_a_sink_or_a_listener_stops_the_task_too() -> None:
    task = Counting(5)
    heard = []

    def listener(record: dict) -> None:
        heard.append(record["n"])
        if record["n"] == 1:
            raise KeyboardInterrupt

    stream = io.StringIO()
    outcome = drive(task, (), [open_sink("jsonl", stream, layout=ROWS)], listener)
    assert outcome.interrupted and heard == [0, 1]
    assert [json.loads(line)["n"] for line in stream.getvalue().splitlines()] == [0, 1]  # written before heard
    assert task.cleaned_up  # the generator was closed at once, not left for the garbage collector


def test_an_error_ends_the_run_but_the_document_is_still_closed() -> None:
    task = Counting(2, ConfigError("--out x: cannot write"))
    stream = io.StringIO()
    with pytest.raises(ConfigError):
        drive(task, (), [open_sink("json", stream, layout=ROWS)])
    assert json.loads(stream.getvalue())["summary"]["done"] == 2


def test_a_run_that_failed_as_a_whole_exits_1_unless_interrupted() -> None:
    from detect_cli.tasks.driver import Outcome

    assert Outcome(None, failed=True, incomplete=True).exit_code == ExitCode.UNEXPECTED
    assert Outcome(None, interrupted=True, failed=True).exit_code == ExitCode.INTERRUPTED
