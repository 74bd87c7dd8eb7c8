"""Where the model looks: per-detection attention maps (RT-DETR decoder cross-attention, YOLO26
C2PSA self-attention), Ultralytics' LayerCAM for comparison, and a deletion test of faithfulness."""
