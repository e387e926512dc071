"""The chunk plan: which global frames each backend call renders, and which it keeps.

A long shot is rendered in chunks so that one call never holds more frames than fit in
VRAM. The plan is a pure function of the frame count and the options (tested without
ffmpeg), following the spec:

- ``N = ceil(num_frames / chunk_length_frames)`` core ranges of ``chunk_length_frames``;
  a last core shorter than ``min_chunk_frames`` merges into its neighbour (N - 1 chunks).
- chunks other than the first and last extend ``chunk_overlap_frames`` backwards and
  forwards, so every join has overlapping frames to trim or blend. With exactly two chunks
  that rule would leave the join bare, so the second chunk extends backwards instead.
- reassembly keeps each global frame from the earliest chunk that rendered it (``trim``),
  or blends the overlap linearly from the earlier to the later chunk (``crossfade``).

Per-chunk seeds are derived from the step's seed and the chunk index (``chunk_seed``), and
a backend that needs ``FRAME_MULTIPLE·k + FRAME_OFFSET`` frames (Wan: 4k+1) gets each
chunk's length snapped up (``snap_frames``) and trimmed back.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """Global frames ``start..end`` (inclusive) of a shot, rendered by one backend call."""

    index: int
    start: int
    end: int
    overlap_left: int  # frames shared with the previous chunk
    overlap_right: int  # frames shared with the next chunk

    @property
    def num_frames(self) -> int:
        return self.end - self.start + 1

    def metadata(self) -> dict[str, int]:
        return {
            "chunk_index": self.index,
            "chunk_start_frame": self.start,
            "chunk_end_frame": self.end,
            "overlap_left": self.overlap_left,
            "overlap_right": self.overlap_right,
        }


def plan_chunks(
    num_frames: int, chunk_length: int, overlap: int, min_chunk_frames: int, *, offset: int = 0
) -> list[Chunk]:
    """The chunks of a ``num_frames`` shot (global frames start at ``offset``)."""
    if num_frames < 1 or chunk_length < 1:
        raise ValueError("num_frames and chunk_length must be >= 1")
    cores = [
        [i * chunk_length, min((i + 1) * chunk_length, num_frames) - 1]
        for i in range(math.ceil(num_frames / chunk_length))
    ]
    if len(cores) > 1 and cores[-1][1] - cores[-1][0] + 1 < min_chunk_frames:
        last = cores.pop()
        cores[-1][1] = last[1]  # a short remainder merges into its neighbour
    n = len(cores)
    ranges = []
    for i, (start, end) in enumerate(cores):
        if 0 < i < n - 1:
            start, end = start - overlap, end + overlap
        elif n == 2 and i == 1:
            start -= overlap
        ranges.append((max(0, start), min(num_frames - 1, end)))
    shared = [max(0, ranges[i - 1][1] - ranges[i][0] + 1) for i in range(1, n)]
    return [
        Chunk(
            index=i,
            start=start + offset,
            end=end + offset,
            overlap_left=shared[i - 1] if i > 0 else 0,
            overlap_right=shared[i] if i < n - 1 else 0,
        )
        for i, (start, end) in enumerate(ranges)
    ]


def kept_frames(chunks: list[Chunk]) -> list[tuple[int, int]]:
    """``trim``: (first, last) local frame each chunk keeps (the earliest chunk wins)."""
    return [(c.overlap_left, c.num_frames - 1) for c in chunks]


def reassembled_order(chunks: list[Chunk]) -> list[int]:
    """The global frame each output frame of a ``trim`` reassembly comes from."""
    return [
        c.start + j
        for c, (a, b) in zip(chunks, kept_frames(chunks), strict=True)
        for j in range(a, b + 1)
    ]


def chunk_seed(seed: int, index: int) -> int:
    """A chunk's seed: the step's own for chunk 0, else a hash of (seed, index)."""
    if index == 0:
        return seed
    digest = hashlib.sha256(f"{seed}|chunk|{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def snap_frames(num_frames: int, multiple: int = 1, offset: int = 0) -> int:
    """The least ``multiple·k + offset >= num_frames`` (what the backend must render)."""
    if multiple <= 1:
        return max(num_frames, offset)
    k = max(0, math.ceil((num_frames - offset) / multiple))
    return k * multiple + offset


def shrunk_length(chunk_length: int, factor: float, min_chunk_frames: int) -> int:
    """The chunk length of the adaptive retry after an OOM (never below the minimum)."""
    return max(min(min_chunk_frames, chunk_length), math.ceil(chunk_length * factor))
