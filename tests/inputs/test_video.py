"""Videos in the detect pipeline: frames, timestamps, strides, breaks, saving, resuming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detect_cli.cli.app import app
from detect_cli.core.detections import Detections
from detect_cli.core.results import Timing
from detect_cli.inputs.sources import Source, iter_sources
from detect_cli.inputs.video import VideoOptions, read_frames
from detect_cli.models.detector import PredictOptions
from detect_cli.outputs.image_saver import ImageSaver
from detect_cli.outputs.records import csv_rows, image_record
from detect_cli.outputs.video_saver import VideoSaver
from detect_cli.pipeline.engine import detect_stream
from tests.conftest import SAMPLES
from tests.helpers import kill_once_written
from tests.mp4_edit import faststart_cut_after_mdat_header, frame_ticks, with_frame_durations

FPS = 10.0


def write_video(path: Path, frames: int, *, size: tuple[int, int] = (64, 48), fourcc: str = "") -> Path:
    """Frame i is flat grey level 8*i (so a frame read back tells its number)."""
    fourcc = fourcc or ("MJPG" if path.suffix == ".avi" else "mp4v")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 8 * i % 256, np.uint8))
    writer.release()
    return path


def grey(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / 8)


class OneBoxDetector:
    """Stands in for a model: one box per image, its confidence the image's mean grey / 255."""

    names: ClassVar[dict[int, str]] = {0: "thing"}

    def predict(self, images: list[np.ndarray], options: PredictOptions) -> list[tuple[Detections, Timing]]:
        return [(Detections([[1, 1, 9, 9]], [float(i.mean()) / 255], [0]), Timing(inference=1.0)) for i in images]


def test_frames_and_timestamps_with_stride_and_range(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 30)
    frames = list(read_frames(Source(str(video), "v.mp4")))
    assert [f.number for f in frames] == list(range(30)) and all(f.error is None for f in frames)
    assert [grey(f.pixels) for f in frames] == list(range(30))
    assert frames[7].time_s == pytest.approx(0.7)

    strided = list(read_frames(Source(str(video), "v.mp4"), VideoOptions(stride=4)))
    assert [f.number for f in strided] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert [grey(f.pixels) for f in strided] == [0, 4, 8, 12, 16, 20, 24, 28]

    ranged = list(read_frames(Source(str(video), "v.mp4"), VideoOptions(stride=3, start_s=0.5, end_s=1.5)))
    assert [f.number for f in ranged] == [5, 8, 11, 14]
    assert [f.time_s for f in ranged] == pytest.approx([0.5, 0.8, 1.1, 1.4])
    assert [grey(f.pixels) for f in ranged] == [5, 8, 11, 14]  # a seek lands on the frame itself


def test_resume_point_keeps_the_stride(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 30)
    after = list(read_frames(Source(str(video), "v.mp4"), VideoOptions(stride=4), after=12))
    assert [f.number for f in after] == [16, 20, 24, 28] and [grey(f.pixels) for f in after] == [16, 20, 24, 28]
    assert list(read_frames(Source(str(video), "v.mp4"), VideoOptions(stride=4), after=28)) == []


def test_video_in_a_stream_of_images_gives_one_record_per_frame(tmp_path: Path) -> None:
    """Images and a video through the same engine: frames share the video's index, in order."""
    video = write_video(tmp_path / "clip.mp4", 9)
    (tmp_path / "a.jpg").write_bytes((SAMPLES / "bus.jpg").read_bytes())
    inputs = iter_sources([str(tmp_path / "a.jpg"), str(video), str(SAMPLES / "zidane.jpg")])
    results = list(detect_stream(inputs, OneBoxDetector(), PredictOptions(), batch=4, video=VideoOptions(stride=2)))
    assert [(r.index, r.frame) for r in results] == [(0, None), *((1, f) for f in (0, 2, 4, 6, 8)), (2, None)]
    frame = image_record(results[2])
    assert (frame["frame"], frame["time_s"], frame["source"]) == (2, 0.2, str(video))
    assert round(frame["detections"][0]["confidence"] * 255 / 8) == 2  # its own pixels
    assert "frame" not in image_record(results[0])  # a still image's record is unchanged
    assert csv_rows(results[2])[0]["frame"] == 2 and csv_rows(results[0])[0]["frame"] is None


