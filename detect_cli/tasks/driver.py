"""The one loop that runs every task: records to the sinks as they are done, Ctrl-C, and the exit code.

A task (detect, evaluate, compare, attention, export) is anything with
- `records(sources)`: an iterator of what it produces, each written to every sink as it comes;
- `summary(interrupted)`: its totals, called once after the records end, however they end;
- `incomplete()`: True when it finished but did not do all it was asked (failed inputs, files not written).

`drive` owns the rest, the same for every task: Ctrl-C stops the records and keeps what was written
(the sinks still get the summary, so a JSON document comes out whole), and `Outcome.exit_code` says
130 for an interrupted run, 1 for one that failed as a whole (an export that does not match its
model), 3 for an incomplete one, else 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from detect_cli.core.errors import ExitCode


class Task(Protocol):
    def records(self, sources: Iterable[Any]) -> Iterator[Any]: ...

    def summary(self, interrupted: bool = False) -> Any: ...

    def incomplete(self) -> bool: ...


class Writes(Protocol):
    def write(self, item: Any) -> None: ...

    def close(self, summary: Any) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """How a task's run ended: its summary, and whether Ctrl-C or a failed input cut it short."""

    summary: Any
    interrupted: bool = False
    incomplete: bool = False
    failed: bool = False  # what the run made is not fit to use (an export that does not match its model)

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failed:
            return ExitCode.UNEXPECTED
        return ExitCode.INPUTS_FAILED if self.incomplete else ExitCode.OK


def drive(
    task: Task,
    sources: Iterable[Any] = (),
    sinks: Sequence[Writes] = (),
    on_record: Callable[[Any], None] | None = None,
) -> Outcome:
    """Run `task` over `sources`: each record to every sink, then to `on_record` (progress, tables)."""
    records = task.records(sources)
    interrupted = False
    try:
        try:
            for record in records:
                for sink in sinks:
                    sink.write(record)
                if on_record is not None:
                    on_record(record)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (a video being written) runs now, not at exit
    finally:
        summary = task.summary(interrupted)
        for sink in sinks:
            sink.close(summary)
    return Outcome(summary, interrupted, task.incomplete())
