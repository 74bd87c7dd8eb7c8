"""core/results.py: what one input produced, and what it could not write."""

from __future__ import annotations

from detect_cli.core.results import ImageResult, Unsaved, sequence_key


def test_unsaved_outputs_are_warnings_too_worded_by_their_kind() -> None:
    result = ImageResult("a.jpg", 0, warnings=("animated GIF: first frame of 3",))
    broken = result.not_saved(Unsaved.ANNOTATED, "No space left on device: out/a.jpg")
    assert result.unsaved == () and broken.unsaved == ((Unsaved.ANNOTATED, "No space left on device: out/a.jpg"),)
    assert broken.all_warnings() == (
        "animated GIF: first frame of 3",
        "annotated image not saved: No space left on device: out/a.jpg",
    )


def test_a_sequence_is_a_video_or_the_stills_of_one_folder() -> None:
    assert sequence_key(ImageResult("clip.mp4", 0, frame=7)) == "clip.mp4"
    assert sequence_key(ImageResult("shots/a/001.jpg", 0)) == sequence_key(ImageResult("shots/a/002.jpg", 1))
    assert sequence_key(ImageResult("shots\\b\\001.jpg", 2)) == "shots/b"
    assert sequence_key(ImageResult("shots/a/001.jpg", 0)) != sequence_key(ImageResult("shots/b/001.jpg", 1))
