"""Where a detect run's results go, decided and checked before any model loads.

One of four: the tables are the results (no --out, no data format); a data format to --out FILE or
stdout; a dataset folder for annotation tools (--format yolo --out DIR/); or, with Ray, a folder of
JSONL shards the workers write (--out DIR/ --engine ray). `DetectPlan.validate` makes it (the rules
are `OutputPlan.decide`'s), `claim` refuses outputs that would destroy or re-read an input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from detect_cli.core.errors import ConfigError

if TYPE_CHECKING:  # NumPy comes with the label formats: not for --help
    from detect_cli.outputs.label_formats import LabelOptions


@dataclass(frozen=True)
class OutputPlan:
    out_file: Path | None = None
    format: str | None = None  # a sink format; None: the tables are the results
    sharded: bool = False  # --out DIR/ with --engine ray: JSONL shards written by the workers
    labels: LabelOptions | None = None  # the options of a label format (yolo, coco-dataset, labelstudio)

    @property
    def tables_are_results(self) -> bool:
        """No --out, no data format: the tables on stdout are the results."""
        return self.format is None

    @property
    def regular_out(self) -> bool:
        """--out names a regular file (or a new one): only then a sidecar and a lock beside it."""
        from detect_cli.outputs.guards import is_regular_target

        return self.out_file is not None and not self.sharded and is_regular_target(self.out_file)

    @classmethod
    def decide(
        cls,
        fmt: str | None,
        out: str | Path | None,
        *,
        save: Path | None = None,
        resume: bool = False,
        attention: bool = False,
        ray: bool = False,
        save_conf: bool = False,
        image_root: str | None = None,
    ) -> OutputPlan:
        """The output of `--format fmt --out out` (either may be None), refused with the CLI's message
        when it does not go with the rest of the run."""
        from detect_cli.core.choices import LABEL_FORMATS
        from detect_cli.outputs.formats import FORMATS, TRACK_FORMATS, resolve_format

        text = None if out is None else str(out)
        out_file = Path(text) if text else None
        dataset = yolo_folder(fmt, text) is not None  # --out DIR/: a dataset folder for annotation tools
        sharded = not dataset and text is not None and (Path(text).is_dir() or text.endswith(("/", "\\")))
        if sharded and (not ray or fmt not in {None, "jsonl"} or resume or save or attention):
            raise ConfigError(
                f"--out {text}: a folder means sharded JSONL written by Ray workers",
                "use it with --engine ray alone (no --save/--resume), give a file name, "
                "or --format yolo for a YOLO dataset",
            )
        if resume and out_file is None:
            raise ConfigError("--resume needs --out FILE (the results to continue)", "e.g. --out results.jsonl")
        if sharded or dataset:
            chosen = "jsonl" if sharded else "yolo"
        else:
            resolved = resolve_format(fmt, out_file, FORMATS + TRACK_FORMATS + LABEL_FORMATS)
            chosen = None if resolved == "table" else resolved
        labels = label_options(chosen, save_conf=save_conf, image_root=image_root, ray=ray)
        return cls(out_file, chosen, sharded, labels)

    def claim(
        self,
        sources: Sequence[str],
        *,
        save: Path | None = None,
        save_crop: Path | None = None,
        recursive: bool = False,
        keep: Mapping[str, object] | None = None,
    ) -> AbstractContextManager[object]:
        """Refuse outputs that would destroy or re-read inputs or the files in `keep` (the model, the
        config...); returns the lock on --out FILE to hold while the run writes it (a second run writing
        it then fails at once). Before any model loads."""
        from detect_cli.outputs.guards import OutputLock, check_apart

        sources = list(sources)
        folder = self.format == "yolo"
        check_apart(sources, None if self.sharded or folder else self.out_file, save, recursive=recursive, keep=keep)
        if folder:  # the dataset folder is kept apart from the inputs as --save is
            check_apart(sources, None, self.out_file, recursive=recursive, save_flag="--out")
        if save_crop is not None:  # crops never land among the inputs (a later or recursive run would read them)
            check_apart(sources, None, save_crop, recursive=recursive, save_flag="--save-crop")
        if self.format == "mot":
            from detect_cli.outputs.mot import check_one_sequence

            check_one_sequence(sources, recursive=recursive)
        if (self.regular_out or folder) and self.out_file is not None:
            return OutputLock(self.out_file)
        return nullcontext()

    def table_limit(self, configured: int, flag: int | None) -> int:
        """Per-image tables go to stdout when they are the results; with --out only when --tables asks."""
        if self.tables_are_results:
            return configured
        return flag if flag is not None and self.out_file is not None else 0


def label_options(fmt: str | None, *, save_conf: bool, image_root: str | None, ray: bool) -> LabelOptions | None:
    """The options of a label format, None for the others; ConfigError for an option its format does not use."""
    from detect_cli.core.choices import LABEL_FORMATS
    from detect_cli.outputs.label_formats import LabelOptions

    if save_conf and fmt != "yolo":
        raise ConfigError("--save-conf adds a column to YOLO labels", "use it with --format yolo --out DIR/")
    if image_root is not None and fmt not in {"labelstudio", "coco-dataset"}:
        raise ConfigError(
            "--image-root says where Label Studio or a COCO tool finds the images",
            "use it with --format labelstudio or coco-dataset",
        )
    if fmt not in LABEL_FORMATS:
        return None
    if fmt == "yolo" and ray:
        raise ConfigError("--format yolo copies each image into the dataset: it runs locally", "drop --engine ray")
    return LabelOptions(save_conf=save_conf, image_root=image_root)


def yolo_folder(fmt: str | None, out: str | None) -> Path | None:
    """--out DIR/ of --format yolo (checked: new or empty), None for other formats."""
    if fmt != "yolo":
        return None
    if out is None:
        raise ConfigError("--format yolo writes a dataset folder", "give --out DIR/ (a new or empty folder)")
    from detect_cli.outputs.yolo_dataset import check_label_folder

    folder = Path(out)
    check_label_folder(folder)
    return folder
