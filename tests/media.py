"""Measuring media in tests: decode audio, find where sound starts, loudness, subtitles."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion.utils.ffmpeg import ffmpeg_exe


def decode_audio(path: Path, rate: int = 16000) -> np.ndarray:
    """The first audio stream of ``path`` as mono float32 samples at ``rate``."""
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar",
         str(rate), "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<f4")


def sound_onsets(samples: np.ndarray, rate: int = 16000, min_gap_s: float = 0.3) -> list[float]:
    """Times where sound starts after at least ``min_gap_s`` of silence (10 ms windows)."""
    win = rate // 100
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = rms > max(1e-4, rms.max() * 0.05)
    onsets, quiet = [], min_gap_s
    for i, is_loud in enumerate(loud):
        if is_loud and quiet >= min_gap_s:
            onsets.append(i / 100)
        quiet = 0.0 if is_loud else quiet + 0.01
    return onsets


def integrated_loudness(path: Path) -> float:
    """Integrated loudness (LUFS) of ``path``'s audio, from ffmpeg's loudnorm measurement."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af",
         "loudnorm=print_format=json", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(re.findall(r"\{[^{}]*\}", result.stderr)[-1])
    return float(data["input_i"])


def subtitle_cues(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue in the MP4's first subtitle stream."""
    srt = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return parse_srt(srt)


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        if len(lines) >= 3 and "-->" in lines[1]:
            start, end = (seconds(p.strip()) for p in lines[1].split("-->"))
            cues.append((start, end, "\n".join(lines[2:])))
    return cues


def render_segment(
    tl: Any, segment: Any, source: Callable[[Any], str], out: Path, pix_fmt: str = "yuv420p"
) -> tuple[bytes, list[str]]:
    """The raw frames one assembly segment renders (before any encoder), and its inputs'
    arguments: the assembler's own filter graph, run into ``out``."""
    from sparkle_motion.function_tools.assemble_ffmpeg import commands

    inputs, graph = commands.segment_graph(tl, segment, source)
    args = [a for one in inputs for a in one]
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", *args, "-filter_complex", graph, "-map", "[out]",
         "-frames:v", str(segment.frames), "-f", "rawvideo", "-pix_fmt", pix_fmt, str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes(), args
