"""16-bit mono WAV, the format every tts_chatterbox backend writes (and the join reads)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as little-endian int16 (clipped); integer samples as they are."""
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype("<i2")
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")


def write_wav(path: Path | str, samples: np.ndarray, rate: int) -> np.ndarray:
    """Write ``samples`` (float in [-1, 1], or int16 PCM) as a mono 16-bit WAV at ``rate``;
    returns the PCM written."""
    pcm = to_pcm16(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return pcm
