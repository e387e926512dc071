"""Join a dialogue's line WAVs into the step's one WAV: lines in order, a short pause between.

A multi-line tts step is spoken line by line (each line its own WAV, its own voice), but
whoever names the step (``step:ID``: a lipsync, the assembler) wants its whole audio. Lines
spoken by different providers may differ in sample rate or channels; the joined WAV takes the
first line's rate, mono, 16-bit, and every other line is resampled to it (linear; speech
providers here write 16-24 kHz mono, so this is rarely more than a copy).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from sparkle_motion.function_tools.tts_chatterbox.wav import write_wav

LINE_GAP_S = 0.45
"""Silence between two lines: a conversational beat, long enough to hear a new speaker."""


def _read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise ValueError(f"{path.name}: {8 * width}-bit WAV is not supported")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples, rate


def _resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target or not len(samples):
        return samples
    n = max(1, round(len(samples) * target / rate))
    return np.interp(np.arange(n) * rate / target, np.arange(len(samples)), samples).astype(
        np.float32
    )


def join_wavs(paths: list[Path], out_path: Path, gap_s: float = LINE_GAP_S) -> dict:
    """Write the lines at ``paths`` one after another into ``out_path``.

    Returns ``duration_s``, ``sample_rate`` and ``offsets_s`` (where each line starts in the
    joined WAV; a line keeps its own timings relative to that).
    """
    if not paths:
        raise ValueError("no lines to join")
    pieces: list[np.ndarray] = []
    offsets: list[float] = []
    rate = 0
    total = 0
    for i, path in enumerate(paths):
        samples, own_rate = _read(Path(path))
        rate = rate or own_rate
        if i:
            gap = np.zeros(round(gap_s * rate), np.float32)
            pieces.append(gap)
            total += len(gap)
        offsets.append(total / rate)
        samples = _resample(samples, own_rate, rate)
        pieces.append(samples)
        total += len(samples)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pcm = write_wav(out_path, np.concatenate(pieces), rate)
    return {
        "duration_s": len(pcm) / rate,
        "sample_rate": rate,
        "offsets_s": [round(o, 4) for o in offsets],
    }
