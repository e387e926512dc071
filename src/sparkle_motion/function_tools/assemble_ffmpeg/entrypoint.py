"""assemble_clips: the plan's pictures and narration into one finished MP4 (the spec's API).

Encoding once, re-encoding only what changed: the video is encoded per segment (each scene's
body, and each transition on its own) with identical encoder settings, cached by content,
and joined by stream copy. The soundtrack is mixed and loudness-normalised on its own, then
muxed in with soft subtitles. Editing one narration re-encodes only its scene and the two
transitions beside it.

A segment file is trusted only while its seal holds: its sha256 is taken right after it is
encoded and kept with its stat in a sidecar beside it (``<key>.mp4.seal``, see
utils/seal.py). A segment whose stat changed is hashed again; one that is damaged,
truncated or unsealed is encoded again, and so is a damaged title card. The finished movie
is probed before it is published: its duration must be the timeline's and its streams all
there, or the assembly fails instead of publishing (and caching) a broken movie.

A segment's cache key is the sha256 of: the segment command with every input replaced by
its content sha256 and no absolute times (scenes are laid out in their own frame numbers),
hence its timing, moves and encoder arguments; the ffmpeg version; the Pillow version when a
title card is drawn; and a format version.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import platform
import shlex
import shutil
import tempfile
import threading
import time
import uuid
import wave
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sparkle_motion import adk_helpers
from sparkle_motion.errors import SparkleError, SubprocessError
from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError, burn, commands
from sparkle_motion.function_tools.assemble_ffmpeg import audio as soundtrack
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import build_cues, write_srt
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import (
    Segment,
    Timeline,
    Visual,
    build_timeline,
)
from sparkle_motion.types import (
    ArtifactRef,
    AssembleOpts,
    MoviePlan,
    NarrationInput,
    VisualInput,
    uri_to_path,
)
from sparkle_motion.utils import fonts
from sparkle_motion.utils.ffmpeg import MediaInfo, ffmpeg_exe, ffmpeg_version, probe
from sparkle_motion.utils.media import AUDIO_TYPES
from sparkle_motion.utils.run_command import SubprocessResult, run_command
from sparkle_motion.utils.seal import SidecarSeals, seal_file, sha256_file, touch
from sparkle_motion.workspace import get_workspace

__all__ = ["AssemblyError", "assemble_clips", "draw_title_card", "segment_cache_key"]

SEGMENT_FORMAT = "sparkle-assemble-segment/1"
CARD_FORMAT = "sparkle-title-card/2"  # 2: a font of the text's script, CJK wrapping
SEGMENT_TIMEOUT_S = 900.0
ProgressFn = Callable[[float, str], None]
_SEALS = SidecarSeals()


# ------------------------------------------------------------------------------ inputs


def _allowed_roots(ws_root: Path, cache_dir: Path | None) -> list[Path]:
    roots = [ws_root.resolve()]
    if cache_dir is not None:
        c = Path(cache_dir).expanduser().resolve()
        # <home>/cache/segments belongs to the workspace <home>
        roots.append(c.parents[1] if c.parts[-2:] == ("cache", "segments") else c)
    return roots


def _input_path(uri: str, roots: Sequence[Path], what: str) -> Path:
    """The local file behind a file:// URI (or absolute path), refused unless it is safe."""
    if not isinstance(uri, str) or not uri.strip():
        raise AssemblyError(f"{what}: no file given")
    if any(c in uri for c in "\x00\n\r"):
        raise AssemblyError(f"{what}: the path contains a control character")
    if uri.startswith("-"):
        raise AssemblyError(f"{what}: {uri!r} starts with '-' (ffmpeg would read an option)")
    if "://" in uri:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise AssemblyError(f"{what}: {uri!r} is not a local file:// URI")
        path = uri_to_path(uri)
    else:
        path = Path(uri)
    if not path.is_absolute():
        raise AssemblyError(f"{what}: {uri!r} is not an absolute path or file:// URI")
    resolved = path.resolve()
    if not any(resolved.is_relative_to(r) for r in roots):
        raise AssemblyError(
            f"{what}: {resolved} is outside the workspace", hint="inputs must be published first"
        )
    if not resolved.is_file():
        raise AssemblyError(f"{what}: {resolved} does not exist")
    return resolved


