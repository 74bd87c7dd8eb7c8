"""Where a command's results go, by one rule for every command.

`--format table|json|jsonl|csv` (and `coco` for detect) and `--out FILE` (the format from its
extension unless `--format` says) mean the same everywhere:

- table (the default, without --out): the command's tables on stdout are the results.
- a data format: the records go to --out FILE, or to stdout; the tables, for people, then go to
  stderr (none with --quiet).

The format is resolved in the library (`outputs/formats.resolve_format`); the file is checked against
the inputs, locked and opened here, and written through `sinks.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console

from detect_cli.cli.console import err, hold, out
from detect_cli.core.errors import ConfigError

if TYPE_CHECKING:  # NumPy comes with the sinks' layouts: not for --help
    from detect_cli.outputs.records import Layout
    from detect_cli.outputs.sinks import Sink

DATA_FORMATS = ("json", "jsonl", "csv")


@dataclass(frozen=True)
class Destination:
    fmt: str  # "table" or a sink format
    out_file: Path | None = None

    @classmethod
    def from_flags(
        cls, fmt: str | None, as_json: bool, out_file: Path | None, *, allowed: tuple[str, ...] = DATA_FORMATS
    ) -> Destination:
        from detect_cli.outputs.formats import resolve_format

        return cls(resolve_format(data_format(fmt, as_json), out_file, allowed), out_file)

    @property
    def tables_are_results(self) -> bool:
        return self.fmt == "table"

    def tables(self, quiet: bool) -> Console | None:
        """Where the human tables go: stdout when they are the results, else stderr, unless --quiet."""
        if self.tables_are_results:
            return out()
        return None if quiet else err()

    def claim(
        self,
        sources: list[str],
        save: Path | None = None,
        *,
        recursive: bool = False,
        keep: Mapping[str, object] | None = None,
    ) -> None:
        """Refuse an --out/--save that would destroy or re-read an input or one of the files in `keep`
        (the model, the config...), then lock --out FILE until the command ends (a second run writing
        it fails at once). Call before any model loads."""
        from detect_cli.outputs.guards import OutputLock, check_apart, is_regular_target

        check_apart(sources, self.out_file, save, recursive=recursive, keep=keep)
        if self.out_file is not None and is_regular_target(self.out_file):
            hold(OutputLock(self.out_file))

    def open(self, layout: Layout, meta: dict[str, Any] | None = None, *, append: bool = False) -> Sink | None:
        """The sink for the records (none for tables), its file held open until the command ends."""
        from detect_cli.outputs.formats import open_results, open_sink

        if self.tables_are_results:
            return None
        stream = hold(open_results(self.out_file, append)) if self.out_file is not None else _stdout()
        return open_sink(self.fmt, stream, meta, layout=layout, appending=append)


def data_format(fmt: str | None, as_json: bool) -> str | None:
    """--format, with --json as its shorthand (refused when the two disagree)."""
    if as_json and fmt not in {None, "json"}:
        raise ConfigError(f"--json and --format {fmt} disagree", "give one of them")
    return "json" if as_json else fmt


def _stdout() -> IO[str]:
    import sys

    return sys.stdout
