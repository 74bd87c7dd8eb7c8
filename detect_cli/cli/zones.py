"""detect's --zone, --zone-anchor, --heatmap and --heatmap-classes: flags to settings, settings to the
stage that counts (`pipeline/spatial.py`). Nothing heavy is imported until a flag asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from detect_cli.core.errors import ConfigError

if TYPE_CHECKING:
    from detect_cli.core.settings import DetectSettings
    from detect_cli.pipeline.spatial import SpatialStage


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


def spatial_stage(settings: DetectSettings, heatmap: Path | None, *, ray: bool) -> SpatialStage | None:
    """The run's zones and heatmaps (from the flags or the config file), or None when it has neither."""
    if not settings.zones and heatmap is None:
        return None
    if ray:
        raise ConfigError(
            "--zone and --heatmap run locally only (they follow each video frame by frame)", "drop --engine ray"
        )
    if heatmap is not None and heatmap.exists() and not heatmap.is_dir():
        raise ConfigError(f"--heatmap {heatmap}: exists and is not a folder", "pass a folder path")
    from detect_cli.core.polygons import parse_zones
    from detect_cli.pipeline.heatmap import parse_heatmap_classes
    from detect_cli.pipeline.spatial import SpatialStage

    return SpatialStage(
        parse_zones(settings.zones or ()),
        settings.zone_anchor,
        parse_heatmap_classes(settings.heatmap_classes) if heatmap is not None else None,
    )


def check_heatmap_classes(stage: SpatialStage | None, names: dict[int, str]) -> None:
    """--heatmap-classes names classes this model knows (or all / each); ConfigError otherwise."""
    import difflib

    from detect_cli.pipeline.heatmap import ALL, EACH

    known = {n.lower(): n for n in names.values()}
    for item in stage.heatmap or () if stage is not None else ():
        if item in (ALL, EACH) or item in names.values():
            continue
        close = difflib.get_close_matches(item.lower(), known, n=3)
        hint = f"did you mean {', '.join(known[c] for c in close)}?" if close else "give all, each, or class names"
        raise ConfigError(f"--heatmap-classes: unknown class '{item}' for this model", hint)
