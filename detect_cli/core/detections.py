"""`Detections`: the one value type every stage passes along (boxes of one image)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """Parallel arrays for N boxes, in pixels of the original (EXIF-upright) image.

    xyxy: (N, 4) float32, confidence: (N,) float32, class_id: (N,) int64; with tracking,
    track_id: (N,) int64, -1 for a box that belongs to no confirmed track (else None).
    extra: per-box arrays of any other stage, each of length N, kept in step by indexing and
    merging (as supervision's `data`): `tile` ((N, 4) window that found each box, -1s for the
    full-image pass) with --slice-tiles.
    metadata: facts about the whole set, not per box (as supervision's `metadata`): `attention`, the
    maps `detect --attention` made in the same pass; `caps` (core/caps.py), how --max-det bore on the image.
    Kept by indexing and tracking, not compared.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size and xyxy.shape != (4,) and (xyxy.ndim != 2 or xyxy.shape[1] != 4):
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        xyxy = xyxy.reshape(-1, 4)
        n = len(xyxy)
        conf = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        cls = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        tracks = None if self.track_id is None else np.asarray(self.track_id, dtype=np.int64).reshape(-1)
        for name, arr in (("confidence", conf), ("class_id", cls), ("track_id", tracks)):
            if arr is not None and len(arr) != n:
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        extra = {key: np.asarray(value) for key, value in self.extra.items()}
        for name, arr in extra.items():
            if len(arr) != n:
                raise ValueError(f"extra[{name!r}] must have {n} rows, got shape {arr.shape}")
        object.__setattr__(self, "extra", extra)
        object.__setattr__(self, "metadata", dict(self.metadata))
        object.__setattr__(self, "track_id", tracks)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        shared = set.intersection(*(set(p.extra) for p in parts))  # an extra some parts lack is dropped
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            extra={key: np.concatenate([p.extra[key] for p in parts]) for key in shared},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Detections:
        if isinstance(index, int):
            index = [index]
        tracks = None if self.track_id is None else self.track_id[index]
        extra = {key: value[index] for key, value in self.extra.items()}
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], tracks, extra, self.metadata)

    def with_tracks(self, track_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_id, track_id, self.extra, self.metadata)

    def with_extra(self, **arrays: np.ndarray) -> Detections:
        """The same boxes with more per-box arrays (replacing any of the same name)."""
        extra = {**self.extra, **arrays}
        return Detections(self.xyxy, self.confidence, self.class_id, self.track_id, extra, self.metadata)

    def with_metadata(self, **facts: Any) -> Detections:
        """The same boxes with facts about the set added (a value of None removes that fact)."""
        metadata = {k: v for k, v in {**self.metadata, **facts}.items() if v is not None}
        return Detections(self.xyxy, self.confidence, self.class_id, self.track_id, self.extra, metadata)

    def __iter__(self) -> Iterator[tuple[np.ndarray, float, int]]:
        for box, conf, cls in zip(self.xyxy, self.confidence, self.class_id):
            yield box, float(conf), int(cls)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            len(self) == len(other)
            and np.allclose(self.xyxy, other.xyxy, atol=1e-3)
            and np.allclose(self.confidence, other.confidence, atol=1e-5)
            and np.array_equal(self.class_id, other.class_id)
        )

    __hash__ = None  # type: ignore[assignment]

    def sorted_by_confidence(self) -> Detections:
        return self[np.argsort(-self.confidence, kind="stable")]

    def counts(self) -> dict[int, int]:
        ids, counts = np.unique(self.class_id, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def to_supervision(self, names: Mapping[int, str] | None = None) -> Any:
        """These boxes as `supervision.Detections` (class names, with `names`, in `data["class_name"]`,
        track ids as `tracker_id`, the per-box extras in `data`). Needs `pip install supervision`."""
        sv = _supervision()
        data = {key: np.asarray(value) for key, value in self.extra.items()}
        if names is not None:
            data["class_name"] = np.array([names.get(int(c), str(int(c))) for c in self.class_id], dtype=object)
        return sv.Detections(
            xyxy=self.xyxy.copy(),
            confidence=self.confidence.copy(),
            class_id=self.class_id.copy(),
            tracker_id=None if self.track_id is None else self.track_id.copy(),
            data=data,
        )

    @classmethod
    def from_supervision(cls, detections: Any) -> Detections:
        """`supervision.Detections` as ours (a missing confidence is 1, a missing class 0; `data` arrays
        other than class names become per-box extras). Masks are not kept: attn-detect works on boxes."""
        xyxy = np.asarray(getattr(detections, "xyxy", None))
        if xyxy.dtype == object:
            got = type(detections).__name__
            raise TypeError(f"Detections.from_supervision(detections): expected supervision.Detections, got {got}")
        n = len(xyxy)
        conf = detections.confidence if detections.confidence is not None else np.ones(n)
        cls_ids = detections.class_id if detections.class_id is not None else np.zeros(n)
        extra = {k: np.asarray(v) for k, v in (getattr(detections, "data", None) or {}).items() if k != "class_name"}
        return cls(xyxy, conf, cls_ids, detections.tracker_id, {k: v for k, v in extra.items() if len(v) == n})


def _supervision() -> Any:
    try:
        import supervision
    except ImportError:
        from detect_cli.core.errors import AttnDetectError

        raise AttnDetectError(
            "to_supervision needs the supervision package, which is not installed", "pip install supervision"
        ) from None
    return supervision
