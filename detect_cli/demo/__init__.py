"""Synthetic "shapes" scenes (installed: export checks and `demo.generate` use them) and, in a source
checkout only, the training recipes behind the packaged demo models (`train.py`, `train_rtdetr.py` and
`rtdetr-demo.yaml` are left out of the wheel: see pyproject.toml)."""
