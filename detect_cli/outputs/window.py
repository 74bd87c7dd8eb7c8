"""--show: a window with the annotated pictures as they are made (OpenCV's highgui).

`display_problem()` says why no window can open here (no display, or an OpenCV built without its GUI:
the opencv-python-headless wheel), so the run can refuse before the model loads. `Window.show` returns
False once the user pressed q (or Esc) or closed the window: the run then stops as Ctrl-C stops it,
with every record written so far kept."""

from __future__ import annotations

import os
import re
import sys

import numpy as np

TITLE = "attn-detect"
STILL_MS = 300  # a still image stays this long (as Ultralytics' show does); video frames 1 ms
FRAME_MS = 1
MAX_SIDE = 1280  # the window opens at most this large; it can be resized
_QUIT_KEYS = {ord("q"), ord("Q"), 27}


def display_problem() -> str | None:
    """None when a window can open; else why not, in a sentence."""
    import cv2

    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is None or gui[1].upper() == "NONE":
        return (
            "this OpenCV has no GUI support (the opencv-python-headless build): "
            "pip install opencv-python in its place, or drop --show"
        )
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to open a window on ($DISPLAY is not set): run it in a desktop session, or drop --show"
    return None


class Window:
    def __init__(self, title: str = TITLE) -> None:
        self.title = title
        self._opened = False

    def show(self, picture: np.ndarray, caption: str = "", *, still: bool = False) -> bool:
        """Show `picture` (BGR); False when the user has closed the window or pressed q."""
        import cv2

        if not self._opened:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
            height, width = picture.shape[:2]
            scale = min(1.0, MAX_SIDE / max(height, width))
            cv2.resizeWindow(self.title, max(1, round(width * scale)), max(1, round(height * scale)))
            self._opened = True
        elif not self.is_open():
            return False
        cv2.imshow(self.title, picture)
        if caption:
            cv2.setWindowTitle(self.title, f"{self.title}: {caption}")
        key = cv2.waitKey(STILL_MS if still else FRAME_MS)
        return (key & 0xFF) not in _QUIT_KEYS and self.is_open()

    def is_open(self) -> bool:
        import cv2

        try:
            return bool(cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1)
        except cv2.error:  # destroyed
            return False

    def close(self) -> None:
        import cv2

        if self._opened:
            self._opened = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
