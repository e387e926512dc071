"""Preview QA: heuristics on stills and on the finished preview movie, no model.

Two entry points share one report shape (:class:`~sparkle_motion.types.QAReport`):

* :func:`inspect` is the FunctionTool backend (``inspect_frames``): each still is checked for a
  black, flat (blank) or blown-out picture.
* :func:`inspect_movie` decodes a movie once, small (160x90 gray at 8 fps, mono 16 kHz audio,
  plus ffmpeg's EBU R128 meter on the original channels) and looks for black and frozen
  pictures, long silences, clipping, loudness off target and streams of different lengths.
  Given the movie's segment files it takes the pictures from them instead, each decoded
  once and kept by its key (pieces.py): after an edit only the changed segments are decoded.

Every finding is a flag such as ``"frozen 2.00-3.00 s"``; the structured findings (check,
start, end, value) are kept in ``report.report["findings"]`` so :func:`warnings` can word them
for the run summary, also from a cached report read back from JSON. The heuristics say nothing
about safety, so ``scores`` stay zero and ``decision`` stays ``approve``: a failed check is a
warning (``ok`` false, ``reason`` set), not a rejection.
"""

from __future__ import annotations

import contextvars
import io
import math
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion.errors import ConfigError
from sparkle_motion.function_tools.qa_qwen2vl import pieces
from sparkle_motion.types import QAFrameResult, QAReport, uri_to_path
from sparkle_motion.utils.ffmpeg import MediaInfo, ebur128_summary, ffmpeg_exe, probe
from sparkle_motion.utils.run_command import run_command

PROVIDER_ID = "qa_qwen2vl/preview"
VERSION = "1"

DEFAULTS: dict[str, Any] = {
    # decoding: small and sparse is enough to see black, frozen and silent stretches
    "analysis_fps": 8.0,
    "analysis_width": 160,
    "analysis_height": 90,
    "audio_rate": 16000,
    # black: like ffmpeg's blackdetect, 98 % of the pixels under 10 % luma; a title card with
    # some text on black still has more than 2 % bright pixels
    "black_pixel_luma": 0.10,
    "black_picture_ratio": 0.98,
    "max_black_s": 0.5,
    # frozen: mean absolute difference (0-255) to the first frame of the stretch; compression
    # noise on a still stays well under 0.5 at 160x90, a slow camera move exceeds it in 0.5 s
    "frozen_mad": 0.5,
    "max_frozen_s": 0.5,
    # silence: 50 ms windows quieter than -50 dBFS; speech pauses are shorter than 4 s
    "silence_dbfs": -50.0,
    "max_silence_s": 4.0,
    # clipping: 100 ms windows with more than 1 % of samples at full scale; the assembler
    # limits true peaks to -1.5 dBTP, so clean audio never gets there
    "clip_level": 0.98,
    "max_clip_fraction": 0.01,
    # loudness: the assembler's target and the usual tolerance of loudness specs
    "target_lufs": -16.0,
    "loudness_tolerance_lu": 1.5,
    # a movie needs a soundtrack; a picture-only clip (a shot before assembly) does not
    "require_audio": True,
    # stills
    "flat_std": 3.0,
    "clipped_pixel_ratio": 0.6,
    "timeout_s": 600.0,
}

_SILENT_LUFS = -70.0  # BS.1770's absolute gate: a quieter track has no loudness
_SILENCE_WINDOW_S = 0.05
_CLIP_WINDOW_S = 0.1
_CLIP_MERGE_S = 0.5
_STILL_SIZE = (256, 256)


