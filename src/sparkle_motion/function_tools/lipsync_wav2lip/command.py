"""The Wav2Lip command line, built only from checked, structured options (pure: no I/O).

Upstream ``inference.py`` is a script, not an API: it parses ``sys.argv`` at import, so the
full backend runs it as a subprocess. Nothing a plan says reaches that command line as a
string: every flag comes from a typed, range-checked option, the face, audio and result are
fixed names inside the run's own working directory (``face.mp4``, ``audio.wav``,
``result.mp4``: upstream splits the face path at its first dot to tell a still from a video,
and pastes the audio and result paths into a shell command for ffmpeg), and the checkpoint is
an absolute path the backend resolved and checked itself.

Only flags of the pinned commit (:data:`PINNED_COMMIT`) are produced, and a flag the
checkout's ``inference.py`` does not define (``--nosmooth`` arrived after the first release)
is refused by name instead of crashing argparse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparkle_motion.errors import PlanSchemaError
from sparkle_motion.providers import WAV2LIP_COMMIT as PINNED_COMMIT
from sparkle_motion.providers import WAV2LIP_REPO as UPSTREAM

# every option inference.py defines at the pinned commit
PINNED_FLAGS = frozenset(
    {
        "checkpoint_path", "face", "audio", "outfile", "static", "fps", "pads",
        "face_det_batch_size", "wav2lip_batch_size", "resize_factor", "crop", "box",
        "rotate", "nosmooth",
    }
)  # fmt: skip
# fixed names in the working directory (see the module docstring)
FACE_VIDEO, FACE_STILL, AUDIO, RESULT = "face.mp4", "face.png", "audio.wav", "result.mp4"

_FLAG_RE = re.compile(r"""add_argument\(\s*['"]--([A-Za-z0-9_]+)['"]""")


def supported_flags(inference_source: str) -> frozenset[str]:
    """The ``--flags`` an ``inference.py`` defines (read from its text, never imported)."""
    return frozenset(_FLAG_RE.findall(inference_source))


@dataclass(frozen=True)
class Wav2LipFlags:
    """inference.py's tuning flags; None/False = not passed (upstream's default applies)."""

    pads: tuple[int, int, int, int] | None = None  # top, bottom, left, right
    resize_factor: int | None = None
    nosmooth: bool = False
    crop: tuple[int, int, int, int] | None = None  # top, bottom, left, right; -1 = edge
    box: tuple[int, int, int, int] | None = None  # top, bottom, left, right
    fps: float | None = None  # stills only (upstream reads a clip's own rate)
    static: bool = False
    rotate: bool = False
    face_det_batch_size: int | None = None
    wav2lip_batch_size: int | None = None

    def used(self) -> list[str]:
        """Names of the flags this produces (for the supported-flags check)."""
        return [
            name for name in self.__dataclass_fields__ if getattr(self, name) not in (None, False)
        ]


def _bad(field: str, message: str) -> PlanSchemaError:
    return PlanSchemaError(message, field=f"opts.{field}", stage="step")


def _int(opts: Mapping[str, Any], field: str, lo: int, hi: int) -> int | None:
    value = opts.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, f"must be a whole number from {lo} to {hi}, not {value!r}")
    if not lo <= value <= hi:
        raise _bad(field, f"must be from {lo} to {hi}, not {value}")
    return value


def _bool(opts: Mapping[str, Any], field: str) -> bool:
    value = opts.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(field, f"must be true or false, not {value!r}")
    return value


