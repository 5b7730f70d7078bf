"""Evaluation: quality metrics of reconstructed videos and captions (see docs/metrics.md).

- :func:`video_metrics`: PSNR, SSIM, MS-SSIM (semcom_models.metrics) plus LPIPS, DISTS and CLIP
  scores when their weights are found locally; the others are reported as skipped, with reasons.
- :func:`caption_metrics`: BLEU-4, ROUGE-L and (with a local encoder) BERTScore.
- Downstream-task hooks: :func:`register_task` and the task builders in :mod:`.suite`.
"""
from .suite import (
                    aggregate,
                    caption_metrics,
                    captioning_task,
                    classification_task,
                    depth_errors,
                    depth_task,
                    register_task,
                    registered_tasks,
                    run_tasks,
                    unregister_task,
                    video_metrics,
)

__all__ = ["aggregate", "caption_metrics", "captioning_task", "classification_task", "depth_errors", "depth_task",
           "register_task", "registered_tasks", "run_tasks", "unregister_task", "video_metrics"]
