"""`--zone NAME=X1,Y1,X2,Y2,...`: how many objects of each class are in an area, and for how long.

A box is in a zone when its anchor point is (bottom centre by default: where a person or a car
touches the ground; `--zone-anchor`). Per frame, each zone's occupancy per class; per track, when
it was first seen in the zone, when it was last seen leaving it, and how long it stayed.

Time in zone is measured between observations of the track, from the video's timestamps (so
`--vid-stride` and variable frame rates are right): two observations in a row inside the zone add
the time between them, an observation inside next to one outside adds half of it (the border was
crossed somewhere between). At the full frame rate a track inside for n frames stays n frame
durations; with `--vid-stride S` each border is placed within half a stride of where the full rate
puts it. A track counts one entry per zone however often its box jitters across the border (once
per track, as `--count-line` counts); time outside between visits is not time in the zone. A track
seen in fewer than `MIN_TRACK_FRAMES` frames is brief (mostly a detector's flicker): its event is
kept, marked, and it counts in the occupancy, but not in the entries, exits and times. A track last
seen inside that is seen no more (it left the frame through the zone, or was lost) left the zone at
its last sighting (`left_unseen`); one still inside at the sequence's last frame has not left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect_cli.core.polygons import Zone, anchor_points
from detect_cli.pipeline.video_stats import MIN_TRACK_FRAMES


@dataclass
class _Visit:
    """One track in one zone: what has been seen of it so far."""

    last_frame: int
    last_time: float | None
    inside: bool = False  # at its last observation
    class_votes: Counter[str] = field(default_factory=Counter)
    entered_frame: int | None = None  # the first frame it was seen inside
    entered_s: float | None = None
    left_frame: int | None = None  # the last frame it was seen outside just after being inside
    left_s: float | None = None
    dwell_frames: float = 0.0
    dwell_s: float = 0.0
    timed: bool = True  # every observation had a timestamp (a folder of frames has none)


@dataclass
class ZoneCounter:
    """Occupancy and visits of every zone within one sequence (a video, a stream, a folder of frames);
    `update` once per frame, in order."""

    zones: list[Zone]
    anchor: str = "bottom-center"
    frames: int = 0
    last_frame: int | None = None  # the latest frame counted
    _occupancy_max: dict[str, Counter[str]] = field(default_factory=dict, repr=False)
    _occupancy_sum: dict[str, Counter[str]] = field(default_factory=dict, repr=False)
    _visits: dict[tuple[str, int], _Visit] = field(default_factory=dict, repr=False)
    _seen: Counter[int] = field(default_factory=Counter, repr=False)  # frames each track was seen in

    def update(
        self,
        xyxy: np.ndarray,
        names: list[str],
        track_ids: np.ndarray | None,
        frame: int,
        time_s: float | None,
        size: tuple[int, int] | None = None,
    ) -> dict[str, dict[str, int]]:
        """The frame's boxes, their class names and track ids (-1: in no track; None: not tracked), its
        frame number and time, and its (width, height), which places zones given in percent (at the first
        frame). Returns the frame's occupancy: zone -> class -> boxes inside. Tracked runs count the
        tracked boxes only (an NMS-free head's double of one object is in no track)."""
        if size is not None and any(any(z.relative) for z in self.zones):
            self.zones = [z.in_frame(*size) for z in self.zones]
        self.frames += 1
        self.last_frame = frame
        points = anchor_points(xyxy, self.anchor)
        counted = np.ones(len(points), bool) if track_ids is None else np.asarray(track_ids) >= 0
        if track_ids is not None:
            self._seen.update(set(np.asarray(track_ids)[counted].tolist()))
        occupancy = {}
        for zone in self.zones:
            inside = zone.contains(points) & counted
            here = Counter(name for name, k in zip(names, inside) if k)
            occupancy[zone.name] = dict(sorted(here.items()))
            most = self._occupancy_max.setdefault(zone.name, Counter())
            total = self._occupancy_sum.setdefault(zone.name, Counter())
            for name, n in here.items():
                most[name] = max(most[name], n)
                total[name] += n
            if track_ids is not None:
                self._follow(zone.name, np.asarray(track_ids), inside, names, frame, time_s)
        return occupancy

    def _follow(
        self, zone: str, track_ids: np.ndarray, inside: np.ndarray, names: list[str], frame: int, time_s: float | None
    ) -> None:
        for track, now, name in zip(track_ids.tolist(), inside.tolist(), names):
            if track < 0:
                continue
            visit = self._visits.get((zone, track))
            if visit is None:
                visit = self._visits[(zone, track)] = _Visit(frame, time_s, timed=time_s is not None)
            else:
                share = (visit.inside + now) / 2  # both inside: the whole gap; one of the two: half of it
                visit.dwell_frames += share * (frame - visit.last_frame)
                if time_s is None or visit.last_time is None:
                    visit.timed = False
                else:
                    visit.dwell_s += share * (time_s - visit.last_time)
                if visit.inside and not now:
                    visit.left_frame, visit.left_s = frame, time_s
            if now:
                if visit.entered_frame is None:  # one entry per track, however often it goes in and out
                    visit.entered_frame, visit.entered_s = frame, time_s
                visit.class_votes[name] += 1
            visit.inside, visit.last_frame, visit.last_time = now, frame, time_s

    def visits(self) -> list[dict[str, Any]]:
        """One event per track that was in a zone: its class (the one it was given most often there),
        when it entered and last left (frame, seconds; null while it is still in), time in zone, and
        whether the track is brief (seen in fewer than MIN_TRACK_FRAMES frames in all: mostly a
        detector's flicker, left out of the counts as the videos table leaves it out of its objects)."""
        events = []
        for (zone, track), visit in self._visits.items():
            if visit.entered_frame is None:
                continue
            seconds = _rounded(visit.dwell_s) if visit.timed else None
            gone = visit.inside and visit.last_frame != self.last_frame  # last seen inside, then never again
            events.append(
                {
                    "zone": zone,
                    "track_id": track,
                    "class_name": visit.class_votes.most_common(1)[0][0],
                    "entered_frame": visit.entered_frame,
                    "entered_s": _rounded(visit.entered_s),
                    "left_frame": visit.last_frame if gone else visit.left_frame,
                    "left_s": _rounded(visit.last_time if gone else visit.left_s),
                    "left_unseen": gone,
                    "dwell_frames": round(visit.dwell_frames, 2),
                    "dwell_s": seconds,
                    "brief": self._seen[track] < MIN_TRACK_FRAMES,
                }
            )
        return sorted(events, key=lambda e: (e["zone"], e["entered_frame"], e["track_id"]))

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """zone -> class -> max and mean occupancy per frame, entries, exits, median and max time in zone
        (seconds when the frames have timestamps, else null; frames always)."""
        visits = self.visits()
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for zone in self.zones:
            entered = {e["class_name"] for e in visits if e["zone"] == zone.name and not e["brief"]}
            classes = set(self._occupancy_max.get(zone.name, ())) | entered
            out[zone.name] = {name: self._class_summary(zone.name, name, visits) for name in sorted(classes)}
        return out

    def _class_summary(self, zone: str, name: str, visits: list[dict[str, Any]]) -> dict[str, Any]:
        mine = [e for e in visits if e["zone"] == zone and e["class_name"] == name and not e["brief"]]
        seconds = [e["dwell_s"] for e in mine if e["dwell_s"] is not None]
        frames = [e["dwell_frames"] for e in mine]
        return {
            "max": self._occupancy_max.get(zone, Counter())[name],
            "mean": round(self._occupancy_sum.get(zone, Counter())[name] / max(self.frames, 1), 3),
            "entries": len(mine),
            "exits": sum(e["left_frame"] is not None for e in mine),
            "median_s": _rounded(float(np.median(seconds))) if seconds and len(seconds) == len(mine) else None,
            "max_s": _rounded(max(seconds)) if seconds and len(seconds) == len(mine) else None,
            "median_frames": round(float(np.median(frames)), 2) if frames else None,
            "max_frames": round(max(frames), 2) if frames else None,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "anchor": self.anchor,
            "frames": self.frames,
            "zones": {z.name: z.as_list() if not any(z.relative) else None for z in self.zones},
            "per_zone": self.summary(),
            "events": self.visits(),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
