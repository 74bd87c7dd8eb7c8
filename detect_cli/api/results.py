"""What `detect_cli.Model` returns: one `Result` per image or video frame, and `Results`, their list.

A `Result` wraps the pipeline's `ImageResult` (the one result type every stage passes) with what a
script or a notebook wants of it: the boxes, their class names, counts per class, the annotated
picture (drawn as `--save` draws it), the record `--format jsonl` writes, supervision's type, and an
HTML view for Jupyter.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from typing import Any

import numpy as np

from detect_cli.core.detections import Detections
from detect_cli.core.results import ImageResult
from detect_cli.outputs.records import IMAGES
from detect_cli.outputs.sinks import rounded

HTML_MAX_SIDE = 640  # the notebook's picture is scaled down to this: a 4K frame need not be 20 MB of base64
HTML_MAX_ROWS = 50


class Result:
    """What one input (an image, or a video's frame) gave.

    `detections` (also `boxes`, as Ultralytics calls them): the boxes (`xyxy`, pixels of the
    original image), `confidence` and `class_id` as NumPy arrays; `class_names` names each box;
    `counts` the boxes per class name. `ok` is False for an input that could not be read (`error`
    says why): a batch goes on past it. `image` is the decoded picture (BGR), `plot()` it annotated."""

    def __init__(self, result: ImageResult, line_width: int | None = None) -> None:
        self._result = result
        self._line_width = line_width

    @property
    def detections(self) -> Detections:
        return self._result.detections

    boxes = detections

    @property
    def names(self) -> dict[int, str]:
        """The model's class names by class id."""
        return self._result.names

    @property
    def class_names(self) -> list[str]:
        """Each box's class name, in the order of `detections`."""
        return [self._result.class_name(int(c)) for c in self.detections.class_id]

    @property
    def counts(self) -> dict[str, int]:
        """Boxes per class name, most first (the CLI's per-class table)."""
        return dict(Counter(self.class_names).most_common())

    @property
    def source(self) -> str:
        """The input: its path or URL, or `<array N>` / `<PIL image N>` for an image given in memory."""
        return self._result.source

    @property
    def ok(self) -> bool:
        return self._result.ok

    @property
    def error(self) -> str | None:
        return self._result.error

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._result.all_warnings()

    @property
    def frame(self) -> int | None:
        """A video's frame number (0-based); None for a still image."""
        return self._result.frame

    @property
    def shape(self) -> tuple[int, int] | None:
        """(height, width) of the input; None when it could not be read."""
        r = self._result
        return None if r.height is None or r.width is None else (r.height, r.width)

    @property
    def image(self) -> np.ndarray | None:
        """The decoded picture (H, W, 3) BGR uint8, as the model saw it before resizing."""
        return self._result.image

    @property
    def image_result(self) -> ImageResult:
        """The pipeline's own result (what sinks and stages take)."""
        return self._result

    def plot(self, line_width: int | None = None) -> np.ndarray:
        """The picture with its boxes and labels drawn (BGR, a new array), as `--save` draws it."""
        from detect_cli.outputs.annotate import BoxAnnotator

        if self.image is None:
            raise ValueError(f"{self.source}: no picture to draw on ({self.error or 'its pixels were not kept'})")
        return BoxAnnotator(line_width or self._line_width).annotate(self.image, self.detections, self.names)

    def to_dict(self) -> dict[str, Any]:
        """The record `--format jsonl` writes for this input (index, source, status, boxes, timings)."""
        return rounded(IMAGES.record(self._result))  # type: ignore[no-any-return]

    def to_supervision(self) -> Any:
        """The boxes as `supervision.Detections`, class names in `data["class_name"]` (needs supervision)."""
        return self.detections.to_supervision(self.names)

    def __len__(self) -> int:
        return len(self.detections)

    def __repr__(self) -> str:
        if not self.ok:
            return f"Result({self.source!r}, error={self.error!r})"
        counts = ", ".join(f"{n} {name}" for name, n in self.counts.items()) or "nothing"
        return f"Result({self.source!r}, {len(self)} detection(s): {counts})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the annotated picture and a table of the boxes."""
        title = html.escape(self.source)
        if not self.ok:
            return f"<p><b>{title}</b>: {html.escape(self.error or 'error')}</p>"
        picture = f'<img src="data:image/png;base64,{png_base64(self.plot())}"/>' if self.image is not None else ""
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{conf:.2f}</td>" + "".join(f"<td>{v:.1f}</td>" for v in box) + "</tr>"
            for (box, conf, _), name in list(zip(self.detections, self.class_names))[:HTML_MAX_ROWS]
        )
        more = f"<p>and {len(self) - HTML_MAX_ROWS} more</p>" if len(self) > HTML_MAX_ROWS else ""
        head = "<tr><th>class</th><th>conf</th><th>x1</th><th>y1</th><th>x2</th><th>y2</th></tr>"
        return f"<div><p><b>{title}</b>: {len(self)} detection(s)</p>{picture}<table>{head}{rows}</table>{more}</div>"


class Results(list):  # type: ignore[type-arg]
    """The results of one call, in input order (a list of `Result`), with their totals."""

    @property
    def counts(self) -> dict[str, int]:
        """Boxes per class name over every result, most first."""
        total: Counter[str] = Counter()
        for result in self:
            total.update(result.counts)
        return dict(total.most_common())

    @property
    def failed(self) -> list[Result]:
        """The inputs that could not be read (each says why in `error`)."""
        return [r for r in self if not r.ok]

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every record, as `--format jsonl` writes them."""
        return [r.to_dict() for r in self]

    def _repr_html_(self) -> str:
        return "".join(r._repr_html_() for r in self)


def png_base64(image: np.ndarray) -> str:
    import cv2

    scale = HTML_MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", image)
    return base64.b64encode(data.tobytes()).decode("ascii") if ok else ""
