"""Every list of choices a setting or flag takes, defined once: the settings validate against these,
the modules that act on them import them, and the CLI builds its option types from them.

Plain tuples of strings: importing this costs nothing (the CLI's --help reads it).
"""

from __future__ import annotations

BACKENDS = ("auto", "torch", "openvino", "onnx")  # auto: the fastest runtime verified on this machine
# int8: an OpenVINO model quantized here (NNCF), run only once it passes the accuracy gate (models/int8_gate.py)
PRECISIONS = ("fp32", "int8")
# how a picture is put into the network's input: rect = at its own aspect (the smallest stride multiple that
# holds it), square = padded (YOLO) or stretched (RT-DETR) to imgsz x imgsz; auto = rect for YOLO, square for
# RT-DETR, as measured on non-square labelled scenes (benchmarks/bench_shape.py)
LETTERBOXES = ("auto", "square", "rect")
SLICE_MERGES = ("nms", "nmm")  # nms: keep the best box of a group; nmm: grow it to the union of the group
SLICE_MATCHES = ("iou", "ios")  # ios: intersection over the smaller box (a tile's cut-off part of an object)
# BoT-SORT is the default: on the 1,000-frame generated clip (benchmarks/bench_video.py) it scores IDF1 0.824
# with 21 ID switches against ByteTrack's 0.811 and 25, at the same cost (about 1 ms a frame).
TRACKERS = ("botsort", "bytetrack")
RESULT_FORMATS = ("json", "jsonl", "csv", "coco")  # every one holds every record (tests check them alike)
TRACK_FORMATS = ("mot",)  # rows of one sequence (outputs/mot.py): boxes only, no error records
# for annotation tools (outputs/label_formats.py): boxes only, no error records; yolo writes a folder
LABEL_FORMATS = ("yolo", "coco-dataset", "labelstudio")
OUTPUT_FORMATS = ("table", *RESULT_FORMATS, *TRACK_FORMATS, *LABEL_FORMATS)  # table: for people, on stdout
ENGINES = ("local", "ray")
# --zone-anchor: the point of a box that must be in a zone; bottom-center is where people and cars touch the ground
ZONE_ANCHORS = ("bottom-center", "center", "top-center", "bottom-left", "bottom-right")
# --redact-style: how a redacted box is hidden (outputs/redact.py); every one leaves no detail inside the box
REDACT_STYLES = ("blur", "pixelate", "fill")
