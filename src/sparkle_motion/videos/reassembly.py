"""Reassembly: one lossless clip from a shot's chunk files, and frame grabs for conditioning.

Each chunk file holds its chunk's frames after ``skip`` extra frames (a backend that renders
4k+1 frames may have rendered more than asked). ``trim`` keeps each global frame from the
earliest chunk that rendered it; ``crossfade`` blends each overlap from the earlier chunk to
the later one (ffmpeg ``xfade``). Either way one ffmpeg pass re-encodes with the lossless
intermediate settings, so the frames that are kept come out unchanged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sparkle_motion.utils.ffmpeg import INTERMEDIATE_VIDEO_ARGS, ffmpeg_exe
from sparkle_motion.utils.run_command import run_command
from sparkle_motion.videos.chunks import Chunk, kept_frames


@dataclass(frozen=True)
class Part:
    """A rendered chunk: its file, the extra frames at its start to skip, its frame count."""

    chunk: Chunk
    path: Path
    skip: int = 0
    frames: int | None = None  # None: exactly the chunk's frames


def _base(cmd_inputs: list[Path]) -> list[str]:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    for path in cmd_inputs:
        cmd += ["-i", str(path)]
    return cmd


def reassemble(parts: list[Part], mode: str, fps: int, out: Path, *, moved: bool = False) -> int:
    """Write the shot to ``out``; returns its frame count.

    A lone part with nothing to cut is moved (``moved=True``) or copied, not re-encoded.
    """
    chunks = [p.chunk for p in parts]
    total = chunks[-1].end - chunks[0].start + 1
    if len(parts) == 1 and parts[0].skip == 0 and _frames_exact(parts[0]):
        (shutil.move if moved else shutil.copyfile)(parts[0].path, out)
        return total
    pts = f"setpts=N/{fps}/TB,settb=1/{fps}"
    graph: list[str] = []
    if mode == "crossfade":
        length = 0
        for i, part in enumerate(parts):
            c = part.chunk
            graph.append(
                f"[{i}:v]trim=start_frame={part.skip}:end_frame={part.skip + c.num_frames},"
                f"{pts}[v{i}]"
            )
            if i == 0:
                last, length = f"v{i}", c.num_frames
                continue
            k = c.overlap_left
            if k:
                graph.append(
                    f"[{last}][v{i}]xfade=transition=fade:duration={k / fps:.6f}"
                    f":offset={(length - k) / fps:.6f}[x{i}]"
                )
            else:
                graph.append(f"[{last}][v{i}]concat=n=2:v=1:a=0[x{i}]")
            last, length = f"x{i}", length + c.num_frames - k
        graph.append(f"[{last}]null[out]")
    else:
        for i, (part, (a, b)) in enumerate(zip(parts, kept_frames(chunks), strict=True)):
            graph.append(
                f"[{i}:v]trim=start_frame={part.skip + a}:end_frame={part.skip + b + 1},{pts}[v{i}]"
            )
        labels = "".join(f"[v{i}]" for i in range(len(parts)))
        graph.append(f"{labels}concat=n={len(parts)}:v=1:a=0[out]")
    cmd = _base([p.path for p in parts])
    cmd += ["-filter_complex", ";".join(graph), "-map", "[out]", "-frames:v", str(total),
            "-r", str(fps), *INTERMEDIATE_VIDEO_ARGS, "-an", str(out)]  # fmt: skip
    run_command(cmd, timeout_s=1800)
    return total


def _frames_exact(part: Part) -> bool:
    """Whether the part's file holds exactly its chunk's frames (the backend's metadata)."""
    return part.frames is None or part.frames == part.chunk.num_frames + part.skip


def extract_frame(video: Path, index: int, out_png: Path) -> Path:
    """Frame ``index`` (0-based) of ``video`` as a PNG (a later chunk's start frame)."""
    cmd = _base([video])
    cmd += ["-vf", f"select=eq(n\\,{index})", "-frames:v", "1", "-fps_mode", "passthrough",
            str(out_png)]  # fmt: skip
    run_command(cmd, timeout_s=300)
    return out_png