def _as_opts(opts: AssembleOpts | dict[str, Any] | None, plan: MoviePlan) -> AssembleOpts:
    if isinstance(opts, AssembleOpts):
        return opts
    if opts:
        return AssembleOpts.model_validate(opts)
    return plan.assemble_opts or AssembleOpts()


def _narrations(audio_in: dict[str, Any] | None) -> list[NarrationInput]:
    if not audio_in:
        return []
    items = audio_in.get("narration") or []
    return [n if isinstance(n, NarrationInput) else NarrationInput.model_validate(n) for n in items]


MUSIC_TYPES = AUDIO_TYPES  # every sound the assembler can mix under the voice


def _music(audio_in: dict[str, Any] | None, roots: Sequence[Path]) -> commands.Music | None:
    """The music bed (``audio["music"]``: a published file's URI), refused unless safe."""
    uri = (audio_in or {}).get("music")
    if not uri:
        return None
    path = _input_path(uri, roots, "music")
    media = (audio_in or {}).get("music_media_type")
    if media not in MUSIC_TYPES.values():  # unknown to the publisher: go by its name
        media = MUSIC_TYPES.get(path.suffix.lower())
    if media not in MUSIC_TYPES.values():
        raise AssemblyError(f"music: {path.name} is not a wav, mp3, m4a, flac or ogg file")
    return commands.Music(str(path), media)


def _wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / w.getframerate() if w.getframerate() else None
    except (wave.Error, EOFError, OSError):
        return None


# ---------------------------------------------------------------------------- title cards


def _pillow_version() -> str:
    import PIL

    return PIL.__version__


# characters written without spaces between words: a line may break between any two
_UNSPACED = (
    (0x2E80, 0x2FDF), (0x3040, 0x30FF), (0x3100, 0x312F), (0x31A0, 0x31FF), (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F),
)  # fmt: skip
# punctuation that never starts a line: it stays with the character before it
_NO_LINE_START = set("，。！？、；：”’）」』》〉】〕…‥・ー々〜%,.!?;:)]}»")


def _unspaced(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _UNSPACED) or 0x3000 <= cp <= 0x303F


def _pieces(word: str) -> list[str]:
    """A space-free word cut where a line may break: between CJK characters, not before
    closing punctuation, never inside a run of other letters."""
    pieces: list[str] = []
    for ch in word:
        joined = pieces and (
            ch in _NO_LINE_START or not (_unspaced(ch) or _unspaced(pieces[-1][-1]))
        )
        if joined:
            pieces[-1] += ch
        else:
            pieces.append(ch)
    return pieces


