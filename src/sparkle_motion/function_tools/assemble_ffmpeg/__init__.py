"""assemble_ffmpeg: scenes, transitions, narration, loudness and subtitles into one MP4.

The public call is :func:`sparkle_motion.function_tools.assemble_ffmpeg.entrypoint.
assemble_clips`; :mod:`.timeline` (which visual shows when) and :mod:`.commands` (the ffmpeg
command lines) are pure and can be used without ffmpeg.
"""

from __future__ import annotations

from sparkle_motion.errors import SparkleError


class AssemblyError(SparkleError):
    """The inputs cannot be assembled: unsafe or missing files, nothing to show, bad media."""

    code = "assembly_error"
    http_status = 422


__all__ = ["AssemblyError"]
