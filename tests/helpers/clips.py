"""Synthetic clips for scheme tests: small, deterministic and with motion."""
from __future__ import annotations

import numpy as np


def clip_frames(t: int = 8, size: int = 64) -> np.ndarray:
    """uint8 t x size x size x 3: a striped background and a yellow square moving 3 pixels right
    per frame."""
    yy, xx = np.mgrid[:size, :size]
    frames = np.empty((t, size, size, 3), np.uint8)
    for i in range(t):
        img = np.stack([120 + 60 * np.sin(0.3 * xx + 0.1 * c) for c in range(3)], axis=-1)
        x0 = 8 + 3 * i
        img[20:40, x0:x0 + 16] = (240, 220, 40)
        frames[i] = np.clip(img, 0, 255)
    return frames