def _wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` as lines that fit: broken at spaces and between CJK characters, and inside
    a word only when the word alone is wider than the card."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            for i, piece in enumerate(_pieces(word)):
                candidate = f"{current} {piece}" if current and i == 0 else current + piece
                if fits(candidate):
                    current = candidate
                    continue
                if current:
                    lines.append(current)
                current = ""
                for ch in piece:  # a piece wider than the card
                    if current and not fits(current + ch):
                        lines.append(current)
                        current = ""
                    current += ch
        if current:
            lines.append(current)
    return lines or [""]


def draw_title_card(text: str, size: tuple[int, int], path: Path) -> Path:
    """Draw ``text`` centred and wrapped on a dark card, in a font that has its glyphs
    (utils/fonts.py: Noto Sans CJK for Chinese, Japanese, Korean and Latin text)."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", (w, h), (14, 18, 28))
    draw = ImageDraw.Draw(img)
    font_size = max(10, h // 12)
    while True:
        font = fonts.font_for_text(text, font_size)
        lines = _wrap(text, lambda s, f=font: draw.textlength(s, font=f) <= w * 0.84)
        step = round(font_size * 1.35)
        if len(lines) * step <= h * 0.84 or font_size <= 10:
            break
        font_size = max(10, int(font_size * 0.85))
    y = (h - len(lines) * step) / 2
    for line in lines:
        x = (w - draw.textlength(line, font=font)) / 2
        draw.text((round(x), round(y)), line, font=font, fill=(236, 236, 240))
        y += step
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _card_font(text: str) -> list[Any]:
    """What of the card's font decides its pixels: the file's name, size and face index."""
    found = fonts.font_path_for_text(text)
    if found is None:
        return ["pillow-default"]
    path, index = found
    return [Path(path).name, os.path.getsize(path), index]


def _card_path(cache: Path, text: str, size: tuple[int, int]) -> Path:
    material = [CARD_FORMAT, text, list(size), _pillow_version(), _card_font(text)]
    key = json.dumps(material, ensure_ascii=False)
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = cache / "cards" / f"{digest}.png"
    if touch(path, _SEALS) is not None:
        draw_title_card(text, size, path)
        seal_file(path, _SEALS)
    return path


# ------------------------------------------------------------------------------- segments


def segment_cache_key(
    tl: Timeline,
    segment: Segment,
    encode: Sequence[str],
    digest: Callable[[Visual], str],
    version: str,
    burn: str | None = None,
) -> str:
    """sha256 of everything that decides a segment's bytes (see the module docstring);
    ``burn``: its burned subtitles as keyed (burn.py), None when it shows none."""
    cmd = commands.segment_command("ffmpeg", tl, segment, encode, lambda v: digest(v), "OUT", burn)
    scenes = [segment.index] if segment.kind == "scene" else [segment.index, segment.index + 1]
    has_card = any(v.kind == "card" for i in scenes for v in tl.scenes[i].visuals)
    material = {
        "format": SEGMENT_FORMAT,
        "ffmpeg": version,
        "pillow": _pillow_version() if has_card else None,
        "command": cmd,
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class _Runner:
    """Runs ffmpeg commands and remembers every one and what it printed (thread-safe)."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.results: list[SubprocessResult] = []
        self._lock = threading.Lock()

    def __call__(self, cmd: list[str], timeout_s: float = SEGMENT_TIMEOUT_S) -> SubprocessResult:
        with self._lock:
            self.commands.append(list(cmd))
        try:
            result = run_command(cmd, timeout_s=timeout_s, retries=1)
        except SubprocessError as exc:
            if exc.result is not None:
                with self._lock:
                    self.results.append(exc.result)
            raise
        with self._lock:
            self.results.append(result)
        return result

    def probe(self, exe: str, path: Path) -> MediaInfo:
        """utils.ffmpeg.probe, recorded with the command it runs."""
        with self._lock:
            self.commands.append([exe, "-hide_banner", "-i", str(path)])
        return probe(path)

    def log_text(self) -> str:
        """Every command run, with its exit, stdout and stderr (the assembly's log)."""
        with self._lock:
            results = list(self.results)
        parts = []
        for r in results:
            state = "timed out" if r.timed_out else f"exit {r.exit_code}"
            parts += [
                f"$ {shlex.join(r.cmd)}",
                f"# attempt {r.attempts}, {state}, {r.duration_s:.2f} s",
                "--- stdout", r.stdout.rstrip("\n"), "--- stderr", r.stderr.rstrip("\n"), "",
            ]  # fmt: skip
        return "\n".join(parts)


@contextlib.contextmanager
def _work_folder(scratch: Path, keep_on_failure: bool, run: _Runner) -> Iterator[Path]:
    """A fresh temp folder, removed afterwards; on failure its ``ffmpeg.log`` is written
    and, with ``keep_on_failure`` (``--debug``), the folder is kept and the error says where."""
    work = Path(tempfile.mkdtemp(dir=scratch, prefix="assemble-"))
    keep = False
    try:
        yield work
    except BaseException as exc:
        if keep_on_failure:
            (work / "ffmpeg.log").write_text(run.log_text(), encoding="utf-8")
            keep = True
            if isinstance(exc, SparkleError):
                exc.message = f"{exc.message} (kept the assembly's work folder {work})"
                exc.args = (exc.message,)
        raise
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _check_movie(info: MediaInfo, tl: Timeline, *, want_subtitles: bool) -> None:
    """The muxed movie has the timeline's duration (within two frames) and every stream."""
    missing = [
        name
        for name, present in (
            ("video", info.has_video),
            ("audio", info.has_audio),
            ("subtitles", info.subtitle_streams > 0 or not want_subtitles),
        )
        if not present
    ]
    if missing:
        raise AssemblyError(f"the assembled movie has no {' or '.join(missing)} stream")
    tolerance = 2 / tl.fps + 0.011  # ffmpeg prints the duration to 10 ms
    if info.duration_s is None or abs(info.duration_s - tl.duration_s) > tolerance:
        raise AssemblyError(
            f"the assembled movie lasts {info.duration_s} s, not the timeline's "
            f"{tl.duration_s:.3f} s"
        )


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# ------------------------------------------------------------------------------ assemble


def assemble_clips(
    movie_plan: MoviePlan | dict[str, Any],
    clips: list[VisualInput] | list[dict[str, Any]],
    audio: dict[str, Any] | None,
    out_path: Path | str,
    opts: AssembleOpts | dict[str, Any] | None,
    *,
    cache_dir: Path | None = None,
    on_progress: ProgressFn | None = None,
    work_dir: Path | None = None,
    keep_failed_work: bool = False,
) -> ArtifactRef:
    """Assemble the plan's visual outputs and narration into ``out_path`` and publish it.

    Args:
        movie_plan: the plan (scene rule, order, which step consumes which).
        clips: one VisualInput per visual output (PNG stills, MP4 clips).
        audio: ``{"narration": [NarrationInput, ...], "music": URI}`` or None (music and
            ``music_media_type`` optional: a bed mixed under the voice).
        out_path: the MP4 to write; an ``.srt`` is written beside it.
        opts: encoding, sound and timeline options (default: the plan's assemble_opts).
        cache_dir: where encoded segments are kept (default ``<home>/cache/segments``).
        on_progress: called with (fraction, message) as the work advances.
        work_dir: where temp files go (default ``<home>/tmp``): production gives the run's
            own temp folder, so what a killed run leaves is found and removed by its resume.
        keep_failed_work: on failure keep the temp folder (with ``ffmpeg.log``) and name it
            in the error (``--debug``).

    Returns:
        The published MP4's ArtifactRef (metadata: plan_id, ffmpeg_version, encode args,
        every ffmpeg command run, duration_s, scenes, segment cache hits and misses, srt_path,
        log_path: what every ffmpeg command printed, written beside ``out_path``).

    Raises:
        AssemblyError: an input is unsafe, missing or unusable, or there is nothing to show.
        SubprocessError: ffmpeg failed (the message ends with its last error lines).
    """
    started = time.perf_counter()
    plan = movie_plan if isinstance(movie_plan, MoviePlan) else MoviePlan.model_validate(movie_plan)
    opts = _as_opts(opts, plan)
    visuals = [c if isinstance(c, VisualInput) else VisualInput.model_validate(c) for c in clips]
    narrations = _narrations(audio)
    progress = on_progress or (lambda fraction, message: None)

    ws = get_workspace()
    cache = Path(cache_dir).expanduser().resolve() if cache_dir else ws.root / "cache" / "segments"
    roots = _allowed_roots(ws.root, Path(cache_dir) if cache_dir else None)
    files: dict[str, Path] = {}
    for v in visuals:
        files[v.uri] = _input_path(v.uri, roots, f"visual of step {v.step_id!r}")
        if not commands.supported_media(v.media_type):
            raise AssemblyError(f"visual of step {v.step_id!r}: unsupported {v.media_type!r}")
    for n in narrations:
        files[n.uri] = _input_path(n.uri, roots, f"narration of step {n.step_id!r}")
    music = _music(audio, roots)
    out_path = Path(out_path).expanduser().resolve()
    if out_path.is_dir():
        raise AssemblyError(f"{out_path} is a folder; give the MP4 file to write")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if any(c in str(cache) for c in "\n\r\x00"):
        raise AssemblyError("the cache folder's path contains a control character")

    exe = ffmpeg_exe()
    version = ffmpeg_version()
    run = _Runner()

    # the files decide the timing: a clip's real length, a WAV's real length
    fixed: list[VisualInput] = []
    for v in visuals:
        if v.media_type.startswith("video/") and not v.duration_s:
            info = run.probe(exe, files[v.uri])
            if not info.duration_s:
                raise AssemblyError(f"clip of step {v.step_id!r} has no readable duration")
            v = v.model_copy(update={"duration_s": info.duration_s})
        fixed.append(v)
    narrations = [
        n.model_copy(update={"duration_s": secs})
        if (secs := _wav_seconds(files[n.uri])) and abs(secs - n.duration_s) > 1e-3
        else n
        for n in narrations
    ]  # fmt: skip

    tl = build_timeline(plan, fixed, narrations, opts)
    cache.mkdir(parents=True, exist_ok=True)
    size = (tl.width, tl.height)
    cards = {
        v.text: _card_path(cache, v.text, size)
        for s in tl.scenes
        for v in s.visuals
        if v.kind == "card"
    }
    digests: dict[Path, str] = {}

    def path_of(v: Visual) -> Path:
        return cards[v.text] if v.kind == "card" else files[v.uri]

    def digest(v: Visual) -> str:
        p = path_of(v)
        if p not in digests:
            digests[p] = sha256_file(p)
        return "sha256:" + digests[p]

    enc = commands.encode_args(opts)
    segments = tl.segments()
    cues = build_cues(tl)
    style = opts.burned_subtitles()
    burns: list[burn.Burn | None] = (
        burn.prepare(style, tl, cues, segments, cache / "subs")
        if style is not None and cues
        else [None] * len(segments)
    )
    keys = [
        segment_cache_key(tl, seg, enc, digest, version, b.key if b else None)
        for seg, b in zip(segments, burns, strict=True)
    ]
    first: dict[str, Segment] = {}
    burn_of: dict[str, str | None] = {}
    for seg, key, b in zip(segments, keys, burns, strict=True):
        first.setdefault(key, seg)
        burn_of.setdefault(key, b.run if b else None)
    # a sealed, intact segment is marked recently used (kept by a future eviction); any
    # other (missing, unsealed, damaged, truncated) is encoded
    todo = {k: seg for k, seg in first.items() if touch(cache / f"{k}.mp4", _SEALS) is not None}
    scratch = Path(work_dir) if work_dir is not None else ws.tmp
    scratch.mkdir(parents=True, exist_ok=True)
    # an encode lands in the cache by rename, so its temp file must be on the same disk
    same_disk = scratch.stat().st_dev == cache.stat().st_dev
    scratch_for_cache = scratch if same_disk else cache
    cached = {k: k not in todo for k in keys}

    def encode(key: str, seg: Segment) -> None:
        final = cache / f"{key}.mp4"
        tmp = scratch_for_cache / f".{key}.{uuid.uuid4().hex[:8]}.part"
        cmd = commands.segment_command(
            exe, tl, seg, enc, lambda v: str(path_of(v)), str(tmp), burn_of[key]
        )
        try:
            run(cmd, timeout_s=max(SEGMENT_TIMEOUT_S, seg.frames / tl.fps * 30))
            os.replace(tmp, final)
            if seal_file(final, _SEALS) is None:
                raise AssemblyError(f"segment {final.name} changed while it was sealed")
        finally:
            tmp.unlink(missing_ok=True)

    unique = list(dict.fromkeys(keys))
    total_work = len(unique) + 2
    done = 0
    reused = sum(1 for key in unique if cached[key])
    if reused:
        done = reused
        progress(done / total_work, f"segments {done}/{len(unique)} ready ({reused} cached)")

    stages: dict[str, float] = {}  # where the assembly's time went (wall seconds)

    def timed(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args)
        finally:
            stages[name] = round(time.perf_counter() - began, 3)

    with _work_folder(scratch, keep_failed_work, run) as work:
        # The soundtrack does not depend on the pictures: mix and normalise it while the
        # segments encode (it is single-threaded; the encoders leave room for it).
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=_workers() + 1, thread_name_prefix="assemble") as pool:
            sound_future = pool.submit(
                contextvars.copy_context().run,
                timed, "audio", soundtrack.build_audio, exe, tl, opts, work, run, music,
            )  # fmt: skip
            futures = {
                pool.submit(contextvars.copy_context().run, encode, key, seg): seg
                for key, seg in todo.items()
            }
            try:
                for fut in as_completed(futures):
                    fut.result()
                    done += 1
                    progress(done / total_work, f"segments {done}/{len(unique)} ready")
                stages["segments"] = round(time.perf_counter() - began, 3)
                sound = sound_future.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        done += 1
        progress(done / total_work, "audio mixed and levelled")

        srt_path = out_path.with_suffix(".srt") if opts.subtitles else None
        soft = srt_path is not None and bool(cues) and opts.soft_subtitles()
        if srt_path is not None:
            write_srt(cues, srt_path)
        listing = work / "segments.ffconcat"
        listing.write_text(
            commands.concat_list([str(cache / f"{k}.mp4") for k in keys]), encoding="utf-8"
        )
        tmp_out = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:8]}.part")
        cmd = commands.mux_command(
            exe,
            str(listing),
            str(sound.path),
            str(srt_path) if soft else None,
            str(tmp_out),
        )
        try:
            timed("mux", run, cmd)
            os.replace(tmp_out, out_path)
        finally:
            tmp_out.unlink(missing_ok=True)
        done += 1
        progress(done / total_work, "segments joined, audio and subtitles muxed")

    info = timed("check", run.probe, exe, out_path)
    _check_movie(info, tl, want_subtitles=soft)
    hits = sum(1 for k in keys if cached[k])
    log_path = out_path.with_name(out_path.stem + ".ffmpeg.log")
    log_path.write_text(run.log_text(), encoding="utf-8")
    metadata: dict[str, Any] = {
        "plan_id": plan.id,
        "ffmpeg_version": version,
        "ffmpeg": exe,
        "platform": platform.platform(),
        "encode_args": enc,
        "audio_encode_args": commands.audio_encode_args(opts),
        "commands": run.commands,
        "duration_s": tl.duration_s,
        "frames": tl.total_frames,
        "fps": tl.fps,
        "width": tl.width,
        "height": tl.height,
        "scenes": tl.summary(),
        "transitions": [
            {"between": [t.index, t.index + 1], "kind": t.kind, "frames": t.frames}
            for t in tl.transitions
        ],
        "hidden_steps": list(tl.hidden),
        "segments": [
            {
                "kind": s.kind,
                "index": s.index,
                "start_frame": s.start,
                "frames": s.frames,
                "key": k,
                "cached": cached[k],
            }
            for s, k in zip(segments, keys, strict=True)
        ],
        "segment_cache": {"hits": hits, "misses": len(keys) - hits, "dir": str(cache)},
        "loudness": {
            "target_lufs": opts.loudness_lufs,
            "measured": sound.measured,
            "normalization": sound.normalization,
            "output": sound.output,
        },
        "subtitle_cues": len(cues),
        "subtitles_burned": any(b is not None for b in burns),
        "music": music.path if music is not None else None,
        "srt_path": str(srt_path) if srt_path is not None else None,
        "log_path": str(log_path),
        "out_path": str(out_path),
        "probe": {
            "duration_s": info.duration_s,
            "has_video": info.has_video,
            "has_audio": info.has_audio,
            "subtitle_streams": info.subtitle_streams,
        },
        "runtime_s": round(time.perf_counter() - started, 3),
        # segments and audio overlap (the soundtrack is made while segments encode)
        "stages_s": stages,
    }
    ref = adk_helpers.publish_local(out_path, "video/mp4", metadata)
    progress(1.0, "published")
    return ref
