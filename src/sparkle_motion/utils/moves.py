"""Camera moves over a picture as ffmpeg ``perspective`` corner expressions.

``perspective`` samples a sub-pixel window (plain C, bit-exact), so a move is smooth where
``zoompan`` steps in whole pixels. The visible window is a fraction ``r`` of the picture
centred at (cx, cy); all three follow a progress expression ``p`` from 0 to 1, which the
caller chooses (linear over a segment, or eased over a whole shot).
"""

from __future__ import annotations

MOTIONS = ("zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down")


def num(x: float) -> str:
    """A float as a short ffmpeg expression literal."""
    return f"{x:.6f}".rstrip("0").rstrip(".") if x else "0"


def corners(motion: str, amount: float, p: str) -> dict[str, str]:
    """Corner expressions of ``motion`` travelling ``amount`` of the frame as ``p`` goes 0→1.

    Raises:
        ValueError: an unknown motion.
    """
    b = amount
    # (r0, r1, cx0, cx1, cy0, cy1): r = r0 + r1 p, cx = cx0 + cx1 p, cy = cy0 + cy1 p
    table = {
        "zoom_in": (1.0, -b, 0.5, 0.0, 0.5, 0.0),
        "zoom_out": (1.0 - b, b, 0.5, 0.0, 0.5, 0.0),
        "pan_right": (1.0 - b, 0.0, (1.0 - b) / 2, b, 0.5, 0.0),
        "pan_left": (1.0 - b, 0.0, (1.0 + b) / 2, -b, 0.5, 0.0),
        "pan_down": (1.0 - b, 0.0, 0.5, 0.0, (1.0 - b) / 2, b),
        "pan_up": (1.0 - b, 0.0, 0.5, 0.0, (1.0 + b) / 2, -b),
    }
    if motion not in table:
        raise ValueError(f"unknown move {motion!r} (use {', '.join(MOTIONS)})")
    r0, r1, cx0, cx1, cy0, cy1 = table[motion]

    def lin(dim: str, c0: float, c1: float) -> str:
        if abs(c1) < 1e-12:
            return f"{dim}*{num(c0)}"
        return f"{dim}*({num(c0)}{'+' if c1 >= 0 else '-'}{num(abs(c1))}*{p})"

    left = lin("W", cx0 - r0 / 2, cx1 - r1 / 2)
    right = lin("W", cx0 + r0 / 2, cx1 + r1 / 2)
    top = lin("H", cy0 - r0 / 2, cy1 - r1 / 2)
    bottom = lin("H", cy0 + r0 / 2, cy1 + r1 / 2)
    return {
        "x0": left, "y0": top, "x1": right, "y1": top,
        "x2": left, "y2": bottom, "x3": right, "y3": bottom,
    }  # fmt: skip


def perspective(corner_exprs: dict[str, str]) -> str:
    """The ``perspective`` filter for corner expressions (evaluated per frame)."""
    body = ":".join(f"{k}={v}" for k, v in corner_exprs.items())
    return f"perspective={body}:interpolation=linear:sense=source:eval=frame"


def eased(frames: int, start: int = 0, rate: float = 1.0) -> str:
    """Progress over a shot of ``frames`` frames, easing in and out.

    Part linear, part smoothstep: a pure smoothstep starts so slowly that the first half
    second of a long shot looks frozen. The filter's first frame is the shot's frame
    ``start``; each filter frame advances the shot by ``rate`` frames (a shot shown slowed
    or at another frame rate), and past its last frame the shot holds still.
    """
    den = max(1, frames - 1)
    if start == 0 and rate == 1.0:
        t = f"((on-1)/{den})"
    else:
        t = f"min(1\\,(on{start - 1:+d})*{num(rate)}/{den})"  # the comma escaped for the graph
    return f"(0.4*{t}+0.6*{t}*{t}*(3-2*{t}))"


def travel_for(seconds: float) -> float:
    """How much of the frame a shot's move crosses: more on longer shots, at most a fifth."""
    return min(0.2, 0.06 + 0.01 * seconds)