def test_truncated_video_gives_frames_up_to_the_break_then_one_error(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "whole.avi", 40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    after = write_video(tmp_path / "after.avi", 3)
    results = list(detect_stream([Source(str(cut), "cut.avi"), Source(str(after), "after.avi")], OneBoxDetector()))
    broken = [r for r in results if r.index == 0]
    good, error = broken[:-1], broken[-1]
    assert 5 < len(good) < 40 and all(r.ok for r in good)
    assert [r.frame for r in good] == list(range(len(good)))
    assert not error.ok and error.frame == len(good) and f"frame {len(good)} of the 40" in error.error
    assert [r.frame for r in results if r.index == 1] == [0, 1, 2]  # the run goes on


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_video_is_one_error_record(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    [result] = list(detect_stream([Source(str(bad), "bad.mp4")], OneBoxDetector()))
    assert not result.ok and result.frame is None and "cannot open video" in result.error


def test_a_time_range_after_the_end_says_so(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 20)  # 2 s at 10 frames/s
    [result] = list(detect_stream([Source(str(video), "v.mp4")], OneBoxDetector(), video=VideoOptions(start_s=5)))
    assert not result.ok and result.error == "the time range starts after the video's end (20 frames, 2.0 s)"


def test_a_video_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    """Frames are held to the images' max_pixels: a 64x48 video under a 3,000-pixel limit is one
    error record and nothing is decoded; the next input still runs."""
    from detect_cli.inputs.images import ReadOptions

    big, small = write_video(tmp_path / "big.mp4", 3), write_video(tmp_path / "small.mp4", 2, size=(32, 24))
    detector = OneBoxDetector()
    results = list(
        detect_stream(
            [Source(str(big), "big.mp4"), Source(str(small), "small.mp4")],
            detector,
            read_options=ReadOptions(max_pixels=3000),
        )
    )
    assert [(r.index, r.frame, r.ok) for r in results] == [(0, None, False), (1, 0, True), (1, 1, True)]
    assert "64x48 = " in results[0].error and "max_pixels" in results[0].error


def test_folders_and_globs_find_videos(tmp_path: Path) -> None:
    write_video(tmp_path / "b.mkv", 2)
    write_video(tmp_path / "a.mp4", 2)
    (tmp_path / "notes.txt").write_text("x")
    assert [s.name for s in iter_sources([str(tmp_path)])] == ["a.mp4", "b.mkv"]
    assert [s.name for s in iter_sources([str(tmp_path / "*.mkv")])] == ["b.mkv"]
    stream, cam, bad = iter_sources(["rtsp://cam.local:554/live", "webcam:0", "webcam:x"])
    assert stream.is_url and not stream.error and stream.name == "cam.local_live.mp4"
    assert cam.name == "webcam_0.mp4" and not cam.error
    assert "number" in bad.error


def test_stream_reconnects_then_gives_up_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream that drops twice is re-opened (frame numbers go on); one that never comes back ends
    with one error record after the allowed reconnects, without hanging."""
    from detect_cli.inputs import video

    sessions = iter([[1, 2, 3], [4, 5], []])  # frames each connection gives before it drops

    class FakeCapture:
        def __init__(self, frames: list[int]) -> None:
            self.frames = list(frames)

        def isOpened(self) -> bool:
            return True

        def read(self) -> tuple[bool, np.ndarray | None]:
            if not self.frames:
                return False, None
            return True, np.full((4, 4, 3), self.frames.pop(0), np.uint8)

        def release(self) -> None:
            pass

    monkeypatch.setattr(video, "_open", lambda ref, options: FakeCapture(next(sessions, [])))
    options = VideoOptions(reconnects=2, reconnect_wait_s=0.01)
    frames = list(read_frames(Source("rtsp://cam/live", "cam.mp4", is_url=True), options))
    assert [f.number for f in frames] == [0, 1, 2, 3, 4, 5]
    assert [int(f.pixels[0, 0, 0]) for f in frames[:-1]] == [1, 2, 3, 4, 5]
    assert frames[-1].error and "stream lost at frame 5" in frames[-1].error and "2 reconnect" in frames[-1].error


def test_annotated_video_has_every_frame_and_never_replaces_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip.mp4").write_bytes(b"the user's own file")
    saver = VideoSaver(ImageSaver(out))
    for n in range(12):
        saver.add(0, "in/clip.avi", "clip.avi", np.full((48, 64, 3), n * 10, np.uint8), n / 5)
    saver.close()
    assert (out / "clip.mp4").read_bytes() == b"the user's own file"
    capture = cv2.VideoCapture(str(out / "clip_1.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12 and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (64, 48)
    capture.release()


# --- with the demo model (slow) -------------------------------------------------------------------------------

DEMO = ["--model", "demo", "--imgsz", "96", "--threads", "1", "--backend", "torch"]


def test_cli_video_records_summary_and_saved_video(demo_clip: Path, tmp_path: Path) -> None:
    out, saved = tmp_path / "r.jsonl", tmp_path / "saved"
    result = CliRunner().invoke(
        app, [str(demo_clip), *DEMO, "--out", str(out), "--save", str(saved), "--vid-stride", "2"]
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(0, 24, 2))
    assert "Videos" in result.stderr and "detections" in result.stderr and "ms/frame" in result.stderr
    capture = cv2.VideoCapture(str(saved / "clip.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 12  # every processed frame, at the input's rate / 2
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.5)
    capture.release()


def test_kill_mid_video_then_resume_gives_each_frame_once(demo_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "detect_cli", str(demo_clip), *DEMO, "--out", str(out), "--quiet", "--track"]
    kill_once_written(cmd, out, 4)
    before = [json.loads(line) for line in out.read_text().splitlines()]
    assert 4 <= len(before) < 24, "the kill should land part-way"
    with open(out, "a") as fh:  # what a crash mid-write leaves behind
        fh.write('{"index": 0, "source": "half a rec')

    result = CliRunner().invoke(app, [str(demo_clip), *DEMO, "--out", str(out), "--resume", "--track"])
    assert result.exit_code == 0, result.stderr
    assert "continued after their last frame" in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["frame"] for r in records) == list(range(24))  # each frame exactly once
    ids_before = {d["track_id"] for r in before for d in r["detections"]} - {None}
    ids_after = {d["track_id"] for r in records[len(before) :] for d in r["detections"]} - {None}
    assert ids_before and ids_after and max(ids_before) < min(ids_after)  # new tracks, never a reused id


@pytest.fixture
def demo_clip(tmp_path: Path, demo) -> Path:
    """24 frames of moving shapes (the demo model's world), 25 fps."""
    from detect_cli.demo.videos import write_video as write_shapes

    return write_shapes(tmp_path / "clip.mp4", 24, seed=3, size=160)[0]


@pytest.fixture(scope="session")
def demo() -> None:
    """Marks the tests that run the packaged demo model as slow (conftest.SLOW_FIXTURES)."""


@pytest.mark.slow  # the demo model runs
def test_an_http_video_url_reads_like_the_file(http_server: str, tmp_path: Path) -> None:
    """Through FFmpeg's own http client, from a server that serves byte ranges (an mp4 keeps its
    index at the end); the same frames and boxes as the file on disk."""
    runs = {}
    for name, source in (("url", f"{http_server}/clip.mp4"), ("file", str(SAMPLES / "video" / "shapes.mp4"))):
        out = tmp_path / f"{name}.jsonl"
        result = CliRunner().invoke(app, [source, *DEMO, "--vid-stride", "25", "--out", str(out)])
        assert result.exit_code == 0, result.stderr
        runs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in runs["url"]] == [0, 25, 50, 75]
    assert [r["source"] for r in runs["url"]] == [f"{http_server}/clip.mp4"] * 4
    strip = [{k: v for k, v in r.items() if k not in ("source", "speed_ms")} for r in runs["url"]]
    assert strip == [{k: v for k, v in r.items() if k not in ("source", "speed_ms")} for r in runs["file"]]


@pytest.mark.slow  # the demo model runs
def test_a_video_url_ffmpeg_cannot_read_is_one_line_not_ffmpeg_noise(http_server: str, tmp_path: Path) -> None:
    """A server that ignores Range leaves FFmpeg without the mp4's index: one error record and one
    line on stderr, with --quiet; FFmpeg's and OpenCV's own messages only with --verbose."""
    still = sorted((SAMPLES / "shapes").glob("*.jpg"))[0]
    url = f"{http_server}/clip-no-ranges.mp4"
    code = "import sys; from detect_cli.cli.app import app; sys.argv[0] = 'attn-detect'; app()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # as a user's shell has it
    run = subprocess.run(
        [sys.executable, "-c", code, url, str(still), *DEMO, "--format", "jsonl", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 3, run.stderr
    assert [r["status"] for r in records] == ["error", "ok"] and "frame 0" in records[0]["error"]
    assert run.stderr.splitlines() == [f"warning: {url}: {records[0]['error']}"]
    verbose = subprocess.run(
        [sys.executable, "-c", code, url, *DEMO, "--format", "jsonl", "--verbose"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "partial file" in verbose.stderr or "moov" in verbose.stderr  # FFmpeg's own words, when asked for


@pytest.mark.slow  # the demo model runs
def test_an_hls_playlist_url_is_a_video(http_server: str, tmp_path: Path) -> None:
    """And a playlist (or a redirect) that points at a local file is not followed: FFmpeg keeps a
    remote source to http(s), whatever the server says, so a URL cannot read this machine's files."""
    out = tmp_path / "r.jsonl"
    url = f"{http_server}/hls/index.m3u8"
    result = CliRunner().invoke(
        app,
        [
            url,
            f"{http_server}/hls/evil.m3u8",
            f"{http_server}/to-file-video.mp4",
            *DEMO,
            "--vid-stride",
            "25",
            "--out",
            str(out),
        ],
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.exit_code == 3, result.stderr
    assert [(r["source"], r["frame"]) for r in records[:4]] == [(url, f) for f in (0, 25, 50, 75)]
    assert all(r["status"] == "ok" and r["detections"] for r in records[:4])
    assert records[4]["status"] == "error" and records[4]["source"].endswith("evil.m3u8")  # FFmpeg refuses file://
    assert records[5]["status"] == "error" and "cannot open" in records[5]["error"]  # the redirect to a real video
    assert len(records) == 6


@pytest.mark.parametrize("stride", [1, 3, 7])
@pytest.mark.parametrize(
    ("start", "end", "after"), [(0.0, None, None), (0.55, None, None), (0.0, 1.7, None), (0.3, 1.7, 5), (0.0, None, 18)]
)
def test_the_progress_total_is_the_frames_read(
    tmp_path: Path, stride: int, start: float, end: float | None, after: int | None
) -> None:
    """`frames_to_run` (the bar's total, from the header) agrees with what `read_frames` gives."""
    from detect_cli.inputs.video import frames_to_run

    video = write_video(tmp_path / "v.mp4", 20)  # 2 s at 10 frames/s
    options = VideoOptions(stride=stride, start_s=start, end_s=end)
    read = [f for f in read_frames(Source(str(video), "v.mp4"), options, after=after) if f.error is None]
    assert frames_to_run(str(video), options, after=after) == len(read)


def test_a_variable_rate_video_gives_each_frame_its_own_time(tmp_path: Path) -> None:
    """Ten frames at 20 frames/s, then ten at 6.7 (the average is 10): frame 15 is at 1.25 s, not 1.5."""
    cfr = write_video(tmp_path / "cfr.mp4", 20)
    tick = frame_ticks(cfr)
    video = with_frame_durations(cfr, tmp_path / "vfr.mp4", [tick // 2] * 10 + [tick * 3 // 2] * 10)
    own = [k * 0.05 for k in range(11)] + [0.5 + k * 0.15 for k in range(1, 10)]
    frames = list(read_frames(Source(str(video), "vfr.mp4")))
    assert [f.number for f in frames] == list(range(20))
    assert [f.time_s for f in frames] == pytest.approx(own)
    ranged = list(read_frames(Source(str(video), "vfr.mp4"), VideoOptions(start_s=1.2, end_s=1.6)))
    assert [f.time_s for f in ranged] == pytest.approx([1.25, 1.4, 1.55])  # by the frames' times
    assert [grey(f.pixels) for f in ranged] == [15, 16, 17]
    strided = list(read_frames(Source(str(video), "vfr.mp4"), VideoOptions(start_s=0.3, end_s=0.9, stride=2)))
    assert [grey(f.pixels) for f in strided] == [6, 8, 10, 12]


@pytest.mark.parametrize("frames", [1, 30])
def test_a_video_that_opens_but_decodes_no_frame_is_one_error(tmp_path: Path, frames: int) -> None:
    """A faststart MP4 cut right after its mdat header: the index is there, the frames are not."""
    cut = faststart_cut_after_mdat_header(write_video(tmp_path / "v.mp4", frames), tmp_path / "cut.mp4")
    got = list(read_frames(Source(str(cut), "cut.mp4")))
    assert len(got) == 1 and got[0].pixels is None
    assert got[0].error is not None
    assert "no frame could be decoded" in got[0].error or "ends at frame 0 of the 30" in got[0].error
