"""Scenes and the timeline: which visual shows when, and where each narration sits (pure).

The rule (DESIGN.md, "Scenes and the timeline"):

- Which steps are shown on their own and how they group into scenes is
  ``sparkle_motion.scenes`` (shared with validation, so its warnings describe this movie):
  steps consumed by another step that produced something (keyframes of a video, the face
  video of a lipsync, a voice reference) are not shown; ``opts.scene`` groups by name, else
  a narration joins the visuals just before it and the lipsyncs that speak it; a narration
  with no visual gets a title card of its text.
- A narrated scene lasts its narration plus ``scene_pad_s`` (half before the speech, half
  after), in whole frames. A scene without narration lasts its clips' natural lengths plus
  ``STILL_S`` per still.
- Visuals share the scene in plan order: clips keep their natural length when it fits and
  stills share the rest equally; otherwise stills and the long clips get equal shares. A
  clip shorter than its share is slowed (up to ``MAX_SLOW``) and then continued with a move
  on its last frame; a longer one is trimmed. A lipsync carrying its scene's narration plays
  at normal speed from the moment its line starts.
- Transitions are centred on scene boundaries and lie inside the pads, so speech is never
  cross-faded; they never shorten the movie.

Everything here is in whole frames at the movie's fps, and a scene is laid out in its own
frame numbers (0 = its first frame), so a scene's pictures do not depend on where it starts.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError
from sparkle_motion.scenes import Output, group_scenes, lipsync_audio_step, shown_items
from sparkle_motion.types import (
    AssembleOpts,
    MoviePlan,
    NarrationInput,
    SentenceTiming,
    VisualInput,
)

STILL_S = 3.0
"""A still in a scene without narration (the closing scene) shows this long."""
MIN_STILL_S = 1.5
"""Clips keep their natural length only if every still still gets this much."""
LINE_GAP_S = 0.25
"""Silence between two narrations of the same scene."""
MAX_SLOW = 1.5
"""A clip is slowed at most this much before its last frame is continued with a move."""
MAX_SEGMENT_FRAMES = 48
"""A scene body longer than this (2 s at 24 fps) is encoded as several segments: the pieces
of the last scene to render then keep both cores busy instead of one, and an edited scene
is re-encoded on both. Each piece starts with a keyframe; the moves are functions of a
frame's index within its visual, so the pieces join without a seam.

The pieces are cut every ``MAX_SEGMENT_FRAMES`` from the body's start (not into equal
parts): when an edited narration makes a scene longer or shorter, its first pieces keep
their frames, so a scene whose pictures do not depend on its length (a camera move clip)
re-encodes only its end. 48 rather than 96: the end of an edited scene was one piece of up
to 119 frames, the longest encode of the edit's re-run (7.2 s; 5.9 s with 48), while the
preview movie's first run took 1.6 % more CPU (3 interleaved pairs, within the noise)."""
MIN_PIECE_FRAMES = 12
"""A body's last piece shorter than this joins the piece before it."""
MOTIONS = ("zoom_in", "pan_right", "zoom_out", "pan_left", "pan_up", "pan_down")
HOLD_MOTION = "zoom_in"
PREROLL_MOTION = "zoom_out"


@dataclass(frozen=True)
class Move:
    """A clip that is a camera move over one picture (types.CameraMove): its frames are
    rendered from the picture at the movie's size, not read from the clip's file."""

    keyframe: str
    media_type: str
    motion: str
    travel: float
    frames: int
    fps: float


@dataclass(frozen=True)
class Visual:
    """One picture of a scene: a still, a clip or a title card, over scene frames [start, end).

    A clip plays ``play`` frames (after skipping ``skip`` and slowing by ``speed``), preceded
    by ``preroll`` frames and followed by ``hold`` frames of a move on its first/last frame.
    """

    step_id: str
    kind: Literal["still", "clip", "card"]
    uri: str
    media_type: str
    start: int
    frames: int
    motion: str
    text: str = ""
    natural: int = 0
    speed: float = 1.0
    skip: int = 0
    preroll: int = 0
    play: int = 0
    carries: str | None = None
    source_fps: float | None = None  # a clip's own frame rate, when known
    move: Move | None = None  # a clip rendered from its picture (then ``uri`` is a proxy)

    @property
    def end(self) -> int:
        return self.start + self.frames

    @property
    def hold(self) -> int:
        """Frames of the move on a clip's last frame."""
        return self.frames - self.preroll - self.play if self.kind == "clip" else 0


