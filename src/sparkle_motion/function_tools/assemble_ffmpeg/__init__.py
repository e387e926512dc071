"""assemble_ffmpeg: scenes, transitions, narration, loudness and subtitles into one MP4.

The public call is :func:`sparkle_motion.function_tools.assemble_ffmpeg.entrypoint.
assemble_clips`; :mod:`.timeline` (which visual shows when) and :mod:`.commands` (the ffmpeg
command lines) are pure and can be used without ffmpeg.
"""

from __future__ import annotations

from sparkle_motion.errors import AssemblyError

__all__ = ["AssemblyError"]
