"""ffmpeg command lines and filter graphs for assembly (pure: no files are read or written).

Every command is a list of arguments for :func:`sparkle_motion.utils.run_command.run_command`
(never a shell). Inputs are absolute paths opened with a forced demuxer and only the ``file``
protocol, so a file cannot pass itself off as a playlist that fetches other files.

Pictures move with the ``perspective`` filter (sub-pixel, plain C: the same bytes on every
machine) rather than ``zoompan`` (whole-pixel steps, and a SIMD scaler without bit-exact
mode). Each move is a function of the frame's index within its visual, so a scene's body and
the transitions cut from its ends agree frame for frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import (
    PREROLL_MOTION,
    Scene,
    Segment,
    Timeline,
    Visual,
)
from sparkle_motion.types import AssembleOpts
from sparkle_motion.utils import moves
from sparkle_motion.utils.ffmpeg import ebur128_summary

ENCODER_THREADS = 1
"""One x264 thread per segment, on every machine (the count is in the cache key: x264's
output depends on it). x264's frame threading is deterministic (``--non-deterministic`` is
opt-in; a 1280x720 scene encoded ten times with two threads, two at a time, gave one file):
one thread is chosen for its cost, not its bytes. On two cores, with segments encoded side
by side and longest first, two threads each took 5 % more CPU and 4 % more wall time for
the preview movie (bench/ab_preview.py, 2 pairs). Segments encode in parallel instead."""
SINGLE_THREADED = ["-filter_threads", "1", "-filter_complex_threads", "1"]
"""Every filter graph runs on one thread (global options, so they go before the inputs). The
default is one filter thread per core, so a graph could be split differently on another
machine or under another load; each assembly step is one process and the steps run in
parallel instead, so the cores stay busy."""
AUDIO_THREADS = 1
"""One thread for the audio encoder (the native AAC encoder has none to give; pinned so that
a build or codec that has them cannot make the sound depend on the machine's load)."""
AAC_CODER = "fast"
"""The native AAC encoder's quantiser search. At our 192 kb/s, ``fast`` kept a 48 s preview
mix at 58 dB SNR (decoded against the mix) where the default ``twoloop`` kept 36 dB (it
low-passes and substitutes noise, tuned for low bitrates), in 2.2 instead of 3.3 CPU-s; the
soundtrack is the longest step of an edited line's re-run."""
PEAK_LIMIT = 0.79  # -2 dBFS: leaves room for the AAC encoder's overshoot
SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int+bitexact"
COLOR_TAGS = "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"

SourceFn = Callable[[Visual], str]
"""Where a visual's file is (a path when running, its content hash inside cache keys)."""

_IMAGE_CODECS = {"image/png": "png", "image/jpeg": "mjpeg", "image/webp": "webp"}
_MUSIC_FORMATS = {"audio/mpeg": "mp3", "audio/flac": "flac", "audio/ogg": "ogg"}
_VIDEO_FORMATS = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
}


def _base(exe: str) -> list[str]:
    return [exe, "-hide_banner", "-nostdin", "-y", *SINGLE_THREADED, "-loglevel", "error"]


def input_args(
    path: str, media_type: str, fps: int | None = None, seek_s: float | None = None
) -> list[str]:
    """``-i`` for one input, with its demuxer (and image decoder) forced; an image is read
    as a one-frame stream at ``fps`` (filters that join streams want the same rate);
    ``seek_s``: start reading there (ffmpeg decodes from the keyframe before it and drops
    the frames before it, so the first frame is the one at that time)."""
    if media_type in _IMAGE_CODECS:
        fmt = ["-f", "image2", "-pattern_type", "none", "-c:v", _IMAGE_CODECS[media_type]]
        if fps:
            fmt[2:2] = ["-framerate", str(fps)]
    elif media_type in _VIDEO_FORMATS:
        fmt = ["-f", _VIDEO_FORMATS[media_type]]
    elif media_type in ("audio/wav", "audio/x-wav", "audio/wave"):
        fmt = ["-f", "wav"]
    elif media_type in ("audio/mp4", "audio/aac", "audio/x-m4a"):
        fmt = ["-f", "mov"]
    elif media_type in _MUSIC_FORMATS:
        fmt = ["-f", _MUSIC_FORMATS[media_type]]
    elif media_type == "application/x-subrip":
        fmt = ["-f", "srt"]
    else:
        raise AssemblyError(f"cannot assemble media of type {media_type!r}")
    seek = ["-ss", f"{seek_s:.6f}"] if seek_s else []
    return [*fmt, "-protocol_whitelist", "file", *seek, "-i", path]


