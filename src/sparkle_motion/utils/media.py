"""File suffixes and the media types they stand for, where more than one layer needs them
(the runner importing a plan's files, the assembler taking a music bed)."""

from __future__ import annotations

AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/mp4",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
}
