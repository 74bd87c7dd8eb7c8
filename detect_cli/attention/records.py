"""How `attention` records are written: one JSON record per image (its detections with each
method's figures), one CSV row per detection."""

from __future__ import annotations

from typing import Any

from detect_cli.outputs.records import Layout

BASE = ("index", "source", "frame", "time_s", "status", "error", "width", "height", "maps")
DETECTION = ("detection", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")
FIGURES = ("peak_x", "peak_y", "mass_in_box")


def attention_layout(methods: tuple[str, ...]) -> Layout:
    """The layout for a run that makes maps with `methods` (their figures become CSV columns)."""
    columns = (*BASE, *DETECTION, *(f"{m}_{f}" for m in methods for f in FIGURES))

    def rows(record: dict[str, Any]) -> list[dict[str, Any]]:
        base = {k: record.get(k) for k in BASE}
        out = []
        for j, det in enumerate(record.get("detections") or []):
            row = {
                **base,
                "detection": j,
                **{k: det[k] for k in ("class_id", "class_name", "confidence")},
                **dict(zip(("x1", "y1", "x2", "y2"), det["box"])),
            }
            for method in methods:
                fig = det.get(method)
                if isinstance(fig, dict):
                    row[f"{method}_peak_x"], row[f"{method}_peak_y"] = fig["peak_xy"]
                    row[f"{method}_mass_in_box"] = fig["mass_in_box"]
            out.append(row)
        return out or [base]  # an image without detections (or an error) still gets its row

    return Layout("images", columns, rows=rows)