def supported_media(media_type: str) -> bool:
    return media_type in _IMAGE_CODECS or media_type in _VIDEO_FORMATS


def encode_args(opts: AssembleOpts) -> list[str]:
    """Video encoder settings shared by every segment (stream copy needs them identical)."""
    w, h = opts.size()
    args = [
        "-c:v", opts.codec, "-preset", opts.preset, "-crf", str(opts.crf),
        "-pix_fmt", opts.pix_fmt, "-r", str(opts.fps), "-s", f"{w}x{h}",
        "-threads", str(ENCODER_THREADS),
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
        "-color_range", "tv",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
        "-video_track_timescale", str(opts.fps * 1000),
    ]  # fmt: skip
    if opts.codec == "libx265":
        args += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
    return args


# ------------------------------------------------------------------------------- moves


def _num(x: float) -> str:
    return moves.num(x)


def still_amount(frames: int, fps: int) -> float:
    """How much of the frame a still's move travels: slower per second on long shots."""
    return min(0.13, 0.035 + 0.015 * frames / fps)


def hold_amount(frames: int, fps: int) -> float:
    """A move on a clip's first or last frame: a gentle 2.5 % a second, at most 12 %."""
    return min(0.12, 0.025 * frames / fps)


def move_corners(motion: str, amount: float, offset: int, den: int) -> dict[str, str]:
    """``perspective`` corner expressions for a move, linear in p = (on + offset) / den
    (``on`` counts from 1 at the filter's first frame)."""
    return _corners(motion, amount, f"(on{offset:+d})/{max(den, 1)}")


def _corners(motion: str, amount: float, p: str) -> dict[str, str]:
    """moves.corners, an unknown motion refused as an AssemblyError."""
    try:
        return moves.corners(motion, amount, p)
    except ValueError as exc:
        raise AssemblyError(str(exc)) from None


def _perspective(corners: dict[str, str]) -> str:
    return moves.perspective(corners)


def _cover(w: int, h: int) -> str:
    return (
        f"scale={w}:{h}:force_original_aspect_ratio=increase:flags={SWS_FLAGS}"
        f":out_color_matrix=bt709:out_range=tv,crop={w}:{h},setsar=1,format=yuv420p"
    )


def _retime(fps: int) -> str:
    return f"settb=1/{fps},setpts=N"


# ------------------------------------------------------------------------------- parts


@dataclass
class _Graph:
    """Inputs and filter chains of one command, built part by part."""

    inputs: list[list[str]]
    chains: list[str]
    parts: int = 0

    fps: int = 0

    def add_input(self, path: str, media_type: str, seek_s: float | None = None) -> int:
        self.inputs.append(input_args(path, media_type, self.fps, seek_s))
        return len(self.inputs) - 1

    def label(self) -> str:
        self.parts += 1
        return f"p{self.parts - 1}"


def _still_part(g: _Graph, v: Visual, src: str, first: int, count: int, tl: Timeline) -> str:
    """Frames [first, first + count) of a still's (or card's) move over its whole span."""
    k = g.add_input(src, v.media_type)
    amount = still_amount(v.frames, tl.fps)
    corners = move_corners(v.motion, amount, first - 1, v.frames - 1)
    out = g.label()
    g.chains.append(
        f"[{k}:v]{_cover(tl.width, tl.height)},loop=loop={count - 1}:size=1:start=0,"
        f"{_perspective(corners)},{_retime(tl.fps)}[{out}]"
    )
    return out