@dataclass(frozen=True)
class Line:
    """A narration WAV placed in its scene: it starts ``offset_s`` after the scene starts."""

    step_id: str
    uri: str
    text: str
    offset_s: float
    duration_s: float
    sentences: tuple[SentenceTiming, ...] = ()


@dataclass(frozen=True)
class Scene:
    """A scene: absolute frames [start, start + frames); ``lead``/``tail`` frames are free of
    speech; ``cut_in``/``cut_out`` are the halves of the transitions at its ends."""

    index: int
    name: str | None
    start: int
    frames: int
    lead: int
    tail: int
    visuals: tuple[Visual, ...]
    lines: tuple[Line, ...]
    step_ids: tuple[str, ...]
    cut_in: int = 0
    cut_out: int = 0

    @property
    def end(self) -> int:
        return self.start + self.frames

    @property
    def lead_room(self) -> int:
        """Frames before the speech that a transition may cover."""
        return self.lead if self.lines else (self.frames - 1) // 2

    @property
    def tail_room(self) -> int:
        return self.tail if self.lines else (self.frames - 1) // 2


@dataclass(frozen=True)
class Transition:
    """A transition between scenes[index] and scenes[index + 1], centred on ``boundary``."""

    index: int
    kind: str
    half: int
    boundary: int

    @property
    def start(self) -> int:
        return self.boundary - self.half

    @property
    def frames(self) -> int:
        return 2 * self.half


@dataclass(frozen=True)
class Segment:
    """A piece of the movie that is encoded on its own: a scene body or a transition."""

    kind: Literal["scene", "transition"]
    index: int
    start: int
    frames: int


@dataclass(frozen=True)
class Timeline:
    """The whole movie: scenes back to back, transitions over their boundaries."""

    fps: int
    width: int
    height: int
    scenes: tuple[Scene, ...]
    transitions: tuple[Transition, ...]
    hidden: tuple[str, ...] = field(default=())

    @property
    def total_frames(self) -> int:
        return sum(s.frames for s in self.scenes)

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.fps

    def segments(self) -> list[Segment]:
        """Scene bodies and transitions in movie order; together they cover every frame. A
        body longer than ``MAX_SEGMENT_FRAMES`` comes as several segments (``pieces``)."""
        by_index = {t.index: t for t in self.transitions}
        out: list[Segment] = []
        for scene in self.scenes:
            body = scene.frames - scene.cut_in - scene.cut_out
            at = scene.start + scene.cut_in
            for frames in pieces(body):
                out.append(Segment("scene", scene.index, at, frames))
                at += frames
            t = by_index.get(scene.index)
            if t is not None:
                out.append(Segment("transition", t.index, t.start, t.frames))
        return out

    def placements(self) -> list[tuple[Line, float]]:
        """Every narration with the movie time (seconds) where its WAV starts."""
        return [
            (line, scene.start / self.fps + line.offset_s)
            for scene in self.scenes
            for line in scene.lines
        ]

    def summary(self) -> list[dict[str, Any]]:
        """The scene list as JSON-ready data (for metadata)."""
        return [
            {
                "index": s.index,
                "name": s.name,
                "start_s": round(s.start / self.fps, 6),
                "duration_s": round(s.frames / self.fps, 6),
                "start_frame": s.start,
                "frames": s.frames,
                "steps": list(s.step_ids),
                "visuals": [_described(v) for v in s.visuals],
                "lines": [
                    {"step_id": ln.step_id, "offset_s": round(ln.offset_s, 6)} for ln in s.lines
                ],
                "transition_in_frames": 2 * s.cut_in,
                "transition_out_frames": 2 * s.cut_out,
            }
            for s in self.scenes
        ]


def _described(v: Visual) -> dict[str, Any]:
    """A visual as JSON-ready data, without the files it is made from."""
    out = {k: x for k, x in asdict(v).items() if k not in ("uri", "media_type", "move")}
    if v.move is not None:
        out["move"] = {k: x for k, x in asdict(v.move).items() if k not in ("keyframe",)}
    return out


# ----------------------------------------------------------------------------- grouping


@dataclass
class _Item:
    step_id: str
    visual: VisualInput | None = None
    line: NarrationInput | None = None


def _lipsync_audio(plan: MoviePlan, visual: VisualInput) -> str | None:
    return visual.audio_step_id or lipsync_audio_step(plan.step(visual.step_id))


