"""What a frame costs Qwen2-VL in visual tokens, and frames grouped into as few calls as fit.

Qwen2-VL resizes a picture so both sides are multiples of 28 (patch 14 x merge 2) and its
area lies within ``[min_pixels, max_pixels]`` (``smart_resize``; ``resized_height`` /
``resized_width`` instead fix the size, rounded to 28), cuts it into 14x14 patches and merges
2x2 patches into one token: ``(h / 14) * (w / 14) / 4`` tokens. Memory and time of a call
grow with the tokens of all its frames, so a call holds frames up to
``max_visual_tokens_per_call`` (and ``max_frames_per_call``). Pure: no model, no image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PATCH = 14
MERGE = 2
FACTOR = PATCH * MERGE  # 28
DEFAULT_MIN_PIXELS = 256 * FACTOR * FACTOR  # the upstream example's 256 tokens
DEFAULT_MAX_PIXELS = 512 * FACTOR * FACTOR  # 512 tokens: a 1024x1024 still at 616x616
DEFAULT_MAX_VISUAL_TOKENS_PER_CALL = 4096
DEFAULT_MAX_FRAMES_PER_CALL = 8
# qwen_vl_utils' own range, which it applies to an exact ``resized_height/width``
UPSTREAM_MIN_PIXELS = 4 * FACTOR * FACTOR
UPSTREAM_MAX_PIXELS = 16384 * FACTOR * FACTOR


def smart_resize(
    height: int,
    width: int,
    factor: int = FACTOR,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """(height, width): multiples of ``factor``, area within the range, aspect kept (as
    transformers' and qwen_vl_utils' ``smart_resize``; a test holds them equal)."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.0f} is over 200")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def target_size(
    height: int,
    width: int,
    *,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    resized_height: int | None = None,
    resized_width: int | None = None,
) -> tuple[int, int]:
    """The (height, width) the model sees: the exact size when both ``resized_*`` are given
    (rounded to 28 within qwen_vl_utils' own range, as it does), else :func:`smart_resize`
    within ``[min_pixels, max_pixels]``."""
    if resized_height and resized_width:
        return smart_resize(
            resized_height,
            resized_width,
            min_pixels=UPSTREAM_MIN_PIXELS,
            max_pixels=UPSTREAM_MAX_PIXELS,
        )
    return smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)


def visual_tokens(height: int, width: int) -> int:
    """Tokens of one picture already at its target size."""
    return (height // PATCH) * (width // PATCH) // (MERGE * MERGE)


@dataclass(frozen=True)
class Call:
    """One model call: frame indexes (in frame order) and their visual tokens."""

    frames: tuple[int, ...]
    tokens: int
    over_limit: bool = False  # one frame alone above the limit: it still has to be seen


def plan_calls(
    tokens: list[int],
    max_tokens: int = DEFAULT_MAX_VISUAL_TOKENS_PER_CALL,
    max_frames: int = DEFAULT_MAX_FRAMES_PER_CALL,
) -> list[Call]:
    """Frames grouped into few calls, each within ``max_tokens`` and ``max_frames``.

    First-fit decreasing (largest frames first, each into the first call with room, ties by
    frame index): equal frames fill ``ceil(n / per_call)`` calls, the fewest possible, and
    mixed sizes pack tighter than frame order would. A frame above ``max_tokens`` gets a
    call of its own (marked ``over_limit``) rather than being skipped. Calls come back in
    the order of their first frame; frames in a call in frame order.
    """
    if max_tokens < 1 or max_frames < 1:
        raise ValueError("max_tokens and max_frames must be at least 1")
    bins: list[list[int]] = []
    loads: list[int] = []
    for index in sorted(range(len(tokens)), key=lambda i: (-tokens[i], i)):
        cost = tokens[index]
        for b, members in enumerate(bins):
            if loads[b] + cost <= max_tokens and len(members) < max_frames:
                members.append(index)
                loads[b] += cost
                break
        else:
            bins.append([index])
            loads.append(cost)
    calls = [
        Call(frames=tuple(sorted(m)), tokens=load, over_limit=load > max_tokens)
        for m, load in zip(bins, loads, strict=True)
    ]
    return sorted(calls, key=lambda c: c.frames[0])