def _clip_prefix(v: Visual, tl: Timeline, first: int = 0) -> str:
    """A clip slowed, at the movie's fps and size, skipped, and exactly ``play`` frames long
    (a short file is padded by repeating its last frame, so timing never drifts); from its
    played frame ``first`` on when the input was sought there (see :func:`_seek`)."""
    speed = f"{_num(v.speed)}*(PTS-STARTPTS)" if v.speed != 1.0 else "PTS-STARTPTS"
    skip = 0 if first else v.skip
    return (
        f"setpts={speed},fps={tl.fps},{_cover(tl.width, tl.height)},"
        f"trim=start_frame={skip},setpts=PTS-STARTPTS,"
        f"tpad=stop_mode=clone:stop={v.play - first},trim=end_frame={v.play - first},"
        f"setpts=PTS-STARTPTS"
    )


SEEK_MIN_FRAMES = 24
"""Seek into a clip only this far in: the intermediates have a keyframe every 24 frames
(utils/ffmpeg.py), so a nearer frame costs no more to reach by decoding from the start."""


def _seek(v: Visual, tl: Timeline, played: int) -> tuple[int, float | None]:
    """Where to start reading a clip whose played frame ``played`` is the first one needed:
    (that frame, the time to seek to), or (0, None) to read it from the start. Only a clip
    played frame for frame (its own rate is the movie's, not slowed) is sought, and only
    to a frame it has: a transition then decodes the clip's last frames, not all of it."""
    frame = v.skip + played
    if (
        v.speed != 1.0
        or v.source_fps is None
        or abs(v.source_fps - tl.fps) > 1e-6
        or played < SEEK_MIN_FRAMES
        or frame > v.natural - 2
    ):
        return 0, None
    return played, (frame - 0.5) / tl.fps  # halfway before it: no rounding lands earlier


def _camera(v: Visual, tl: Timeline, played: int) -> str:
    """A camera move clip's frames from its played frame ``played`` on (see timeline.Move):
    the move over its picture, as the clip's backend rendered it, at the clip's own pace
    (slowed, or at another frame rate, the move slows with it)."""
    m = v.move
    assert m is not None
    rate = m.fps / (tl.fps * v.speed)  # clip frames per movie frame
    return _perspective(_corners(m.motion, m.travel, moves.eased(m.frames, played, rate)))


def _clip_parts(g: _Graph, v: Visual, src: str, lo: int, hi: int, tl: Timeline) -> list[str]:
    """Visual-local frames [lo, hi) of a clip: pre-roll move, playing, then the held move.
    A camera move clip's frames are rendered from its picture instead of read from its file."""
    labels = []
    pieces = (
        ("preroll", 0, v.preroll),
        ("play", v.preroll, v.preroll + v.play),
        ("hold", v.preroll + v.play, v.frames),
    )
    for what, a, b in pieces:
        s, e = max(lo, a), min(hi, b)
        if s >= e:
            continue
        needed = {"preroll": 0, "play": s - a, "hold": v.play - 1}[what]
        out = g.label()
        loop = f"loop=loop={e - s - 1}:size=1:start=0"
        if v.move is not None:  # one picture: every piece starts as that picture
            k = g.add_input(src, v.move.media_type)
            head, first = f"[{k}:v]{_cover(tl.width, tl.height)}", 0
        else:
            first, seek_s = _seek(v, tl, needed)
            k = g.add_input(src, v.media_type, seek_s)
            head = f"[{k}:v]{_clip_prefix(v, tl, first)}"
        if what == "play":
            frames = (
                f"{loop},{_camera(v, tl, v.skip + needed)}"
                if v.move is not None
                else f"trim=start_frame={s - a - first}:end_frame={e - a - first}"
            )
            g.chains.append(f"{head},{frames},{_retime(tl.fps)}[{out}]")
        else:
            n = b - a
            if what == "preroll":
                corners = move_corners(PREROLL_MOTION, hold_amount(n, tl.fps), s - a - 1, n)
            else:
                corners = move_corners(v.motion, hold_amount(n, tl.fps), s - a, n)
            if v.move is not None:  # the clip's frame, rendered once
                frame = _camera(v, tl, v.skip + needed)
            elif what == "preroll":
                frame = "trim=end_frame=1"
            else:
                frame = f"trim=start_frame={needed - first}"
            g.chains.append(
                f"{head},{frame},setpts=PTS-STARTPTS,{loop},"
                f"{_perspective(corners)},{_retime(tl.fps)}[{out}]"
            )
        labels.append(out)
    return labels