def _scenes(
    plan: MoviePlan, clips: Sequence[VisualInput], narrations: Sequence[NarrationInput]
) -> tuple[list[tuple[str | None, list[_Item]]], list[str]]:
    """The scenes (name, items in plan order) and the hidden steps, by the scene rule."""
    known = {s.id for s in plan.steps}
    for what in (*clips, *narrations):
        if what.step_id not in known:
            raise AssemblyError(f"input for step {what.step_id!r}, which the plan does not have")
    outputs = [
        Output(c.step_id, "visual", _lipsync_audio(plan, c) if c.step_type == "lipsync" else None)
        for c in clips
    ] + [Output(n.step_id, "narration") for n in narrations]
    payloads: list[VisualInput | NarrationInput] = [*clips, *narrations]
    shown, hidden = shown_items(plan, outputs)
    items: list[_Item] = []
    for it in shown:
        p = payloads[it.output]
        items.append(
            _Item(it.step_id, visual=p) if isinstance(p, VisualInput) else _Item(it.step_id, line=p)
        )
    groups = [(name, [items[k] for k in group]) for name, group in group_scenes(shown)]
    return groups, hidden


# ------------------------------------------------------------------------------ layout


def pieces(body: int) -> list[int]:
    """The lengths of a scene body's segments: ``MAX_SEGMENT_FRAMES`` each from its start,
    then the rest (joined to the piece before when shorter than ``MIN_PIECE_FRAMES``)."""
    sizes = [MAX_SEGMENT_FRAMES] * (body // MAX_SEGMENT_FRAMES)
    rest = body - sum(sizes)
    if sizes and 0 < rest < MIN_PIECE_FRAMES:
        sizes[-1] += rest
    elif rest or not sizes:
        sizes.append(rest)
    return sizes


def distribute(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` frames in proportion to ``weights``: whole frames, each at least one
    when there are enough, summing exactly to ``total``."""
    n = len(weights)
    if n == 0:
        return []
    w = [max(0.0, float(x)) for x in weights]
    s = sum(w)
    if s <= 0:
        w, s = [1.0] * n, float(n)
    exact = [total * x / s for x in w]
    parts = [math.floor(e) for e in exact]
    order = sorted(range(n), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    if total >= n:
        for i in range(n):
            while parts[i] < 1:
                j = max(range(n), key=lambda k: (parts[k], -k))
                parts[j] -= 1
                parts[i] += 1
    return parts


def _water_level(total: int, naturals: Sequence[int | None]) -> float:
    """The share L with sum(min(clip, L)) + stills * L == total."""
    remaining, count = float(total), len(naturals)
    for c in sorted(c for c in naturals if c is not None):
        if c * count <= remaining:
            remaining -= c
            count -= 1
        else:
            break
    return remaining / count if count else 0.0


def shares(total: int, naturals: Sequence[int | None], fps: int) -> list[int]:
    """Frames for each visual of a run of ``total`` frames (None = a still, else a clip's
    natural length in frames)."""
    k = len(naturals)
    if k == 0:
        return []
    clips = [c for c in naturals if c is not None]
    stills = k - len(clips)
    min_still = min(round(MIN_STILL_S * fps), total // k)
    if sum(clips) + stills * min_still <= total:
        if stills:
            each = (total - sum(clips)) / stills
            weights = [each if c is None else float(c) for c in naturals]
        else:
            extra = (total - sum(clips)) / k
            weights = [c + extra for c in clips]
    else:
        level = _water_level(total, naturals)
        weights = [level if c is None else min(float(c), level) for c in naturals]
    return distribute(total, weights)


@dataclass
class _Entry:
    visual: VisualInput | None
    natural: int | None
    anchor: int | None = None
    carries: str | None = None


def _layout(frames: int, entries: list[_Entry], fps: int) -> list[list[int]]:
    """Nominal [start, end) of each entry inside [0, frames)."""
    if len(entries) > frames:
        raise AssemblyError(f"a scene of {frames} frames cannot show {len(entries)} visuals")
    anchors = [i for i, e in enumerate(entries) if e.anchor is not None]
    if not anchors:
        spans, at = [], 0
        for n in shares(frames, [e.natural for e in entries], fps):
            spans.append([at, at + n])
            at += n
        return spans
    spans: list[list[int]] = [[0, 0] for _ in entries]
    prev_end = 0
    for k, i in enumerate(anchors):
        e = entries[i]
        start = min(max(e.anchor or 0, prev_end), frames - 1)
        nxt = entries[anchors[k + 1]].anchor if k + 1 < len(anchors) else frames
        end = min(max(start + (e.natural or 1), start + 1), max(nxt or frames, start + 1), frames)
        spans[i] = [start, end]
        prev_end = end
    # the runs of other visuals before, between and after the anchored clips
    bounds = [-1, *anchors, len(entries)]
    for g in range(len(bounds) - 1):
        members = list(range(bounds[g] + 1, bounds[g + 1]))
        before = bounds[g] if g > 0 else None
        after = bounds[g + 1] if g + 1 < len(bounds) - 1 else None
        lo = spans[before][1] if before is not None else 0
        hi = spans[after][0] if after is not None else frames
        if not members:
            # nothing else to show there: the neighbouring anchored clip covers the gap
            if after is not None and before is None:
                spans[after][0] = lo
            elif before is not None:
                spans[before][1] = hi
            continue
        short = len(members) - (hi - lo)
        if short > 0:  # borrow whole frames from the anchored clip next to the run
            if after is not None:
                spans[after][0] += short
                hi += short
            else:
                spans[before][1] -= short  # type: ignore[index]
                lo -= short
        at = lo
        for i, n in zip(
            members, shares(hi - lo, [entries[m].natural for m in members], fps), strict=True
        ):
            spans[i] = [at, at + n]
            at += n
    for s in spans:
        if s[1] <= s[0]:
            raise AssemblyError("the scene is too short for its visuals")
    return spans


def _motion(scene_key: str, index: int) -> str:
    # stable per scene (not per position in the movie), alternating within it
    base = int(hashlib.sha256(scene_key.encode()).hexdigest()[:8], 16)
    return MOTIONS[(base + index) % len(MOTIONS)]


def _natural_frames(visual: VisualInput, fps: int) -> int:
    if visual.duration_s is None or visual.duration_s <= 0:
        raise AssemblyError(f"clip of step {visual.step_id!r} has no duration")
    return max(1, round(visual.duration_s * fps))


def _is_clip(visual: VisualInput) -> bool:
    return visual.media_type.startswith("video/")


# ----------------------------------------------------------------------------- building


@dataclass
class _Draft:
    name: str | None
    items: list[_Item]
    frames: int = 0
    lead: int = 0
    tail: int = 0
    lines: list[Line] = field(default_factory=list)


def _measure(draft: _Draft, opts: AssembleOpts) -> None:
    fps = opts.fps
    narrations = [it.line for it in draft.items if it.line is not None]
    if narrations:
        lead = round(opts.scene_pad_s * fps / 2)
        at = lead / fps
        for n in narrations:
            draft.lines.append(Line(n.step_id, n.uri, n.text, at, n.duration_s, tuple(n.sentences)))
            at += n.duration_s + LINE_GAP_S
        speech_s = sum(n.duration_s for n in narrations) + LINE_GAP_S * (len(narrations) - 1)
        speech = math.ceil(speech_s * fps - 1e-6)
        draft.frames = max(round((speech_s + opts.scene_pad_s) * fps), lead + speech, 1)
        draft.lead, draft.tail = lead, draft.frames - lead - speech
    else:
        still = round(STILL_S * fps)
        total = 0
        for it in draft.items:
            assert it.visual is not None
            total += _natural_frames(it.visual, fps) if _is_clip(it.visual) else still
        draft.frames = max(total, 1)


def _visuals(draft: _Draft, cut_in: int, cut_out: int, fps: int) -> list[Visual]:
    line_start = {ln.step_id: round(ln.offset_s * fps) for ln in draft.lines}
    entries: list[_Entry] = []
    for it in draft.items:
        v = it.visual
        if v is None:
            continue
        if not _is_clip(v):
            entries.append(_Entry(v, None))
            continue
        audio = v.audio_step_id  # filled in from the plan by build_timeline
        if v.step_type == "lipsync" and audio in line_start:
            entries.append(_Entry(v, _natural_frames(v, fps), line_start[audio], audio))
        else:
            entries.append(_Entry(v, _natural_frames(v, fps)))
    if not entries:  # a narration with no picture: a title card of its text
        text = "\n".join(ln.text for ln in draft.lines)
        sid = draft.lines[0].step_id if draft.lines else "card"
        span = draft.frames + cut_in + cut_out
        return [Visual(sid, "card", "", "image/png", -cut_in, span, "zoom_in", text=text)]
    spans = _layout(draft.frames, entries, fps)
    out: list[Visual] = []
    last = len(entries) - 1
    for idx, (e, (start, end)) in enumerate(zip(entries, spans, strict=True)):
        v = e.visual
        assert v is not None
        # the first and last visuals also cover the transition halves outside the scene body
        ext_in = cut_in if idx == 0 else 0
        ext_out = cut_out if idx == last else 0
        start, end = start - ext_in, end + ext_out
        n, nominal = end - start, end - start - ext_in - ext_out
        if e.natural is None:
            motion = _motion(entries[0].visual.step_id, idx)  # type: ignore[union-attr]
            out.append(Visual(v.step_id, "still", v.uri, v.media_type, start, n, motion))
            continue
        move = None
        if v.move is not None:
            m = v.move
            move = Move(m.keyframe, m.media_type, m.motion, m.travel, m.frames, m.fps)
        clip = Visual(
            v.step_id, "clip", v.uri, v.media_type, start, n, HOLD_MOTION, natural=e.natural,
            source_fps=v.fps, move=move,
        )  # fmt: skip
        if e.anchor is not None:
            # lips stay in sync: clip frame k shows at scene frame anchor + k
            skip = max(0, start - e.anchor)
            preroll = max(0, e.anchor - start)
            play = max(0, min(e.natural - skip, n - preroll))
            if play == 0:  # nothing of the clip is left to play: show its last frame moving
                skip, preroll, play = min(skip, e.natural - 1), n - 1, 1
            clip = replace(clip, skip=skip, preroll=preroll, play=play, carries=e.carries)
        elif e.natural >= nominal:
            # trimmed; it starts with the scene and may run on into the outgoing transition
            clip = replace(clip, preroll=ext_in, play=min(e.natural, nominal + ext_out))
        else:
            speed = round(min(MAX_SLOW, nominal / e.natural), 4)
            play = min(nominal, max(1, round(e.natural * speed)))
            clip = replace(clip, speed=speed, preroll=ext_in, play=play)
        out.append(clip)
    return out


def build_timeline(
    plan: MoviePlan,
    clips: Sequence[VisualInput],
    narrations: Sequence[NarrationInput],
    opts: AssembleOpts,
) -> Timeline:
    """Lay the plan's outputs out as scenes and transitions (pure; no files are read).

    Args:
        plan: the plan the outputs came from (order, scenes, which step uses which).
        clips: one VisualInput per visual output; clips must carry ``duration_s``.
        narrations: one NarrationInput per narration WAV.
        opts: fps, size, pads and transition.
    """
    fps = opts.fps
    # a lipsync's audio step comes from the plan when the input does not name it
    clips = [
        c if c.audio_step_id or c.step_type != "lipsync"
        else c.model_copy(update={"audio_step_id": _lipsync_audio(plan, c)})
        for c in clips
    ]  # fmt: skip
    groups, hidden = _scenes(plan, clips, narrations)
    if not groups:
        raise AssemblyError("nothing to assemble: no visual or narration outputs")
    drafts = [_Draft(name, group) for name, group in groups]
    for d in drafts:
        _measure(d, opts)
    # scene rooms are known before the layout, so transitions are fixed first
    half = round(opts.transition_duration_s * fps / 2) if opts.transition != "none" else 0
    rooms = []
    for d in drafts:
        if d.lines:
            rooms.append((d.lead, d.tail))
        else:
            rooms.append(((d.frames - 1) // 2, (d.frames - 1) // 2))
    halves = [
        min(half, rooms[i][1], rooms[i + 1][0]) if half > 0 else 0 for i in range(len(drafts) - 1)
    ]
    scenes: list[Scene] = []
    transitions: list[Transition] = []
    start = 0
    for i, d in enumerate(drafts):
        cut_in = halves[i - 1] if i > 0 else 0
        cut_out = halves[i] if i < len(halves) else 0
        scene = Scene(
            index=i,
            name=d.name,
            start=start,
            frames=d.frames,
            lead=d.lead,
            tail=d.tail,
            visuals=tuple(_visuals(d, cut_in, cut_out, fps)),
            lines=tuple(d.lines),
            step_ids=tuple(dict.fromkeys(it.step_id for it in d.items)),
            cut_in=cut_in,
            cut_out=cut_out,
        )
        scenes.append(scene)
        start += d.frames
        if cut_out > 0:
            transitions.append(Transition(i, opts.transition, cut_out, start))
    w, h = opts.size()
    return Timeline(fps, w, h, tuple(scenes), tuple(transitions), tuple(hidden))


# --------------------------------------------------------------------------- sentences

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (Latin and CJK sentence ends, and line breaks)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def spread_sentences(text: str, duration_s: float) -> list[SentenceTiming]:
    """Timings for a narration without any: sentences spread over it by character count."""
    parts = split_sentences(text) or ([text.strip()] if text.strip() else [])
    total = sum(len(p) for p in parts)
    out, at = [], 0.0
    for p in parts:
        end = at + duration_s * len(p) / total
        out.append(SentenceTiming(text=p, start_s=round(at, 6), end_s=round(end, 6)))
        at = end
    return out