def _settings(opts: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS overridden by the known keys of ``opts`` (others, like ``provider``, pass by)."""
    merged = dict(DEFAULTS)
    given = dict(opts or {})
    wanted = {**{k: type(v) for k, v in DEFAULTS.items()}, "expected_duration_s": float}
    for key, kind in wanted.items():
        value = given.get(key)
        if value is None:
            continue
        try:
            if kind is bool and isinstance(value, str):
                merged[key] = value.strip().lower() in ("1", "true", "yes", "on")
            else:
                merged[key] = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{value!r} is not a valid {key}", field=key) from None
    return merged


def _finding(
    check: str,
    flag: str,
    start_s: float | None = None,
    end_s: float | None = None,
    value: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"check": check, "flag": flag, "start_s": start_s, "end_s": end_s}
    if value is not None:
        out["value"] = value
    out.update(extra)
    return out


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


# ------------------------------------------------------------------------------ stills


def _load_gray(frame: Path | str | bytes) -> np.ndarray:
    from PIL import Image

    if isinstance(frame, bytes | bytearray):
        source: Any = io.BytesIO(frame)
    elif isinstance(frame, str) and frame.startswith("file:"):
        source = uri_to_path(frame)
    else:
        source = Path(frame)
    with Image.open(source) as image:
        gray = image.convert("L")
        # box-filtered thumbnail: the checks look at whole-picture statistics only
        gray.thumbnail(_STILL_SIZE, Image.Resampling.BOX)
        return np.asarray(gray, dtype=np.float32)


def _still_checks(gray: np.ndarray, s: dict[str, Any]) -> tuple[list[str], list[str]]:
    mean = float(gray.mean())
    std = float(gray.std())
    dark = float((gray < s["black_pixel_luma"] * 255).mean())
    extreme = float(((gray <= 1) | (gray >= 254)).mean())
    notes = [f"mean_luma={mean / 255:.3f}", f"std={std:.2f}", f"dark={dark:.3f}"]
    notes.append(f"clipped={extreme:.3f}")
    if dark >= s["black_picture_ratio"]:
        return ["black"], notes
    if std < s["flat_std"]:
        return ["flat"], notes
    if extreme >= s["clipped_pixel_ratio"]:
        return ["clipped"], notes
    return [], notes


def inspect(frames: list[Path | str | bytes], prompts: list[str], opts: dict[str, Any]) -> QAReport:
    """Check each still (a path, ``file:`` URI or PNG bytes) for a black, flat or blown-out
    picture; ``prompts`` are accepted for the interface and not read (no model here)."""
    s = _settings(opts)
    per_frame: list[QAFrameResult] = []
    findings: list[dict[str, Any]] = []
    for index, frame in enumerate(frames):
        try:
            flags, notes = _still_checks(_load_gray(frame), s)
        except (OSError, ValueError) as exc:
            flags, notes = ["unreadable"], [f"error={type(exc).__name__}: {exc}"]
        per_frame.append(QAFrameResult(frame_index=index, flags=flags, annotations=notes))
        findings += [_finding(flag, f"frame {index}: {flag}", frame_index=index) for flag in flags]
    global_flags = [f["flag"] for f in findings]
    return QAReport(
        ok=not findings,
        reason=_reason(global_flags),
        per_frame=per_frame,
        global_flags=global_flags,
        top_responses=["preview heuristics: no model consulted"],
        confidence_summary={
            "frames": float(len(frames)),
            "flagged_frames": float(sum(1 for f in per_frame if f.flags)),
        },
        opts_snapshot=_snapshot(s),
        report={"provider": PROVIDER_ID, "version": VERSION, "findings": findings},
    )


# ------------------------------------------------------------------------------- movie


_FRAMES_DECODED = re.compile(r"\(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded")


def _decode(
    path: Path, info: MediaInfo, fps: float, s: dict[str, Any], work: Path, video: bool = True
) -> dict[str, Any]:
    """One ffmpeg run: small gray frames, mono 16 kHz samples and the R128 summary
    (``video`` False: the sound only, without decoding the pictures)."""
    w, h, rate = s["analysis_width"], s["analysis_height"], s["audio_rate"]
    video = video and info.has_video
    chains, outputs = [], []
    if video:
        chains.append(f"[0:v:0]fps={fps:g},scale={w}:{h}:flags=area,format=gray[v]")
        outputs += ["-map", "[v]", "-f", "rawvideo", "-y", str(work / "v.raw")]
    if info.has_audio:
        # first_pts=0 pads a late-starting track with silence, so times stay movie times;
        # rematrix_maxval=1 averages the channels into mono (the default sums them at -3 dB
        # each, which reads a full-scale stereo peak as clipping); loudness is measured on
        # the original channels, as the assembler's R128 meter does
        chains.append(
            f"[0:a:0]asplit=2[a0][a1];"
            f"[a0]aresample={rate}:async=1:first_pts=0:rematrix_maxval=1,"
            "aformat=sample_fmts=flt:channel_layouts=mono[a];"
            "[a1]ebur128=framelog=quiet:peak=sample[e]"
        )
        outputs += ["-map", "[a]", "-f", "f32le", "-y", str(work / "a.raw")]
        outputs += ["-map", "[e]", "-f", "null", "-"]
    if not chains:
        return {}
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "verbose",
        *(pieces.ANALYSIS_DECODE if video else ["-vn", "-sn", "-dn"]),
        "-i", str(path), "-filter_complex", ";".join(chains), *outputs,
    ]  # fmt: skip
    text = run_command(cmd, timeout_s=s["timeout_s"]).stderr
    out: dict[str, Any] = {}
    if video:
        raw = _read(work / "v.raw", np.uint8)
        out["video"] = raw[: raw.size // (w * h) * (w * h)].reshape(-1, h, w)
        if m := _FRAMES_DECODED.search(text):
            out["frames_decoded"] = int(m[1])
    if info.has_audio:
        out["audio"] = _read(work / "a.raw", np.dtype("<f4"))
        r128 = ebur128_summary(text)
        if "integrated_lufs" in r128:
            out["lufs"] = r128["integrated_lufs"]
        if "sample_peak_dbfs" in r128:
            out["peak_dbfs"] = r128["sample_peak_dbfs"]
    return out


def _movie_fps(opts: dict[str, Any] | None, probed: float | None) -> float | None:
    """The movie's frame rate as its maker gave it (``opts["fps"]``), else as probed."""
    given = (opts or {}).get("fps")
    if given is None:
        return probed
    try:
        value = float(given)
    except (TypeError, ValueError):
        raise ConfigError(f"{given!r} is not a valid fps", field="fps") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{given!r} is not a valid fps", field="fps")
    return value


def _decode_pieces(
    path: Path,
    info: MediaInfo,
    parts: list[pieces.Piece],
    movie_fps: float,
    fps: float,
    s: dict[str, Any],
    opts: dict[str, Any] | None,
    work: Path,
) -> dict[str, Any]:
    """The sound from the movie file (it is made anew for every movie), the pictures from
    the movie's segment files, each decoded once and kept (see pieces.py). The sound is
    decoded while the pictures are: one more process beside the segments' decodes."""
    kept = (opts or {}).get("measure_cache")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-sound") as pool:
        sound = pool.submit(
            contextvars.copy_context().run, _decode, path, info, fps, s, work, False
        )
        frames, total, _decoded = pieces.measure(
            parts, movie_fps, fps, (s["analysis_width"], s["analysis_height"]), work,
            Path(kept) if kept else None, s["timeout_s"],
        )  # fmt: skip
        out = sound.result()
    out["video"], out["frames_decoded"] = frames, total
    return out


def _read(path: Path, dtype: Any) -> np.ndarray:
    # a stream that decodes to nothing leaves no file: that is an empty stream, not an error
    return np.fromfile(path, dtype=dtype) if path.exists() else np.zeros(0, dtype=dtype)


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """(first, last) index of each stretch of True."""
    if mask.size == 0:
        return
    padded = np.concatenate(([False], mask.astype(bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        yield int(start), int(stop) - 1


def _merged(runs: Iterable[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Runs joined where at most ``gap`` indices separate them."""
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] - 1 <= gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _frozen_runs(small: np.ndarray, black: np.ndarray, limit: float) -> list[tuple[int, int]]:
    """Stretches whose frames all stay within ``limit`` of the stretch's first frame.

    Comparing with the first frame (as ffmpeg's freezedetect does) rather than the previous one
    keeps a slow camera move from looking frozen: its drift adds up until it shows.
    """
    runs = []
    frames = small.astype(np.int16)
    anchor = 0
    for i in range(1, len(frames) + 1):
        if i < len(frames) and np.abs(frames[i] - frames[anchor]).mean() <= limit:
            continue
        if i - 1 > anchor and not black[anchor]:
            runs.append((anchor, i - 1))
        anchor = i
    return runs


def _video_findings(
    small: np.ndarray, fps: float, end_s: float, s: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    n = len(small)
    if n == 0:
        return [_finding("no_video", "no video frames")], {}
    flat = small.reshape(n, -1)
    dark = (flat < s["black_pixel_luma"] * 255).mean(axis=1)
    black = dark >= s["black_picture_ratio"]
    findings = []
    for check, runs, limit in (
        ("black", _runs(black), s["max_black_s"]),
        ("frozen", _frozen_runs(small, black, s["frozen_mad"]), s["max_frozen_s"]),
    ):
        for a, b in runs:
            start, stop = a / fps, min((b + 1) / fps, end_s)
            if stop - start > limit + 1e-9:
                findings.append(
                    _finding(check, f"{check} {start:.2f}-{stop:.2f} s", _r(start), _r(stop))
                )
    motion = np.abs(np.diff(flat.astype(np.int16), axis=0)).mean(axis=1) if n > 1 else np.zeros(1)
    measured = {
        "mean_luma": _r(flat.mean() / 255),
        "black_frames_s": _r(black.sum() / fps),
        "mean_motion": _r(motion.mean()),
    }
    return findings, measured


def _windows(samples: np.ndarray, size: int) -> np.ndarray:
    """Samples cut into windows of ``size`` (the last one zero-padded)."""
    count = max(1, math.ceil(samples.size / size))
    padded = np.zeros(count * size, dtype=np.float32)
    padded[: samples.size] = samples
    return padded.reshape(count, size)


def _audio_findings(
    samples: np.ndarray, decoded: dict[str, Any], s: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    rate = s["audio_rate"]
    total = samples.size / rate
    findings: list[dict[str, Any]] = []
    if samples.size == 0:
        return [_finding("no_audio", "no audio samples")], {"audio_duration_s": 0.0}
    size = round(_SILENCE_WINDOW_S * rate)
    rms = np.sqrt((_windows(samples, size).astype(np.float64) ** 2).mean(axis=1))
    quiet = rms < 10 ** (s["silence_dbfs"] / 20)
    all_silent = bool(quiet.all())
    for a, b in _runs(quiet):
        start, stop = a * size / rate, min((b + 1) * size / rate, total)
        if stop - start > s["max_silence_s"] + 1e-9 or all_silent:
            findings.append(
                _finding("silence", f"silence {start:.2f}-{stop:.2f} s", _r(start), _r(stop))
            )
    size = round(_CLIP_WINDOW_S * rate)
    hot = (np.abs(_windows(samples, size)) >= s["clip_level"]).mean(axis=1)
    # clipped syllables a moment apart are one problem, not one warning each
    for a, b in _merged(_runs(hot > s["max_clip_fraction"]), round(_CLIP_MERGE_S / _CLIP_WINDOW_S)):
        start, stop = a * size / rate, min((b + 1) * size / rate, total)
        share = float(hot[a : b + 1].mean())
        findings.append(
            _finding(
                "clipping",
                f"clipping {start:.2f}-{stop:.2f} s ({share:.0%} of samples)",
                _r(start),
                _r(stop),
                _r(share, 4),
            )
        )
    lufs = decoded.get("lufs")
    if lufs is None or not math.isfinite(lufs) or lufs <= _SILENT_LUFS:
        lufs = _SILENT_LUFS
    target, tolerance = s["target_lufs"], s["loudness_tolerance_lu"]
    # a silent track is already reported as silence; its loudness means nothing
    if not all_silent and abs(lufs - target) > tolerance:
        findings.append(
            _finding(
                "loudness",
                f"loudness {lufs:.1f} LUFS (target {target:g} ±{tolerance:g})",
                value=_r(lufs, 1),
                target=target,
            )
        )
    measured = {
        "loudness_lufs": _r(lufs, 1),
        "audio_duration_s": _r(total, 4),
        "clipped_fraction": _r((np.abs(samples) >= s["clip_level"]).mean(), 5),
    }
    peak = decoded.get("peak_dbfs")
    if peak is not None and math.isfinite(peak):
        measured["sample_peak_dbfs"] = _r(peak, 1)
    return findings, measured


def _duration_findings(
    video_s: float | None, audio_s: float | None, frame_s: float, expected: float | None
) -> list[dict[str, Any]]:
    """Streams that differ from each other, or from ``expected``, by more than a frame."""
    limit = frame_s + 1e-6
    findings = []
    if expected is not None:
        for name, got in (("video", video_s), ("audio", audio_s)):
            if got is not None and abs(got - expected) > limit:
                findings.append(
                    _finding(
                        "duration",
                        f"{name} {got:.2f} s, expected {expected:.2f} s",
                        _r(min(got, expected)),
                        _r(max(got, expected)),
                        _r(got, 4),
                        stream=name,
                        expected_s=expected,
                    )
                )
    elif video_s is not None and audio_s is not None and abs(video_s - audio_s) > limit:
        findings.append(
            _finding(
                "duration",
                f"duration mismatch: video {video_s:.2f} s, audio {audio_s:.2f} s",
                _r(min(video_s, audio_s)),
                _r(max(video_s, audio_s)),
                _r(audio_s - video_s, 4),
                video_s=_r(video_s, 4),
                audio_s=_r(audio_s, 4),
            )
        )
    return findings


def _segment_results(
    segments: Sequence[tuple[float, float]],
    findings: list[dict[str, Any]],
    decoded: dict[str, Any],
    fps: float,
    s: dict[str, Any],
) -> list[QAFrameResult]:
    """One entry per segment, holding the timed findings that overlap it.

    A finding belongs to every segment it overlaps by more than one analysed frame (the
    sampling's own uncertainty at a cut), or else to the segment where it starts, so nothing
    flagged for the movie is missing from the segments.
    """
    tolerance = max(1 / fps, _CLIP_WINDOW_S) if fps else _CLIP_WINDOW_S
    timed = [f for f in findings if f["start_s"] is not None and f["end_s"] is not None]
    owners: dict[int, list[int]] = {}
    for k, f in enumerate(timed):
        hits = [
            i
            for i, (a, b) in enumerate(segments)
            if min(b, f["end_s"]) - max(a, f["start_s"]) > tolerance
        ]
        if not hits:
            hits = [i for i, (a, b) in enumerate(segments) if a <= f["start_s"] < b][:1]
        for i in hits:
            owners.setdefault(i, []).append(k)
    video, audio = decoded.get("video"), decoded.get("audio")
    rate = s["audio_rate"]
    results = []
    for i, (a, b) in enumerate(segments):
        mine = [timed[k] for k in owners.get(i, [])]
        notes = [f"end_s={b:.3f}"]
        for check in ("black", "frozen", "silence", "clipping"):
            spent = sum(
                max(0.0, min(b, f["end_s"]) - max(a, f["start_s"]))
                for f in mine
                if f["check"] == check
            )
            notes.append(f"{check}_s={spent:.2f}")
        if video is not None and fps:
            part = video[math.ceil(a * fps - 1e-9) : math.ceil(b * fps - 1e-9)]
            if len(part):
                notes.append(f"mean_luma={part.mean() / 255:.3f}")
        if audio is not None:
            part = audio[round(a * rate) : round(b * rate)]
            if part.size:
                level = float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))
                # floored at -100 dBFS so digital silence reads as a number, not -inf
                notes.append(f"rms_dbfs={20 * math.log10(max(level, 1e-5)):.1f}")
        results.append(
            QAFrameResult(
                frame_index=i,
                timestamp_s=float(a),
                flags=[f["flag"] for f in mine],
                annotations=notes,
            )
        )
    return results


def measure_segment(
    path: Path | str, key: str, measure_cache: Path | str, opts: dict[str, Any] | None = None
) -> bool:
    """Measure one segment file of a movie still being made and keep it under its key in
    ``measure_cache``, so the movie's :func:`inspect_movie` (given the same pieces and
    cache) only reads it; False when it was measured before."""
    s = _settings(opts)
    with tempfile.TemporaryDirectory(prefix="qa-ahead-") as tmp:
        return pieces.keep(
            Path(path), key, (s["analysis_width"], s["analysis_height"]), Path(tmp),
            Path(measure_cache), s["timeout_s"],
        )  # fmt: skip


def inspect_movie(
    path: Path | str,
    segments: list[tuple[float, float]] | None = None,
    opts: dict[str, Any] | None = None,
) -> QAReport:
    """Check a movie for black, frozen, silent, clipped, mis-levelled or mis-timed stretches.

    The movie is decoded once. ``segments`` are (start, end) seconds (e.g. the scenes): each
    gets a ``per_frame`` entry (``frame_index`` = segment index, ``timestamp_s`` = start) with
    the findings that fall in it; ``global_flags`` hold every finding of the movie.
    ``opts`` overrides :data:`DEFAULTS` and may give ``expected_duration_s``.

    A movie joined from segment files (the assembler's) may also give them:
    ``opts["pieces"]`` = ``[{"path", "start_frame", "frames", "key"}, ...]`` in movie order,
    ``opts["fps"]`` (the movie's frame rate) and ``opts["measure_cache"]`` (a folder). The
    pictures are then measured per segment file and kept there by segment key, so a later
    movie decodes only its new segments; the result is the whole movie's (see pieces.py).
    The sound is still decoded from the movie, without its pictures. Pieces that do not
    cover the movie from frame 0, or whose files are missing, are ignored.
    """
    s = _settings(opts)
    path = Path(path)
    info = probe(path)
    by_pieces = pieces.pieces_from((opts or {}).get("pieces")) if info.has_video else None
    source_fps = _movie_fps(opts, info.fps) if by_pieces else info.fps
    if not source_fps:
        by_pieces = None
    fps = float(s["analysis_fps"])
    if source_fps:
        # sampling above the source rate would repeat frames and fake frozen stretches
        fps = min(fps, source_fps)
    findings: list[dict[str, Any]] = []
    measured: dict[str, float] = {"analysis_fps": _r(fps)}
    decoded: dict[str, Any] = {}
    if not info.has_video:
        findings.append(_finding("no_video", "no video stream"))
    if not info.has_audio and s["require_audio"]:
        findings.append(_finding("no_audio", "no audio stream"))
    video_s = audio_s = None
    if info.has_video or info.has_audio:
        with tempfile.TemporaryDirectory(prefix="qa-preview-") as tmp:
            if by_pieces and source_fps:
                decoded = _decode_pieces(path, info, by_pieces, source_fps, fps, s, opts, Path(tmp))
            else:
                decoded = _decode(path, info, fps, s, Path(tmp))
    if "video" in decoded:
        small = decoded["video"]
        if "frames_decoded" in decoded and source_fps:
            video_s = decoded["frames_decoded"] / source_fps
        else:
            video_s = len(small) / fps
        found, numbers = _video_findings(small, fps, video_s, s)
        findings += found
        measured.update(numbers, video_duration_s=_r(video_s, 4))
    if "audio" in decoded:
        audio_s = decoded["audio"].size / s["audio_rate"]
        found, numbers = _audio_findings(decoded["audio"], decoded, s)
        findings += found
        measured.update(numbers)
    frame_s = 1 / source_fps if source_fps else 1 / fps
    findings += _duration_findings(video_s, audio_s, frame_s, s.get("expected_duration_s"))
    findings.sort(key=lambda f: (f["start_s"] is None, f["start_s"] or 0.0))
    for check in ("black", "frozen", "silence", "clipping"):
        measured[f"{check}_s"] = _r(
            sum(f["end_s"] - f["start_s"] for f in findings if f["check"] == check)
        )
    per_segment = (
        _segment_results(segments, findings, decoded, fps, s) if segments is not None else []
    )
    global_flags = [f["flag"] for f in findings]
    return QAReport(
        ok=not findings,
        reason=_reason(global_flags),
        per_frame=per_segment,
        global_flags=global_flags,
        top_responses=["preview heuristics: no model consulted"],
        confidence_summary=measured,
        opts_snapshot=_snapshot(s),
        report={"provider": PROVIDER_ID, "version": VERSION, "findings": findings},
    )


# ---------------------------------------------------------------------------- summary


def _reason(flags: list[str]) -> str | None:
    if not flags:
        return None
    head = "; ".join(flags[:3])
    more = f" (+{len(flags) - 3} more)" if len(flags) > 3 else ""
    noun = "check" if len(flags) == 1 else "checks"
    return f"{len(flags)} {noun} failed: {head}{more}"


def _snapshot(s: dict[str, Any]) -> dict[str, Any]:
    return {"provider_id": PROVIDER_ID, "version": VERSION, **s}


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` past an hour), as a player shows a time."""
    tenths = round(max(0.0, seconds) * 10)
    minutes, tenth_s = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    sec = f"{tenth_s // 10:02d}.{tenth_s % 10}"
    return f"{hours}:{minutes:02d}:{sec}" if hours else f"{minutes}:{sec}"


_STILL_WORDS = {
    "black": "black picture",
    "flat": "blank picture (no detail)",
    "clipped": "blown-out picture (mostly pure black or white)",
    "unreadable": "picture cannot be read",
}


def _warning(f: dict[str, Any]) -> str:
    check, start, end = f.get("check"), f.get("start_s"), f.get("end_s")
    if "frame_index" in f:
        return f"frame {f['frame_index']}: {_STILL_WORDS.get(str(check), check)}"
    span = (end - start) if start is not None and end is not None else 0.0
    at = clock(start) if start is not None else ""
    if check == "black":
        return f"black picture for {span:.1f} s at {at}"
    if check == "frozen":
        return f"frozen picture for {span:.1f} s at {at}"
    if check == "silence":
        return f"silence for {span:.1f} s at {at}"
    if check == "clipping":
        return f"audio clipping for {span:.1f} s at {at}"
    if check == "loudness":
        return f"loudness {f['value']:.1f} LUFS (target {f.get('target', -16.0):g})"
    if check == "duration" and "expected_s" in f:
        return (
            f"{f['stream']} lasts {f['value']:.2f} s, expected {f['expected_s']:.2f} s "
            f"(differs from {at})"
        )
    if check == "duration":
        return (
            f"video lasts {f['video_s']:.2f} s but audio {f['audio_s']:.2f} s (differs from {at})"
        )
    return str(f.get("flag", check))


def warnings(report: QAReport) -> list[str]:
    """One human line per failed check, with where it happens (for the run summary)."""
    findings = report.report.get("findings")
    if findings is None:
        # a report from another provider: its flags are all there is to say
        return list(report.global_flags) or ([report.reason] if report.reason else [])
    return [_warning(f) for f in findings]
