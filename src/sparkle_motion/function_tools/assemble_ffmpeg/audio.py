"""The movie's sound: every narration at its place, one mix, measured, one gain, AAC.

Each WAV starts at its scene's start plus the lead pad (sample-exact, ``adelay``); the mix
covers the whole movie (silence where nobody speaks) and is exactly as long as the video.
ffmpeg's EBU R128 meter measures the mix; the second pass applies the one gain that reaches
the target (no pumping, exact arithmetic, so the same mix always gives the same bytes), a
brick-wall limiter holds the peaks, and the result is encoded AAC. A music bed
(``assemble_opts.music``) goes under the voice before the measurement: looped or cut to the
movie's length, faded out, and ducked by a sidechain compressor keyed on the voice, so the
target holds for the whole mix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkle_motion.function_tools.assemble_ffmpeg import commands
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Timeline
from sparkle_motion.types import AssembleOpts, uri_to_path

SILENCE_LUFS = -70.0
"""A mix quieter than this is treated as silence and left as it is."""

Runner = Callable[[list[str]], Any]


@dataclass
class AudioResult:
    path: Path
    samples: int
    commands: list[list[str]] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    normalization: str = "none"
    output: dict[str, Any] = field(default_factory=dict)


def placements(tl: Timeline, rate: int) -> list[commands.Placement]:
    """Where each narration WAV goes in the mix, in samples."""
    out = []
    for line, at in tl.placements():
        out.append(
            commands.Placement(
                path=str(uri_to_path(line.uri)),
                delay=round(at * rate),
                length=max(1, round(line.duration_s * rate)),
            )
        )
    return out


def total_samples(tl: Timeline, rate: int) -> int:
    """The movie's length in samples (same as the video's, to the sample)."""
    return round(tl.total_frames * rate / tl.fps)


def build_audio(
    exe: str,
    tl: Timeline,
    opts: AssembleOpts,
    work: Path,
    run: Runner,
    music: commands.Music | None = None,
) -> AudioResult:
    """Mix, normalise and encode the soundtrack into ``work/audio.m4a``.

    Args:
        exe: the ffmpeg binary.
        tl: the timeline (where each narration sits, how long the movie is).
        opts: sample rate, loudness target, AAC bitrate.
        work: a private folder for the intermediate files.
        run: runs one command and returns its SubprocessResult (raises on failure).
        music: a bed under the voice (ducked while it speaks, looped or cut to length).
    """
    rate = opts.audio_sample_rate
    total = total_samples(tl, rate)
    mix = work / "mix.wav"
    out = work / "audio.m4a"
    result = AudioResult(out, total)
    places = placements(tl, rate)
    cmd = commands.mix_command(exe, places, total, rate, str(mix), music)
    run(cmd)
    result.commands.append(cmd)
    gain_db: float | None = None
    if places or music is not None:
        cmd = commands.loudness_meter_command(exe, str(mix))
        figures = commands.parse_ebur128_summary(run(cmd).stderr)
        result.commands.append(cmd)
        result.measured = figures
        level = figures.get("input_i")
        if isinstance(level, float) and math.isfinite(level) and level > SILENCE_LUFS:
            gain_db = commands.normalize_gain_db(opts.loudness_lufs, level)
            result.normalization = "linear"
            result.output = {"gain_db": gain_db}
    cmd = commands.soundtrack_command(exe, str(mix), gain_db, opts, total, str(out))
    run(cmd)
    result.commands.append(cmd)
    return result
