"""outputs/window.py: the refusal where no window can open (the window itself: tests/cli/test_show.py, under Xvfb)."""

from __future__ import annotations

import sys

import cv2
import pytest

from detect_cli.outputs import window


def test_no_display_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("$DISPLAY is how Linux says there is a screen")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = window.display_problem()
    assert problem is not None and "$DISPLAY" in problem and "\n" not in problem


def test_a_headless_opencv_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    headless = "General configuration\n  GUI:                           NONE\n  Media I/O:\n"
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: headless)
    problem = window.display_problem()
    assert problem is not None and "opencv-python-headless" in problem


def test_a_gui_build_with_a_display_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           QT5\n")
    assert window.display_problem() is None