def _quad(opts: Mapping[str, Any], field: str, lo: int, hi: int) -> tuple[int, ...] | None:
    value = opts.get(field)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise _bad(field, f"must be four whole numbers (top, bottom, left, right), not {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not lo <= item <= hi:
            raise _bad(field, f"must be four whole numbers from {lo} to {hi}, not {value!r}")
    return tuple(value)


def _span(field: str, quad: tuple[int, ...], auto_end: bool) -> None:
    top, bottom, left, right = quad
    for start, end, what in ((top, bottom, "bottom"), (left, right, "right")):
        if start < 0 or (end < 0 and not (auto_end and end == -1)):
            raise _bad(field, f"{list(quad)}: negative edge" + (" (-1 means 'to the edge' only "
                       "for bottom and right)" if auto_end else ""))  # fmt: skip
        if end >= 0 and end <= start:
            raise _bad(field, f"{list(quad)}: {what} must be past its opposite edge")


def flags_from_opts(opts: Mapping[str, Any]) -> Wav2LipFlags:
    """Check the tuning options and turn them into :class:`Wav2LipFlags`.

    Raises:
        PlanSchemaError: one line naming the field (``opts.pads: ...``).
    """
    pads = _quad(opts, "pads", 0, 512)
    crop = _quad(opts, "crop", -1, 16384)
    if crop is not None:
        _span("crop", crop, auto_end=True)
    box = _quad(opts, "box", -1, 16384)
    if box is not None:
        _span("box", box, auto_end=False)
    fps = opts.get("fps")
    if fps is not None:
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps):
            raise _bad("fps", f"must be a number of frames per second, not {fps!r}")
        if not 0 < fps <= 120:
            raise _bad("fps", f"must be above 0 and at most 120, not {fps}")
        fps = float(fps)
    return Wav2LipFlags(
        pads=pads,  # type: ignore[arg-type]
        resize_factor=_int(opts, "resize_factor", 1, 8),
        nosmooth=_bool(opts, "nosmooth"),
        crop=crop,  # type: ignore[arg-type]
        box=box,  # type: ignore[arg-type]
        fps=fps,
        static=_bool(opts, "static"),
        rotate=_bool(opts, "rotate"),
        face_det_batch_size=_int(opts, "face_det_batch_size", 1, 1024),
        wav2lip_batch_size=_int(opts, "wav2lip_batch_size", 1, 1024),
    )


def check_supported(flags: Wav2LipFlags, supported: frozenset[str]) -> None:
    """Refuse, by name, a flag the checkout's inference.py does not define."""
    for name in flags.used():
        if name not in supported:
            raise _bad(
                name,
                f"this Wav2Lip checkout's inference.py has no --{name} (check out commit "
                f"{PINNED_COMMIT[:12]} of {UPSTREAM})",
            )


def build_command(
    python: str, inference_py: str, checkpoint: str, face: str, flags: Wav2LipFlags
) -> list[str]:
    """argv for one inference run, in the working directory that holds ``face``,
    :data:`AUDIO` and where :data:`RESULT` is written."""
    if face not in (FACE_VIDEO, FACE_STILL):
        raise ValueError(f"face must be {FACE_VIDEO} or {FACE_STILL}")
    cmd = [
        python, inference_py, "--checkpoint_path", checkpoint,
        "--face", face, "--audio", AUDIO, "--outfile", RESULT,
    ]  # fmt: skip
    if flags.pads is not None:
        cmd += ["--pads", *map(str, flags.pads)]
    if flags.resize_factor is not None:
        cmd += ["--resize_factor", str(flags.resize_factor)]
    if flags.nosmooth:
        cmd.append("--nosmooth")
    if flags.crop is not None:
        cmd += ["--crop", *map(str, flags.crop)]
    if flags.box is not None:
        cmd += ["--box", *map(str, flags.box)]
    if flags.fps is not None:
        cmd += ["--fps", f"{flags.fps:g}"]
    if flags.static:
        # upstream's --static is type=bool: any non-empty value reads True, so only True
        cmd += ["--static", "True"]
    if flags.rotate:
        cmd.append("--rotate")
    if flags.face_det_batch_size is not None:
        cmd += ["--face_det_batch_size", str(flags.face_det_batch_size)]
    if flags.wav2lip_batch_size is not None:
        cmd += ["--wav2lip_batch_size", str(flags.wav2lip_batch_size)]
    return cmd
