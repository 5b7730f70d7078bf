"""Evaluation: quality metrics of reconstructed videos and captions (see docs/metrics.md)."""
