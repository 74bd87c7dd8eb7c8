"""Where the model looks: per-detection maps (RT-DETR decoder cross-attention and AIFI encoder
self-attention, YOLO26 C2PSA self-attention; Grad-CAM and LayerCAM of the detection's own score;
D-RISE; Ultralytics' per-class LayerCAM for comparison), and how faithful each is (`metrics`)."""
