"""Subtitle cues (one per narration sentence, timed to its audio) and SRT files.

A dialogue's sentences carry their speaker's name; when the movie has more than one speaker
(the narrator counts as one), a character's cue starts with it ("Keeper: Hello!"), so the
reader knows who speaks. The narrator is never named.

ffmpeg reads SRT text as markup on its way to ``mov_text`` (``\\N`` breaks a line, ``{\\...}``
and ``<font>`` are styling), and players read an ``.srt`` the same way. So where a sentence
holds such a sequence, an invisible WORD JOINER (U+2060) is put inside it: the text shows
exactly as written, and nothing else about the text changes.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Timeline, spread_sentences

WORD_JOINER = "\u2060"
MIN_CUE_S = 0.2

_MARKUP = (
    re.compile(r"\\(?=[nNh])"),  # \n \N \h: line breaks and hard spaces
    re.compile(r"\{(?=\\|[A-Za-z]:)"),  # {\b1} override blocks, {y:i} MicroDVD styles
    re.compile(r"<(?=[A-Za-z/!?])"),  # <i>, </font>, <!-- -->
    re.compile(r"&(?=#?[A-Za-z0-9]+;)"),  # &amp; and other entities
)


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def neutralise(text: str) -> str:
    """``text`` with markup-like sequences made literal (see the module docstring)."""
    for pattern in _MARKUP:
        text = pattern.sub(lambda m: m.group(0) + WORD_JOINER, text)
    return text


def clean_text(text: str) -> str:
    """One cue's text: lines stripped, blank lines dropped (a blank line ends an SRT cue)."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def with_speaker(text: str, speaker: str | None) -> str:
    """``text`` headed by who says it (a full-width colon after a Chinese or Japanese name)."""
    if not speaker:
        return text
    wide = any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in speaker)
    return f"{speaker}：{text}" if wide else f"{speaker}: {text}"


def build_cues(tl: Timeline) -> list[Cue]:
    """One cue per sentence, at the movie time its sound plays, in time order; a
    character's cue names its speaker when the movie has more than one."""
    total = tl.duration_s
    cues: list[Cue] = []
    placed = [
        (line, at, list(line.sentences) or spread_sentences(line.text, line.duration_s))
        for line, at in tl.placements()
    ]
    speakers = {s.speaker for _, _, timings in placed for s in timings}
    for line, at, timings in placed:
        for s in timings:
            text = clean_text(s.text)
            if not text:
                continue
            if len(speakers) > 1:
                text = with_speaker(text, s.speaker)
            start = at + min(s.start_s, line.duration_s)
            end = at + min(max(s.end_s, s.start_s + MIN_CUE_S), line.duration_s)
            end = min(max(end, start + MIN_CUE_S), total)
            if start >= total:
                continue
            cues.append(Cue(round(start, 3), round(end, 3), text))
    cues.sort(key=lambda c: (c.start_s, c.end_s))
    return cues


def srt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt_text(cues: list[Cue]) -> str:
    """The cues as an SRT document (UTF-8 text, markup made literal)."""
    blocks = [
        f"{i}\n{srt_time(c.start_s)} --> {srt_time(c.end_s)}\n{neutralise(c.text)}\n"
        for i, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def write_srt(cues: list[Cue], path: Path) -> Path:
    """Write the SRT atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".srt.part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(srt_text(cues))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
