"""assemble_clips: the plan's pictures and narration into one finished MP4 (the spec's API).

Encoding once, re-encoding only what changed: the video is encoded per segment (each scene's
body, and each transition on its own) with identical encoder settings, cached by content,
and joined by stream copy. The soundtrack is mixed and loudness-normalised on its own, then
muxed in with soft subtitles. Editing one narration re-encodes only its scene and the two
transitions beside it.

A run need not wait for its last step to start: :func:`encode_ready_segments` encodes the
segments whose inputs already exist (stand-ins mark the outputs still to come) on a
:class:`SegmentEncoder` that the assembly then shares, so rendering and encoding overlap and
the assembly finds most segments done. Waiting encodes start longest first.

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
import functools
import hashlib
import heapq
import itertools
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
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, NamedTuple
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
from sparkle_motion.utils.seal import (
    MemorySeals,
    SidecarSeals,
    seal_file,
    sealed_sha256,
    touch,
)
from sparkle_motion.workspace import get_workspace

__all__ = [
    "AssemblyError",
    "SegmentEncoder",
    "assemble_clips",
    "draw_title_card",
    "encode_ready_segments",
    "segment_cache_key",
]

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


# ------------------------------------------------------------------------ the encoder


class SegmentEncoder:
    """Encodes segments into the segment cache on its own threads, each key once.

    A run shares one between the segments it encodes ahead of the assembly (a scene's, as
    soon as that scene's inputs exist: :func:`encode_ready_segments`) and the assembly
    itself, which waits for a key already being encoded instead of encoding it again.
    Waiting encodes start longest first, wherever they came from, so the last to finish is
    a short one. The commands it ran go into the movie's log. ``close()`` drops what has
    not started.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(workers or _workers(), thread_name_prefix="segment")
        self._futures: dict[str, Future[None]] = {}
        self._waiting: list[tuple[int, int, Callable[[], None], Future[None]]] = []
        self._order = itertools.count()  # ties go first come, first served
        self._lock = threading.Lock()
        self._digests = MemorySeals()  # the inputs' hashes, kept while they are untouched
        self.run = _Runner()
        self.ahead: set[str] = set()  # keys encoded ahead of the assembly

    def submit(
        self, key: str, encode: Callable[[], None], frames: int = 0, *, ahead: bool = False
    ) -> Future[None]:
        """Encode ``key`` (``frames`` long) with ``encode`` unless it is being encoded now
        (then its future)."""
        with self._lock:
            fut = self._futures.get(key)
            if fut is not None and not fut.done():
                return fut
            fut = Future()
            self._futures[key] = fut
            if ahead:
                self.ahead.add(key)
            job = contextvars.copy_context().run
            heapq.heappush(
                self._waiting, (-frames, next(self._order), functools.partial(job, encode), fut)
            )
        self._pool.submit(self._next)
        return fut

    def _next(self) -> None:
        """Run the longest waiting encode (each submit queues one of these)."""
        with self._lock:
            if not self._waiting:
                return
            _, _, encode, fut = heapq.heappop(self._waiting)
        if not fut.set_running_or_notify_cancel():
            return
        try:
            encode()
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)

    def started(self, key: str) -> bool:
        with self._lock:
            return key in self._futures

    def digest(self, path: Path) -> str:
        """The file's sha256, hashed once while the file stays untouched (its seal)."""
        return sealed_sha256(path, self._digests)

    def close(self, *, wait: bool = True) -> None:
        """Drop the encodes that have not started; with ``wait``, let running ones end."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for *_, fut in waiting:
            fut.cancel()
        self._pool.shutdown(wait=wait, cancel_futures=True)


# ------------------------------------------------------------------------- the layout


class _Layout:
    """One assembly's timeline and everything a segment's key and encode need."""

    def __init__(
        self,
        plan: MoviePlan,
        visuals: list[VisualInput],
        narrations: list[NarrationInput],
        opts: AssembleOpts,
        audio: dict[str, Any] | None,
        cache_dir: Path | None,
        work_dir: Path | None,
        encoder: SegmentEncoder,
        pending: frozenset[str] = frozenset(),
    ) -> None:
        ws = get_workspace()
        self.cache = (
            Path(cache_dir).expanduser().resolve() if cache_dir else ws.root / "cache" / "segments"
        )
        roots = _allowed_roots(ws.root, Path(cache_dir) if cache_dir else None)
        self.files: dict[str, Path] = {}
        for v in visuals:
            if v.step_id not in pending:
                self.files[v.uri] = _input_path(v.uri, roots, f"visual of step {v.step_id!r}")
                if v.move is not None:
                    what = f"keyframe of step {v.step_id!r}"
                    self.files[v.move.keyframe] = _input_path(v.move.keyframe, roots, what)
            for media_type in (v.media_type, *([v.move.media_type] if v.move else [])):
                if not commands.supported_media(media_type):
                    raise AssemblyError(f"visual of step {v.step_id!r}: unsupported {media_type!r}")
        for n in narrations:
            if n.step_id not in pending:
                self.files[n.uri] = _input_path(n.uri, roots, f"narration of step {n.step_id!r}")
        self.music = _music(audio, roots)
        if any(c in str(self.cache) for c in "\n\r\x00"):
            raise AssemblyError("the cache folder's path contains a control character")
        self.exe = ffmpeg_exe()
        self.version = ffmpeg_version()
        self.encoder = encoder
        self.pending = pending

        # the files decide the timing: a clip's real length, a WAV's real length
        fixed: list[VisualInput] = []
        for v in visuals:
            if v.media_type.startswith("video/") and not v.duration_s and v.step_id not in pending:
                info = encoder.run.probe(self.exe, self.files[v.uri])
                if not info.duration_s:
                    raise AssemblyError(f"clip of step {v.step_id!r} has no readable duration")
                v = v.model_copy(update={"duration_s": info.duration_s})
            fixed.append(v)
        narrations = [
            n.model_copy(update={"duration_s": secs})
            if n.step_id not in pending
            and (secs := _wav_seconds(self.files[n.uri]))
            and abs(secs - n.duration_s) > 1e-3
            else n
            for n in narrations
        ]  # fmt: skip
        self.tl = build_timeline(plan, fixed, narrations, opts)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.cards: dict[str, Path] = {}
        self.enc = commands.encode_args(opts)
        self.segments = self.tl.segments()
        self.cues = build_cues(self.tl)
        style = opts.burned_subtitles()
        self.burns: list[burn.Burn | None] = (
            burn.prepare(style, self.tl, self.cues, self.segments, self.cache / "subs")
            if style is not None and self.cues
            else [None] * len(self.segments)
        )
        self.scratch = Path(work_dir) if work_dir is not None else ws.tmp
        self.scratch.mkdir(parents=True, exist_ok=True)
        # an encode lands in the cache by rename, so its temp file must be on the same disk
        same_disk = self.scratch.stat().st_dev == self.cache.stat().st_dev
        self.scratch_for_cache = self.scratch if same_disk else self.cache

    def segment_file(self, key: str) -> Path:
        """Where the segment of ``key`` is kept."""
        return self.cache / f"{key}.mp4"

    def path_of(self, v: Visual) -> Path:
        """The file a visual's frames are made from: a camera move's from its picture."""
        if v.move is not None:
            return self.files[v.move.keyframe]
        if v.kind != "card":
            return self.files[v.uri]
        if v.text not in self.cards:
            self.cards[v.text] = _card_path(self.cache, v.text, (self.tl.width, self.tl.height))
        return self.cards[v.text]

    def _digest(self, v: Visual) -> str:
        return "sha256:" + self.encoder.digest(self.path_of(v))

    def key(self, i: int) -> str:
        seg, b = self.segments[i], self.burns[i]
        return segment_cache_key(
            self.tl, seg, self.enc, self._digest, self.version, b.key if b else None
        )

    def ready(self, i: int) -> bool:
        """Whether segment ``i`` can be encoded now: its scenes have all their inputs, and
        the scenes beside them their narration (which decides where a transition lies)."""
        seg = self.segments[i]
        own = [seg.index] if seg.kind == "scene" else [seg.index, seg.index + 1]
        near = {own[0] - 1, own[-1] + 1} - set(own)
        scenes = self.tl.scenes
        if any(sid in self.pending for k in own for sid in scenes[k].step_ids):
            return False
        lines = {ln.step_id for k in near if 0 <= k < len(scenes) for ln in scenes[k].lines}
        return not (lines & self.pending)

    def encode(self, key: str, i: int, run: _Runner) -> None:
        seg, b = self.segments[i], self.burns[i]
        final = self.segment_file(key)
        tmp = self.scratch_for_cache / f".{key}.{uuid.uuid4().hex[:8]}.part"
        cmd = commands.segment_command(
            self.exe, self.tl, seg, self.enc, lambda v: str(self.path_of(v)), str(tmp),
            b.run if b else None,
        )  # fmt: skip
        try:
            run(cmd, timeout_s=max(SEGMENT_TIMEOUT_S, seg.frames / self.tl.fps * 30))
            os.replace(tmp, final)
            if seal_file(final, _SEALS) is None:
                raise AssemblyError(f"segment {final.name} changed while it was sealed")
        finally:
            tmp.unlink(missing_ok=True)


def _inputs(
    movie_plan: MoviePlan | dict[str, Any],
    clips: list[VisualInput] | list[dict[str, Any]],
    audio: dict[str, Any] | None,
    opts: AssembleOpts | dict[str, Any] | None,
) -> tuple[MoviePlan, AssembleOpts, list[VisualInput], list[NarrationInput]]:
    plan = movie_plan if isinstance(movie_plan, MoviePlan) else MoviePlan.model_validate(movie_plan)
    visuals = [c if isinstance(c, VisualInput) else VisualInput.model_validate(c) for c in clips]
    return plan, _as_opts(opts, plan), visuals, _narrations(audio)


class Started(NamedTuple):
    """A segment started ahead of the assembly: its key, the file it becomes, its encode."""

    key: str
    path: Path
    encoded: Future[None]


def encode_ready_segments(
    movie_plan: MoviePlan | dict[str, Any],
    clips: list[VisualInput] | list[dict[str, Any]],
    audio: dict[str, Any] | None,
    opts: AssembleOpts | dict[str, Any] | None,
    *,
    pending: frozenset[str],
    encoder: SegmentEncoder,
    cache_dir: Path | None = None,
    work_dir: Path | None = None,
) -> list[Started]:
    """Start encoding, on ``encoder``, the segments whose inputs all exist, while the rest
    of the run is still rendering; returns the segments started.

    ``clips`` and ``audio`` hold every output the movie will have: the ones not rendered
    yet (``pending``: their step ids) as stand-ins with the planned media type and length.
    A segment that touches a pending step waits; so does every segment when subtitles are
    burned in (their layout depends on all the text). A guess that turns out wrong costs
    work, never a wrong movie: the assembly encodes by the key of the finished timeline.
    """
    plan, opts, visuals, narrations = _inputs(movie_plan, clips, audio, opts)
    if opts.burned_subtitles() is not None:
        return []
    lay = _Layout(plan, visuals, narrations, opts, audio, cache_dir, work_dir, encoder, pending)
    started: list[Started] = []
    for i in range(len(lay.segments)):
        if not lay.ready(i):
            continue
        key = lay.key(i)
        path = lay.segment_file(key)
        if encoder.started(key) or touch(path, _SEALS) is None:
            continue
        encode = functools.partial(lay.encode, key, i, encoder.run)
        started.append(
            Started(key, path, encoder.submit(key, encode, lay.segments[i].frames, ahead=True))
        )
    return started


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
    encoder: SegmentEncoder | None = None,
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
        encoder: the run's SegmentEncoder, which may have encoded some segments ahead
            (default: one of its own, closed at the end).

    Returns:
        The published MP4's ArtifactRef (metadata: plan_id, ffmpeg_version, encode args,
        every ffmpeg command run, duration_s, scenes, segment cache hits and misses, srt_path,
        log_path: what every ffmpeg command printed, written beside ``out_path``).

    Raises:
        AssemblyError: an input is unsafe, missing or unusable, or there is nothing to show.
        SubprocessError: ffmpeg failed (the message ends with its last error lines).
    """
    started = time.perf_counter()
    plan, opts, visuals, narrations = _inputs(movie_plan, clips, audio, opts)
    progress = on_progress or (lambda fraction, message: None)
    own_encoder = encoder is None
    enc_pool = encoder or SegmentEncoder()
    try:
        return _assemble(
            plan, opts, visuals, narrations, audio, Path(out_path), cache_dir, work_dir,
            keep_failed_work, enc_pool, progress, started,
        )  # fmt: skip
    finally:
        if own_encoder:
            enc_pool.close(wait=True)


