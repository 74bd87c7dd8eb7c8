"""attn-detect: a command-line object detector over Ultralytics YOLO26 and RT-DETR."""

__version__ = "0.1.0"