def _window(
    g: _Graph, scene: Scene, lo: int, hi: int, tl: Timeline, source: SourceFn, out: str
) -> None:
    """Scene-local frames [lo, hi) of ``scene`` into the label ``out``."""
    labels: list[str] = []
    for v in scene.visuals:
        s, e = max(lo, v.start), min(hi, v.end)
        if s >= e:
            continue
        src = source(v)
        if v.kind == "clip":
            labels += _clip_parts(g, v, src, s - v.start, e - v.start, tl)
        else:
            labels.append(_still_part(g, v, src, s - v.start, e - s, tl))
    if not labels:
        raise AssemblyError(f"scene {scene.index} has nothing to show in frames {lo}..{hi}")
    joined = "".join(f"[{x}]" for x in labels)
    g.chains.append(
        f"{joined}concat=n={len(labels)}:v=1:a=0,format=yuv420p,"
        f"trim=end_frame={hi - lo},{_retime(tl.fps)}[{out}]"
    )


def segment_graph(
    tl: Timeline, segment: Segment, source: SourceFn, burn: str | None = None
) -> tuple[list[list[str]], str]:
    """(inputs, filter graph) that render one segment into the label ``[out]``; ``burn``
    (an ``ass`` filter, see burn.py) draws subtitles over it."""
    g = _Graph([], [], fps=tl.fps)
    if segment.kind == "scene":
        scene = tl.scenes[segment.index]
        lo = segment.start - scene.start  # a body, or a piece of a long one
        _window(g, scene, lo, lo + segment.frames, tl, source, "seg")
    else:
        t = next(t for t in tl.transitions if t.index == segment.index)
        a, b = tl.scenes[t.index], tl.scenes[t.index + 1]
        _window(g, a, a.frames - t.half, a.frames + t.half, tl, source, "ta")
        _window(g, b, -t.half, t.half, tl, source, "tb")
        g.chains.append(xfade_filter("ta", "tb", "seg", t.kind, t.frames, tl.fps))
    g.chains.append(f"[seg]{burn + ',' if burn else ''}{COLOR_TAGS}[out]")
    return g.inputs, f"sws_flags={SWS_FLAGS};" + ";".join(g.chains)


def xfade_filter(a: str, b: str, out: str, kind: str, frames: int, fps: int) -> str:
    """Cross ``a`` into ``b`` over ``frames`` frames, both exactly that long: the output is
    as long as each input, so a transition never shortens the movie."""
    return (
        f"[{a}][{b}]xfade=transition={kind}:duration={_num(frames / fps)}:offset=0,"
        f"trim=end_frame={frames},{_retime(fps)}[{out}]"
    )


def segment_command(
    exe: str,
    tl: Timeline,
    segment: Segment,
    encode: Sequence[str],
    source: SourceFn,
    out: str,
    burn: str | None = None,
) -> list[str]:
    """The ffmpeg command that encodes one segment (video only) to ``out``."""
    inputs, graph = segment_graph(tl, segment, source, burn)
    cmd = _base(exe)
    for args in inputs:
        cmd += args
    return [
        *cmd, "-filter_complex", graph, "-map", "[out]", "-frames:v", str(segment.frames),
        "-an", "-sn", "-dn", *encode, "-f", "mp4", out,
    ]  # fmt: skip


