"""The ffmpeg binary (imageio-ffmpeg's static build, or ``SPARKLE_FFMPEG``) and a prober.

The bundled build has no ffprobe, so :func:`probe` reads what ``ffmpeg -i`` prints.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sparkle_motion.errors import MissingDependencyError
from sparkle_motion.utils.run_command import run_command

# Intermediate clips (what video and lip-sync providers hand the assembler) are lossless
# BT.709 and tagged so: the assembler's colour conversion is then a pass-through, and a clip
# is decoded, not re-scaled, frame by frame. x264 qp 0 is also its fastest setting; one
# thread (pinned: x264's bytes depend on its thread count). A keyframe every 24 frames lets
# the assembler seek into a clip: a transition reads the clip's last frames, not all of it
# (3 % larger files; decoding 12 frames from frame 200 took 0.14 s instead of 1.6 s).
TO_BT709 = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
INTERMEDIATE_VIDEO_ARGS = [
    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "24", "-pix_fmt", "yuv420p",
    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
    "-color_range", "tv", "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
]  # fmt: skip
# A proxy: a clip that only the movie shows and that its backend describes as a camera move
# (its ``move`` metadata): the assembler renders those frames itself, at the movie's size,
# so the file is only for looking at. Half size, lossy, x264's fastest preset: 1.25 instead
# of 5 CPU-s for a 10 s shot (the move's sub-pixel filter costs by the pixel: 0.84 of it;
# veryfast took 1.6), 2 instead of 33 MB.
PROXY_VIDEO_ARGS = [
    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "24", "-pix_fmt", "yuv420p",
    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
    "-color_range", "tv", "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
]  # fmt: skip


@functools.lru_cache(maxsize=4)
def _exe_for(override: str | None) -> str:
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if not found:
            raise MissingDependencyError(f"SPARKLE_FFMPEG={override} is not an executable")
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a core dependency
        raise MissingDependencyError("imageio-ffmpeg is not installed") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_exe() -> str:
    """Path of the ffmpeg to use."""
    return _exe_for(os.environ.get("SPARKLE_FFMPEG") or None)


@functools.lru_cache(maxsize=4)
def _version_of(exe: str) -> str:
    # Asking ffmpeg costs a process start (~30 ms) on every run, even an unchanged re-run
    # whose cache keys need the version: it is kept in a file named by the binary's path,
    # size and mtime, so another binary (or an upgraded one) is asked again.
    import hashlib
    import tempfile

    stat = os.stat(exe)
    ident = f"{os.path.realpath(exe)}|{stat.st_size}|{stat.st_mtime_ns}|{os.getuid()}"
    memo = Path(tempfile.gettempdir()) / (
        "sparkle-ffmpeg-version-" + hashlib.sha256(ident.encode()).hexdigest()[:16]
    )
    try:
        known = memo.read_text(encoding="utf-8").strip()
        if known:
            return known
    except OSError:
        pass
    first = run_command([exe, "-hide_banner", "-version"], timeout_s=30).stdout.splitlines()
    version = first[0].removeprefix("ffmpeg version ").split(" ")[0] if first else "unknown"
    try:
        part = memo.with_name(f"{memo.name}.{os.getpid()}.part")
        part.write_text(version, encoding="utf-8")
        os.replace(part, memo)
    except OSError:  # a read-only temp folder: ask again next time
        pass
    return version


def ffmpeg_version() -> str:
    """The ffmpeg version string (recorded in metadata and cache keys)."""
    return _version_of(ffmpeg_exe())


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float | None
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    subtitle_streams: int = 0


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+: Video: (\w+).*?, (\d{2,5})x(\d{2,5})[ ,]")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_AUDIO = re.compile(r"Stream #\S+: Audio: (\w+).*?, (\d+) Hz")


def probe(path: Path | str) -> MediaInfo:
    """Streams and duration of a media file, from ``ffmpeg -i``."""
    result = run_command([ffmpeg_exe(), "-hide_banner", "-i", str(path)], check=False)
    text = result.stderr
    if "Invalid data found" in text or "No such file" in text:
        raise MissingDependencyError(f"cannot read media file {path}")
    duration = None
    if m := _DURATION.search(text):
        duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    video = _VIDEO.search(text)
    audio = _AUDIO.search(text)
    fps = None
    if video:
        line = text[video.start() : text.find("\n", video.start())]
        if f := _FPS.search(line):
            fps = float(f[1])
    return MediaInfo(
        duration_s=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        width=int(video[2]) if video else None,
        height=int(video[3]) if video else None,
        fps=fps,
        video_codec=video[1] if video else None,
        audio_codec=audio[1] if audio else None,
        sample_rate=int(audio[2]) if audio else None,
        subtitle_streams=len(re.findall(r"Stream #\S+: Subtitle:", text)),
    )


_NUMBER = r"(-?inf|-?\d+(?:\.\d+)?)"
_R128_SUMMARY = {
    "integrated_lufs": rf"Integrated loudness:\s*I:\s*{_NUMBER} LUFS",
    "threshold_lufs": rf"Integrated loudness:\s*I:\s*\S+ LUFS\s*Threshold:\s*{_NUMBER} LUFS",
    "range_lu": rf"LRA:\s*{_NUMBER} LU\b",
    "sample_peak_dbfs": rf"Sample peak:\s*Peak:\s*{_NUMBER} dBFS",
    "true_peak_dbfs": rf"True peak:\s*Peak:\s*{_NUMBER} dBFS",
}


def ebur128_summary(stderr: str) -> dict[str, float]:
    """The figures of the last summary ffmpeg's ``ebur128`` filter printed (those it printed:
    the peaks only when asked for), as floats (``-inf``: silence); empty when none."""
    at = stderr.rfind("Summary:")
    if at < 0:
        return {}
    text = stderr[at:]
    return {
        name: float(found[1])
        for name, pattern in _R128_SUMMARY.items()
        if (found := re.search(pattern, text))
    }
