"""A movie's pictures measured segment by segment, each segment's measurement kept by its key.

Why: the assembler joins content-keyed segment files (a scene's body, a transition) by
stream copy, so after an edit most of a movie is bytes already seen. QA decodes each segment
file once to small gray frames and keeps them by the segment's key; the next movie that
holds the same segment only decodes what changed.

The frames are kept at the segment's own frame rate, not the analysis rate, so a segment
that moved in the movie (an earlier narration got longer) is reused as well: the analysis
frames are picked afterwards on the movie's time grid the way ffmpeg's ``fps`` filter picks
them from the whole movie (each movie frame's time is rounded to the nearest analysis slot;
a slot shows the last frame rounded to it or before it; the stream's end, rounded the same
way, is the last slot). The picked frames are the ones a decode of the whole movie gives.

A kept measurement is a small ``.npz`` (its zip CRC shows damage) named by the segment key
and the decode's settings, written atomically; a missing or damaged one is decoded again.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion.utils.ffmpeg import ffmpeg_exe, ffmpeg_version
from sparkle_motion.utils.run_command import run_command

FORMAT = "sparkle-qa-picture/1"
WORKERS = 2  # two decodes at a time: 3.2 s wall vs 4.2 s one by one (48 s movie, 2 cores)
_KEY = re.compile(r"^[0-9A-Za-z_-]{8,128}$")


@dataclass(frozen=True)
class Piece:
    """One segment file of the movie: ``frames`` frames from movie frame ``start_frame``."""

    path: Path
    start_frame: int
    frames: int
    key: str


def pieces_from(raw: Any) -> list[Piece] | None:
    """The pieces given in ``opts["pieces"]``, or None when they cannot stand for the movie:
    malformed, not contiguous from frame 0, a key that is no plain name, or a file missing."""
    if not isinstance(raw, list | tuple) or not raw:
        return None
    out: list[Piece] = []
    at = 0
    for item in raw:
        try:
            piece = Piece(
                path=Path(item["path"]),
                start_frame=int(item["start_frame"]),
                frames=int(item["frames"]),
                key=str(item["key"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if piece.start_frame != at or piece.frames <= 0 or not _KEY.match(piece.key):
            return None
        if not piece.path.is_file():
            return None
        out.append(piece)
        at += piece.frames
    return out


def _rate(value: float) -> Fraction:
    return Fraction(str(value)).limit_denominator(1_000_000)


def picks(offset: int, count: int, movie_fps: float, analysis_fps: float) -> np.ndarray:
    """Which of a piece's frames (movie frames ``offset`` .. ``offset + count - 1``) the
    analysis slots show, in slot order (see the module doc).

    Movie frame j is rounded to slot r(j) = floor(j * analysis / movie + 1/2); slot k shows
    the last frame with r(j) <= k, so frame j fills the slots r(j) .. r(j + 1) - 1, and the
    movie's end (frame count T) rounds to r(T) the same way. Only the piece's own place in
    the movie matters: the pieces' picks, joined, are the whole movie's.
    """
    step = _rate(analysis_fps) / _rate(movie_fps)
    num, den = step.numerator, step.denominator
    j = np.arange(offset, offset + count + 1, dtype=np.int64)
    rounded = (2 * j * num + den) // (2 * den)
    return np.repeat(np.arange(count), np.diff(rounded))


ANALYSIS_DECODE = ["-threads", "1", "-skip_loop_filter", "all"]
"""How the movie's pictures are decoded for QA (input options; the whole movie's decode uses
them too, so both give the same frames). Without the deblocking filter a segment decodes in
0.26 instead of 0.45 CPU-s (one thread: 0.40); at the 160x90 analysis size the pictures
differ from a full decode by 0.19 grey levels on average, a third of one frame's motion."""