# ----------------------------------------------------------------------- joining, muxing


def concat_list(paths: Sequence[str]) -> str:
    """An ffconcat list of absolute paths (quoted for the concat demuxer)."""
    lines = ["ffconcat version 1.0"]
    for p in paths:
        if not os.path.isabs(p) or any(c in p for c in "\n\r\x00"):
            raise AssemblyError(f"unusable segment path {p!r}")
        quoted = p.replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def mux_command(
    exe: str,
    concat_path: str,
    audio_path: str,
    srt_path: str | None,
    out: str,
    *,
    language: str = "und",
) -> list[str]:
    """Join the segments (stream copy), add the finished audio (copy) and soft subtitles."""
    cmd = [
        *_base(exe),
        "-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i", concat_path,
        *input_args(audio_path, "audio/mp4"),
    ]  # fmt: skip
    maps = ["-map", "0:v:0", "-map", "1:a:0"]
    codecs = ["-c:v", "copy", "-c:a", "copy"]
    if srt_path is not None:
        cmd += input_args(srt_path, "application/x-subrip")
        maps += ["-map", "2:s:0"]
        codecs += ["-c:s", "mov_text", "-metadata:s:s:0", f"language={language}"]
    return [
        *cmd, *maps, *codecs, "-map_metadata", "-1", "-map_chapters", "-1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-movflags", "+faststart", "-f", "mp4", out,
    ]  # fmt: skip


# ---------------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class Placement:
    """A narration WAV in the mix: starts at sample ``delay`` and lasts ``length`` samples."""

    path: str
    delay: int
    length: int


@dataclass(frozen=True)
class Music:
    """A music bed: looped or cut to the movie's length, faded out, ducked under the voice."""

    path: str
    media_type: str


MUSIC_GAIN_DB = -12.0
"""The bed's level against the voice before ducking (the whole mix is normalised after)."""
DUCK = "threshold=0.02:ratio=8:attack=20:release=400:knee=4"
"""sidechaincompress: speech above about -34 dBFS pulls the music down, by more the louder it is."""


def music_chain(k: int, total: int, rate: int, out: str) -> str:
    """Input ``k`` (looped by ``-stream_loop``) as a stereo bed of exactly ``total``
    samples, faded in briefly and out over its last seconds."""
    seconds = total / rate
    fade = round(min(3.0, seconds / 4), 3)
    return (
        f"[{k}:a]aresample={rate},aformat=sample_fmts=flt:channel_layouts=stereo,"
        f"atrim=end_sample={total},apad=whole_len={total},volume={_num(MUSIC_GAIN_DB)}dB,"
        f"afade=t=in:d={_num(min(0.5, fade))},"
        f"afade=t=out:st={_num(max(0.0, seconds - fade))}:d={_num(fade)}[{out}]"
    )


def mix_command(
    exe: str,
    placements: Sequence[Placement],
    total: int,
    rate: int,
    out: str,
    music: Music | None = None,
) -> list[str]:
    """Place every narration at its sample, mix to stereo, cover exactly ``total`` samples;
    a music bed goes under it, ducked while the voice speaks."""
    cmd = _base(exe)
    chains = []
    voice = "voice" if music is not None else "out"
    if not placements:
        cmd += ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=stereo"]
        chains.append(f"[0:a]atrim=end_sample={total}[{voice}]")
    else:
        labels = []
        for i, p in enumerate(placements):
            cmd += input_args(p.path, "audio/wav")
            chains.append(
                f"[{i}:a]aresample={rate},aformat=sample_fmts=flt:channel_layouts=mono,"
                f"atrim=end_sample={p.length},adelay=delays={p.delay}S:all=1[n{i}]"
            )
            labels.append(f"[n{i}]")
        chains.append(
            f"{''.join(labels)}amix=inputs={len(labels)}:normalize=0:duration=longest"
            f":dropout_transition=0,pan=stereo|c0=c0|c1=c0,"
            f"apad=whole_len={total},atrim=end_sample={total}[{voice}]"
        )
    if music is not None:
        k = max(1, len(placements))
        cmd += ["-stream_loop", "-1", *input_args(music.path, music.media_type)]
        chains += [
            music_chain(k, total, rate, "bed"),
            "[voice]asplit=2[v][key]",
            f"[bed][key]sidechaincompress={DUCK}[ducked]",
            f"[v][ducked]amix=inputs=2:normalize=0:duration=first:dropout_transition=0,"
            f"atrim=end_sample={total}[out]",
        ]
    return [
        *cmd, "-filter_complex", ";".join(chains), "-map", "[out]",
        "-c:a", "pcm_f32le", "-ar", str(rate), "-f", "wav", out,
    ]  # fmt: skip


