"""What `Model.explain` returns: one `Explanation` per image or video frame, and `Explanations`, their list.

An `Explanation` is a `Result` (the boxes, class names, counts, the picture) with the attention maps
behind each box: `to_dict()` is the record `attn-detect attention --format jsonl` writes, `plot()` the
first whole-image map over the picture with the boxes (as the overlays `--save` writes), and a notebook
shows that picture and the table of boxes with their attention figures.
"""

from __future__ import annotations

import copy
import html
from typing import TYPE_CHECKING, Any

from detect_cli.api.results import HTML_MAX_ROWS, Result, Results, png_base64

if TYPE_CHECKING:
    import numpy as np

    from detect_cli.attention.run import ImageAttention
    from detect_cli.core.results import ImageResult


class Explanation(Result):
    """One input's attention maps. `maps`: method -> one map per detection (float arrays, the image's
    size); `image_maps`: method -> the whole image's map; `layer`: where the maps were taken; `record`
    entries by key (`explanation["detections"]`), as in the JSONL record."""

    def __init__(self, record: dict[str, Any], result: ImageResult) -> None:
        super().__init__(result)
        self._record = record
        explained = result.detections.metadata.get("attention")
        self._attention: ImageAttention | None = None if isinstance(explained, Exception) else explained

    @property
    def ok(self) -> bool:
        return self._record["status"] == "ok"

    @property
    def error(self) -> str | None:
        return self._record["error"]  # type: ignore[no-any-return]

    @property
    def layer(self) -> str | None:
        return self._record["maps"]  # type: ignore[no-any-return]

    @property
    def maps(self) -> dict[str, list[np.ndarray]]:
        return dict(self._attention.maps) if self._attention is not None else {}

    @property
    def image_maps(self) -> dict[str, np.ndarray]:
        return dict(self._attention.image_maps) if self._attention is not None else {}

    def plot(self, line_width: int | None = None) -> np.ndarray:
        """The first whole-image map over the picture, with every box (BGR, a new array)."""
        from detect_cli.attention.overlays import image_overlay

        if self.image is None or self._attention is None or not self._attention.image_maps:
            raise ValueError(f"{self.source}: no map to draw ({self.error or 'nothing was explained'})")
        return image_overlay(self.image, next(iter(self._attention.image_maps.values())), self._attention)

    def to_dict(self) -> dict[str, Any]:
        """The record `attn-detect attention --format jsonl` writes for this input (a copy)."""
        return copy.deepcopy(self._record)

    def __getitem__(self, key: str) -> Any:
        return copy.deepcopy(self._record[key])

    def __repr__(self) -> str:
        if not self.ok:
            return f"Explanation({self.source!r}, error={self.error!r})"
        return f"Explanation({self.source!r}, {len(self._record['detections'])} detection(s), maps={self.layer!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the map over the picture and a table of the boxes with their attention figures."""
        title = html.escape(self.source)
        if not self.ok:
            return f"<p><b>{title}</b>: {html.escape(self.error or 'error')}</p>"
        detections = self._record["detections"]
        picture = ""
        if self.image is not None and self.image_maps:
            picture = f'<img src="data:image/png;base64,{png_base64(self.plot())}"/>'
        methods = list(self.maps)
        head = "<tr><th>class</th><th>conf</th>" + "".join(
            f"<th>{html.escape(m)}: mass in box</th><th>peak in box</th>" for m in methods
        )
        rows = "".join(
            f"<tr><td>{html.escape(d['class_name'])}</td><td>{d['confidence']:.2f}</td>"
            + "".join(f"<td>{d[m]['mass_in_box']:.3f}</td><td>{d[m]['peak_in_box']}</td>" for m in methods if m in d)
            + "</tr>"
            for d in detections[:HTML_MAX_ROWS]
        )
        more = f"<p>and {len(detections) - HTML_MAX_ROWS} more</p>" if len(detections) > HTML_MAX_ROWS else ""
        count = f"{len(detections)} detection(s), maps: {html.escape(str(self.layer))}"
        return f"<div><p><b>{title}</b>: {count}</p>{picture}<table>{head}</tr>{rows}</table>{more}</div>"


class Explanations(Results):
    """`Model.explain`'s answer: one `Explanation` per input, in input order."""

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every record, as `attn-detect attention --format jsonl` writes them."""
        return [e.to_dict() for e in self]