def _tag(width: int, height: int) -> str:
    """What decides a kept measurement besides the segment's bytes."""
    what = {"format": FORMAT, "size": [width, height], "scale": "area", "ffmpeg": ffmpeg_version(),
            "decode": ANALYSIS_DECODE}  # fmt: skip
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _load(path: Path, width: int, height: int) -> np.ndarray | None:
    """A kept measurement, or None when it is missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as kept:
            frames = kept["frames"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if frames.dtype != np.uint8 or frames.ndim != 3 or frames.shape[1:] != (height, width):
        return None
    return frames


def _save(path: Path, frames: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with part.open("wb") as out:
            np.savez(out, frames=frames)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _decode(piece: Piece, width: int, height: int, work: Path, timeout_s: float) -> np.ndarray:
    """Every frame of one segment file, small and gray (the whole movie's scaling)."""
    raw = work / f"{piece.key}.{uuid.uuid4().hex[:8]}.gray"
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "error",
        "-an", "-sn", "-dn", *ANALYSIS_DECODE, "-i", str(piece.path), "-map", "0:v:0",
        "-vf", f"scale={width}:{height}:flags=area,format=gray",
        "-f", "rawvideo", "-y", str(raw),
    ]  # fmt: skip
    try:
        run_command(cmd, timeout_s=timeout_s)
        data = np.fromfile(raw, dtype=np.uint8) if raw.exists() else np.zeros(0, np.uint8)
    finally:
        raw.unlink(missing_ok=True)
    size = width * height
    return data[: data.size // size * size].reshape(-1, height, width)


def _kept(cache_dir: Path, key: str, width: int, height: int) -> Path:
    """Where a segment's measurement at this size is kept."""
    return cache_dir / f"{key}.{_tag(width, height)}.npz"


def keep(
    path: Path, key: str, size: tuple[int, int], work: Path, cache_dir: Path, timeout_s: float
) -> bool:
    """Decode one segment file and keep its measurement now, ahead of the QA of the movie
    it will be part of (the run encodes segments while it still renders); False when it
    was kept already."""
    if not _KEY.match(key):
        raise ValueError(f"{key!r} is not a segment key")
    width, height = size
    where = _kept(cache_dir, key, width, height)
    if where.is_file():
        return False
    _save(where, _decode(Piece(Path(path), 0, 0, key), width, height, work, timeout_s))
    return True


def measure(
    pieces: list[Piece],
    movie_fps: float,
    analysis_fps: float,
    size: tuple[int, int],
    work: Path,
    cache_dir: Path | None,
    timeout_s: float,
    workers: int = WORKERS,
) -> tuple[np.ndarray, int, int]:
    """(the analysis frames of the movie, small and gray, in slot order; how many movie
    frames the pieces hold; how many pieces were decoded now rather than kept from before).

    Pieces without a kept measurement are decoded ``workers`` at a time; a kept one found
    damaged when read is decoded then. Frames are picked piece by piece, in movie order, so
    only the analysis frames of the movie stay in memory.
    """
    width, height = size

    def kept_path(piece: Piece) -> Path | None:
        return _kept(cache_dir, piece.key, width, height) if cache_dir is not None else None

    def decode(piece: Piece) -> np.ndarray:
        frames = _decode(piece, width, height, work, timeout_s)
        if (where := kept_path(piece)) is not None:
            _save(where, frames)
        return frames

    # the same segment twice in a movie (two alike transitions) is decoded once
    todo = {p.key: p for p in pieces if (where := kept_path(p)) is None or not where.is_file()}
    picked: list[np.ndarray] = [np.zeros((0, height, width), dtype=np.uint8)]
    offset = decoded = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="qa-pieces") as pool:
        futures = {key: pool.submit(_in_context(decode), p) for key, p in todo.items()}
        try:
            for piece in pieces:
                if piece.key in futures:
                    frames = futures[piece.key].result()
                elif (frames := _load(kept_path(piece), width, height)) is None:  # type: ignore[arg-type]
                    frames = decode(piece)  # damaged since: measured again
                    decoded += 1
                picked.append(frames[picks(offset, len(frames), movie_fps, analysis_fps)])
                offset += len(frames)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return np.concatenate(picked), offset, decoded + len(todo)


def _in_context(fn: Callable[[Piece], np.ndarray]) -> Callable[[Piece], np.ndarray]:
    """``fn`` run in a copy of the caller's context (a run's cancellation and logs)."""
    context = contextvars.copy_context()
    return lambda piece: context.copy().run(fn, piece)