def normalize_gain_db(target: float, measured_i: float) -> float:
    """The one gain that brings the measured mix to ``target`` LUFS (rounded to 0.01 dB so
    the command text, and so the cache key, does not carry float noise)."""
    return round(target - measured_i, 2)


def loudness_meter_command(exe: str, wav: str) -> list[str]:
    """Measure the mix with ffmpeg's EBU R128 meter (BS.1770 integrated loudness, loudness
    range, true peak), which prints a summary on stderr. It does what loudnorm's first pass
    did for a sixth of the time: loudnorm resamples everything to 192 kHz to measure."""
    return [
        exe, "-hide_banner", "-nostdin", "-nostats", *SINGLE_THREADED,
        *input_args(wav, "audio/wav"), "-af", "ebur128=peak=true:framelog=quiet",
        "-f", "null", os.devnull,
    ]  # fmt: skip


_SUMMARY_NAMES = {
    "input_i": "integrated_lufs",
    "input_thresh": "threshold_lufs",
    "input_lra": "range_lu",
    "input_tp": "true_peak_dbfs",
}


def parse_ebur128_summary(stderr: str) -> dict[str, float]:
    """The meter's last summary as loudnorm named its figures (``input_i``, ``input_tp``,
    ``input_lra``, ``input_thresh``), floats (``-inf`` for silence's true peak)."""
    figures = ebur128_summary(stderr)
    if not figures:
        raise AssemblyError("the loudness meter printed no summary")
    out: dict[str, float] = {}
    for name, figure in _SUMMARY_NAMES.items():
        if figure not in figures:
            raise AssemblyError(f"the loudness meter's summary has no {name}")
        out[name] = figures[figure]
    return out


def audio_encode_args(opts: AssembleOpts) -> list[str]:
    return [
        "-c:a", opts.audio_codec, "-aac_coder", AAC_CODER, "-b:a", f"{opts.audio_bitrate_kbps}k",
        "-ar", str(opts.audio_sample_rate), "-ac", "2", "-threads", str(AUDIO_THREADS),
        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
    ]  # fmt: skip


def soundtrack_command(
    exe: str,
    wav: str,
    gain_db: float | None,
    opts: AssembleOpts,
    total: int,
    out: str,
) -> list[str]:
    """Normalise (one gain from pass 1's measurement; none for silence), hold the peaks,
    pad to the exact length, and encode AAC into ``out`` (.m4a)."""
    # loudnorm's own second pass leaves linear mode for its dynamic mode whenever the gain
    # would push the true peak past the target (peaky speech always does), and its dynamic
    # mode once gave two different outputs for the same input. A plain gain is exact
    # arithmetic; the brick-wall limiter then holds the peaks under -2 dBFS, room for the
    # AAC encoder's overshoot.
    gain = f"volume={_num(gain_db)}dB:precision=double," if gain_db is not None else ""
    af = (
        f"{gain}alimiter=limit={PEAK_LIMIT}:attack=5:release=50:level=false,"
        f"apad=whole_len={total},atrim=end_sample={total}"
    )
    return [
        *_base(exe), *input_args(wav, "audio/wav"),
        "-af", af, *audio_encode_args(opts), "-f", "mp4", out,
    ]  # fmt: skip
