"""Perceptual hashes of pictures, for near-duplicate detection (see recent_index_sqlite).

imagehash.phash's algorithm (grey 32x32 Lanczos, 2-D DCT, the 8x8 low band against its
median) in numpy, so the project needs no scipy: hashes match ``str(imagehash.phash(img))``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def _dct_matrix(size: int, keep: int) -> np.ndarray:
    # scipy.fftpack.dct's unnormalised type II, first ``keep`` rows: what imagehash uses
    k = np.arange(keep)[:, None]
    n = np.arange(size)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT = _dct_matrix(32, 8)


def phash(data: bytes) -> str:
    """64-bit perceptual hash of a picture (PNG/JPEG bytes) as 16 hex digits."""
    with Image.open(io.BytesIO(data)) as img:
        grey = img.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    low = _DCT @ np.asarray(grey, dtype=np.float64) @ _DCT.T
    bits = (low > np.median(low)).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"