def _assemble(
    plan: MoviePlan,
    opts: AssembleOpts,
    visuals: list[VisualInput],
    narrations: list[NarrationInput],
    audio: dict[str, Any] | None,
    out_path: Path,
    cache_dir: Path | None,
    work_dir: Path | None,
    keep_failed_work: bool,
    encoder: SegmentEncoder,
    progress: ProgressFn,
    started: float,
) -> ArtifactRef:
    out_path = out_path.expanduser().resolve()
    if out_path.is_dir():
        raise AssemblyError(f"{out_path} is a folder; give the MP4 file to write")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    run = _Runner()
    lay = _Layout(plan, visuals, narrations, opts, audio, cache_dir, work_dir, encoder)
    tl, cache, exe, music = lay.tl, lay.cache, lay.exe, lay.music
    segments, cues, enc = lay.segments, lay.cues, lay.enc
    keys = [lay.key(i) for i in range(len(segments))]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    # a sealed, intact segment is marked recently used (kept by a future eviction); any
    # other (missing, unsealed, damaged, truncated) is encoded; one being encoded ahead is
    # waited for
    todo = {k: i for k, i in first.items() if touch(lay.segment_file(k), _SEALS) is not None}
    ahead = {k for k in first if k in encoder.ahead}
    cached = {k: k not in todo and k not in ahead for k in keys}
    scratch = lay.scratch

    unique = list(dict.fromkeys(keys))
    total_work = len(unique) + 2
    reused = sum(1 for key in unique if key not in todo)
    done = reused
    if reused:
        progress(done / total_work, f"segments {done}/{len(unique)} ready")

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
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="soundtrack") as pool:
            sound_future = pool.submit(
                contextvars.copy_context().run,
                timed, "audio", soundtrack.build_audio, exe, tl, opts, work, run, music,
            )  # fmt: skip
            futures = [
                encoder.submit(k, functools.partial(lay.encode, k, i, run), segments[i].frames)
                for k, i in todo.items()
            ]
            try:
                for fut in as_completed(futures):
                    fut.result()
                    done += 1
                    progress(done / total_work, f"segments {done}/{len(unique)} ready")
                stages["segments"] = round(time.perf_counter() - began, 3)
                sound = sound_future.result()
            except BaseException:
                sound_future.cancel()
                raise
        done += 1
        progress(done / total_work, "audio mixed and levelled")

        srt_path = out_path.with_suffix(".srt") if opts.subtitles else None
        soft = srt_path is not None and bool(cues) and opts.soft_subtitles()
        if srt_path is not None:
            write_srt(cues, srt_path)
        listing = work / "segments.ffconcat"
        listing.write_text(
            commands.concat_list([str(lay.segment_file(k)) for k in keys]), encoding="utf-8"
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
    log_path.write_text(encoder.run.log_text() + "\n" + run.log_text(), encoding="utf-8")
    metadata: dict[str, Any] = {
        "plan_id": plan.id,
        "ffmpeg_version": lay.version,
        "ffmpeg": exe,
        "platform": platform.platform(),
        "encode_args": enc,
        "audio_encode_args": commands.audio_encode_args(opts),
        "commands": encoder.run.commands + run.commands,
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
        "segments_ahead": len(ahead),  # encoded while the run was still rendering
        "loudness": {
            "target_lufs": opts.loudness_lufs,
            "measured": sound.measured,
            "normalization": sound.normalization,
            "output": sound.output,
        },
        "subtitle_cues": len(cues),
        "subtitles_burned": any(b is not None for b in lay.burns),
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
