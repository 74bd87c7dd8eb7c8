"""detect's --zone, --zone-anchor, --heatmap and --heatmap-classes: flags to settings (the stage that
counts is made by the plan, `tasks/plan.py`). Nothing heavy is imported until a flag asks for it."""

from __future__ import annotations

from pathlib import Path

from detect_cli.core.errors import ConfigError
from detect_cli.tasks.plan import check_heatmap_classes, spatial_stage

__all__ = ["check_heatmap_classes", "spatial_flags", "spatial_stage"]


def spatial_flags(
    zones: list[str] | None, anchor: str | None, heatmap_classes: str | None, *, heatmap: Path | None = None
) -> dict[str, object]:
    """The flags as settings overrides (None: not given). A bad --zone is refused here, by its name, and
    --heatmap-classes without --heatmap (it would choose maps no one draws)."""
    if heatmap_classes is not None and heatmap is None:
        raise ConfigError(
            f"--heatmap-classes {heatmap_classes}: chooses --heatmap's maps, and --heatmap is not given",
            "add --heatmap DIR, or drop --heatmap-classes",
        )
    if zones:
        from detect_cli.core.polygons import parse_zones

        parse_zones(zones)
    return {"zones": tuple(zones) if zones else None, "zone_anchor": anchor, "heatmap_classes": heatmap_classes}
