"""The peer: the same assembly job done with moviepy, as MoneyPrinterTurbo does it.

Same inputs (the run's intermediate clips, stills and narration WAVs), same timeline (the
scene starts and lengths our assembler used), cross-fades between scenes, stills that zoom,
the narration placed per scene and loudness brought to about -16 LUFS (RMS gain), the same
encode arguments, and the same subtitle cues muxed as a soft subtitle stream.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np


def assemble_with_moviepy(
    scenes: list[dict[str, Any]],
    narration: list[tuple[Path, float]],
    srt: Path,
    out: Path,
    *,
    size: tuple[int, int],
    fps: int,
    preset: str,
    crf: int,
    transition_s: float,
    ffmpeg: str,
) -> None:
    """Assemble ``scenes`` (each: duration_s, visuals=[(path, kind, seconds)]) with moviepy."""
    from moviepy import (
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        ImageClip,
        VideoFileClip,
        concatenate_videoclips,
        vfx,
    )

    w, h = size
    scene_clips = []
    for i, scene in enumerate(scenes):
        visuals = scene["visuals"] or []
        parts = []
        for path, kind, share in visuals:
            if kind == "still":
                clip = ImageClip(str(path)).with_duration(share).resized((w, h))
                clip = clip.resized(lambda t, d=share: 1 + 0.08 * t / d)  # slow zoom
                clip = CompositeVideoClip([clip.with_position("center")], size=(w, h))
            else:
                clip = VideoFileClip(str(path), audio=False).resized((w, h))
                if clip.duration < share:
                    clip = clip.with_effects([vfx.MultiplySpeed(clip.duration / share)])
                clip = clip.subclipped(0, min(share, clip.duration)).with_duration(share)
            parts.append(clip)
        scene_clip = (
            concatenate_videoclips(parts)
            if parts
            else ImageClip(np.zeros((h, w, 3), np.uint8)).with_duration(scene["duration_s"])
        )
        if i and transition_s:
            scene_clip = scene_clip.with_effects([vfx.CrossFadeIn(transition_s)])
        scene_clips.append(scene_clip)
    video = concatenate_videoclips(scene_clips, method="compose", padding=-transition_s)
    # our timeline does not shorten the movie with transitions: pad the end back
    total = sum(s["duration_s"] for s in scenes)
    video = video.with_duration(total)
    audio_clips = []
    for path, start in narration:
        clip = AudioFileClip(str(path))
        samples = clip.to_soundarray(fps=16000)
        rms = float(np.sqrt(np.mean(samples**2))) or 1e-4
        gain = 10 ** ((-16 - (20 * np.log10(rms) - 0.691 + 3)) / 20)  # rough LUFS -> gain
        audio_clips.append(clip.with_start(start).with_volume_scaled(float(gain)))
    video = video.with_audio(CompositeAudioClip(audio_clips).with_duration(total))
    raw = out.with_suffix(".nosubs.mp4")
    video.write_videofile(
        str(raw), fps=fps, codec="libx264", preset=preset, audio_codec="aac",
        audio_fps=48000, audio_bitrate="192k",
        ffmpeg_params=["-crf", str(crf), "-pix_fmt", "yuv420p"], logger=None,
    )  # fmt: skip
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(raw), "-i", str(srt), "-map", "0", "-map", "1",
         "-c", "copy", "-c:s", "mov_text", str(out)],
        check=True,
    )  # fmt: skip
    raw.unlink(missing_ok=True)
