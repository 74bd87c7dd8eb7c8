"""Synthetic "shapes" data and the training script behind the bundled demo model."""
