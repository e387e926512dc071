"""Preview speech: espeak-ng through ``espeakng-loader`` (CPU, no apt, no weights).

The text is split at sentence boundaries and spoken sentence by sentence, so each sentence's
place in the audio is exact: its sound starts at ``start_s`` and ends at ``end_s``, with a
short pause between sentences and a small fixed margin at both ends. Each sentence is spoken
in the language of its script (a Chinese line with a Mandarin voice, an Arabic one with an
Arabic voice); Latin script, which tells no language, is spoken in the voice's own language,
or in ``opts["language"]`` when it names one (a Spanish story's narration: Spanish rules for
its Latin sentences, Mandarin still for a Chinese one). A language also wins over the script's
usual one where it is written in that script (``ja`` for kanji, ``uk`` for Cyrillic). The
voice's variant (its timbre) is kept across languages, so a logical voice sounds like itself
in every language.

Explicit arguments only (tts_agent resolves them from ``configs/tts_providers.yaml``):
``espeak_voice`` (e.g. ``en-us+f3``), ``rate_wpm``, ``pitch``, ``pitch_range``, and the
TTSOpts fields ``language``, ``sample_rate`` and ``speed``.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion.errors import TTSInvalidInputError
from sparkle_motion.function_tools.tts_chatterbox import espeak
from sparkle_motion.function_tools.tts_chatterbox.wav import write_wav

PROVIDER_ID = "tts_chatterbox/preview"
VERSION = "2"  # 2: a requested language leaves other scripts to their own

DEFAULT_VOICE = "en-us"
DEFAULT_RATE_WPM = 170
DEFAULT_SAMPLE_RATE = 24000
LEAD_S = 0.05  # silence kept before the first sound
TAIL_S = 0.12  # ... and after the last
SENTENCE_PAUSE_S = 0.35  # between sentences (sound end to next sound start)
CLAUSE_PAUSE_S = 0.15  # between the pieces of a sentence too long to speak in one go
MAX_PIECE_CHARS = 240  # longer sentences are split at clause punctuation
# espeak writes digital silence between sounds; anything above this is sound (-54 dBFS)
_SOUND_LEVEL = 64

# ------------------------------------------------------------------------ language by script

# (first code point, last code point, script) in order; everything else is "other"
_SCRIPT_RANGES = sorted(
    [
        (0x0041, 0x005A, "latin"),
        (0x0061, 0x007A, "latin"),
        (0x00C0, 0x024F, "latin"),
        (0x1E00, 0x1EFF, "latin"),
        (0x0370, 0x03FF, "greek"),
        (0x1F00, 0x1FFF, "greek"),
        (0x0400, 0x052F, "cyrillic"),
        (0x0530, 0x058F, "armenian"),
        (0x0590, 0x05FF, "hebrew"),
        (0x0600, 0x06FF, "arabic"),
        (0x0750, 0x077F, "arabic"),
        (0x08A0, 0x08FF, "arabic"),
        (0xFB50, 0xFDFF, "arabic"),
        (0xFE70, 0xFEFF, "arabic"),
        (0x0900, 0x097F, "devanagari"),
        (0x0980, 0x09FF, "bengali"),
        (0x0A00, 0x0A7F, "gurmukhi"),
        (0x0A80, 0x0AFF, "gujarati"),
        (0x0B00, 0x0B7F, "oriya"),
        (0x0B80, 0x0BFF, "tamil"),
        (0x0C00, 0x0C7F, "telugu"),
        (0x0C80, 0x0CFF, "kannada"),
        (0x0D00, 0x0D7F, "malayalam"),
        (0x0D80, 0x0DFF, "sinhala"),
        (0x0E00, 0x0E7F, "thai"),
        (0x0E80, 0x0EFF, "lao"),
        (0x0F00, 0x0FFF, "tibetan"),
        (0x1000, 0x109F, "myanmar"),
        (0x10A0, 0x10FF, "georgian"),
        (0x1100, 0x11FF, "hangul"),
        (0x1200, 0x139F, "ethiopic"),
        (0x13A0, 0x13FF, "cherokee"),
        (0x1780, 0x17FF, "khmer"),
        (0x3040, 0x309F, "kana"),
        (0x30A0, 0x30FF, "kana"),
        (0x31F0, 0x31FF, "kana"),
        (0xFF66, 0xFF9F, "kana"),
        (0x3130, 0x318F, "hangul"),
        (0xAC00, 0xD7AF, "hangul"),
        (0x3400, 0x4DBF, "han"),
        (0x4E00, 0x9FFF, "han"),
        (0xF900, 0xFAFF, "han"),
        (0x20000, 0x2FA1F, "han"),
    ]
)
_RANGE_STARTS = [r[0] for r in _SCRIPT_RANGES]
# the espeak language each script is spoken in (None: keep the voice's own language)
_SCRIPT_LANGUAGE: dict[str, str | None] = {
    "latin": None,
    "greek": "el",
    "cyrillic": "ru",
    "armenian": "hy",
    "hebrew": "he",
    "arabic": "ar",
    "devanagari": "hi",
    "bengali": "bn",
    "gurmukhi": "pa",
    "gujarati": "gu",
    "oriya": "or",
    "tamil": "ta",
    "telugu": "te",
    "kannada": "kn",
    "malayalam": "ml",
    "sinhala": "si",
    "thai": "th",
    "myanmar": "my",
    "georgian": "ka",
    "hangul": "ko",
    "ethiopic": "am",
    "cherokee": "chr",
    "kana": "ja",
    "han": "cmn",
}
# letters that tell a language apart from the others sharing its script
_PERSIAN = set("پچژگکی")
_URDU = set("ٹڈڑںےھ")
_UKRAINIAN = set("іїєґІЇЄҐ")
# languages written in the script whose usual language is the key: a sentence in that script
# is spoken in the requested language, not the script's usual one
_SCRIPT_SHARERS = {
    "cmn": {"yue", "ja", "hak", "nan"},
    "ru": {"uk", "be", "bg", "mk", "sr", "kk", "ky", "tt", "ba", "mn"},
    "ar": {"fa", "ur", "ps", "sd", "ug", "ku"},
    "hi": {"mr", "ne", "sa", "kok", "bh", "mai"},
    "bn": {"as", "bpy"},
}
# common language tags that are not espeak voice names
_LANGUAGE_ALIASES = {
    "zh": "cmn",
    "zh-cn": "cmn",
    "zh-hans": "cmn",
    "zh-tw": "cmn",
    "zh-hant": "cmn",
    "zh-hk": "yue",
    "en-gb": "en",
    "en-uk": "en",
    "iw": "he",
    "jp": "ja",
    "nb": "no",
    "fil": "tl",
}


def _script(ch: str) -> str:
    cp = ord(ch)
    i = bisect.bisect_right(_RANGE_STARTS, cp) - 1
    if i >= 0 and cp <= _SCRIPT_RANGES[i][1]:
        return _SCRIPT_RANGES[i][2]
    return "other"


def detect_language(text: str) -> str | None:
    """The espeak language of ``text``'s dominant non-Latin script, or None for Latin text.

    Raises:
        TTSInvalidInputError: the text is written in a script espeak has no voice for.
    """
    counts: dict[str, int] = {}
    for ch in text:
        if unicodedata.category(ch).startswith("L"):
            script = _script(ch)
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None
    if counts.get("kana"):  # Japanese mixes kana with kanji; kanji alone is Chinese
        counts["kana"] += counts.pop("han", 0)
    script = max(counts, key=lambda s: (counts[s], s == "latin"))
    if script not in _SCRIPT_LANGUAGE:
        raise TTSInvalidInputError(f"espeak-ng has no voice for {script} text")
    language = _SCRIPT_LANGUAGE[script]
    chars = set(text)
    if language == "ar" and chars & _URDU:
        return "ur"
    if language == "ar" and chars & _PERSIAN:
        return "fa"
    if language == "ru" and chars & _UKRAINIAN:
        return "uk"
    return language


def _split_voice(name: str) -> tuple[str, str | None]:
    base, _, variant = name.partition("+")
    return base, variant or None


def _primary(tag: str) -> str:
    return tag.replace("_", "-").lower().split("-")[0]


def voice_for_language(voice: str, language: str | None) -> str:
    """The espeak voice that speaks ``language`` with ``voice``'s variant (its timbre).

    Raises:
        TTSInvalidInputError: espeak has no voice for ``language``.
    """
    base, variant = _split_voice(voice)
    if not language:
        return voice
    tag = language.replace("_", "-").lower()
    base_lang = _LANGUAGE_ALIASES.get(base.lower(), base.lower())
    if tag == base_lang or (_primary(tag) == _primary(base_lang) and "-" not in tag):
        return voice  # already that language ("en" keeps en-us or en)
    for candidate in (tag, _LANGUAGE_ALIASES.get(tag), _primary(tag)):
        if not candidate:
            continue
        candidate = _LANGUAGE_ALIASES.get(candidate, candidate)
        if espeak.has_voice(candidate):
            return f"{candidate}+{variant}" if variant else candidate
    raise TTSInvalidInputError(f"espeak-ng has no voice for language {language!r}")


# ----------------------------------------------------------------------------- text

# a sentence ends at . ! ? … (followed by space or the end), or at CJK/Arabic/Indic stops
_LATIN_END = r"[.!?…]+[\"'”’»)\]]*(?=\s|$)"
_OTHER_END = r"[。！？｡؟۔।॥։።။]+[\"'”’»」』)\]）]*"
_SENTENCE_END = re.compile(f"(?:{_LATIN_END}|{_OTHER_END})")
_CLAUSE_END = re.compile(r"(?:[,;:—–]+(?=\s)|[、，；：،؛])")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "mt", "no",
}  # fmt: skip
# emoji, pictographs and their joiners/modifiers are not spoken (espeak would read their names)
_DROP_CATEGORIES = {"So", "Cs", "Co", "Cn"}
_DROP_CHARS = {"\u200d", "\u20e3", *map(chr, range(0xFE00, 0xFE10))}


def split_sentences(text: str) -> list[str]:
    """``text`` as sentences; one longer than :data:`MAX_PIECE_CHARS` stays one sentence."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start()].split()
        if match.group().startswith(".") and before and before[-1].lower() in _ABBREVIATIONS:
            continue  # "Dr. Jones" is one sentence
        sentences.append(text[start : match.end()])
        start = match.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip()]


def _pieces(sentence: str) -> list[str]:
    """A sentence cut at clause punctuation into pieces of at most MAX_PIECE_CHARS."""
    if len(sentence) <= MAX_PIECE_CHARS:
        return [sentence]
    pieces: list[str] = []
    current = ""
    start = 0
    cuts = [m.end() for m in _CLAUSE_END.finditer(sentence)] + [len(sentence)]
    for cut in cuts:
        part = sentence[start:cut]
        start = cut
        if current and len(current) + len(part) > MAX_PIECE_CHARS:
            pieces.append(current)
            current = ""
        current += part
    pieces.append(current)
    # a clause still too long is cut at word boundaries, or anywhere for unspaced scripts
    out: list[str] = []
    for piece in pieces:
        while len(piece) > MAX_PIECE_CHARS:
            cut = piece.rfind(" ", 0, MAX_PIECE_CHARS)
            cut = cut if cut > MAX_PIECE_CHARS // 2 else MAX_PIECE_CHARS
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return [p.strip() for p in out if p.strip()]


def speakable(text: str) -> str:
    """``text`` without what is not spoken (emoji, pictographs); '' when nothing is left to say."""
    kept = "".join(
        " " if unicodedata.category(ch) in _DROP_CATEGORIES or ch in _DROP_CHARS else ch
        for ch in text
    )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in kept):
        return ""
    return " ".join(kept.split())


# ---------------------------------------------------------------------------- audio


def _sound_span(samples: np.ndarray) -> tuple[int, int] | None:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SOUND_LEVEL)
    if loud.size == 0:
        return None
    return int(loud[0]), int(loud[-1]) + 1


def _smooth_length(n: int) -> int:
    """The smallest 2·3·5·7-smooth number >= n (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                p2 = p3
                while p2 < n:
                    p2 *= 2
                best = min(best, p2)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling of a mono signal (float in, float out).

    The signal is zero-padded to a length whose resampled length is an exact integer, so
    sample ``i`` at ``src_rate`` lands exactly at ``i * dst_rate / src_rate``; the spectrum is
    cut (downsampling) or zero-extended (upsampling) with a short cosine roll-off below the
    lower Nyquist frequency so that nothing aliases and transients do not ring.
    """
    x = np.asarray(samples, dtype=np.float64)
    if src_rate == dst_rate or x.size == 0:
        return x.copy()
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    blocks = _smooth_length(-(-x.size // down))
    n_in, n_out = blocks * down, blocks * up
    spectrum = np.fft.rfft(x, n_in)
    keep = min(n_in, n_out) // 2 + 1
    taper = np.ones(keep)
    ramp = max(1, int(keep * 0.06))
    taper[keep - ramp :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    out_spec = np.zeros(n_out // 2 + 1, dtype=complex)
    out_spec[:keep] = spectrum[:keep] * taper
    y = np.fft.irfft(out_spec, n_out) * (n_out / n_in)
    return y[: round(x.size * up / down)]


# ---------------------------------------------------------------------------- backend


@dataclass
class _Piece:
    sentence: int  # index into the sentence list
    text: str
    voice: str
    language: str


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


def _language_of(voice: str) -> str:
    return _split_voice(voice)[0].lower()


def _piece_voice(voice: str, forced_voice: str | None, detected: str | None) -> str:
    """The voice of one piece: the requested language's for text it is written in (Latin
    script tells no language: always), otherwise the language of the piece's script."""
    if forced_voice is not None:
        forced = _language_of(forced_voice)
        if detected is None or forced == detected or forced in _SCRIPT_SHARERS.get(detected, ()):
            return forced_voice
    return voice_for_language(voice, detected)


def synthesize(text: str, voice_id: str, opts: dict[str, Any], out_path: Path) -> dict:
    """Speak ``text`` into the WAV ``out_path``; returns its metadata.

    Args:
        voice_id: the logical voice (recorded in the metadata).
        opts: ``espeak_voice``, ``rate_wpm``, ``pitch``, ``pitch_range`` (from the voice
            catalog), ``language`` (of the text the script leaves open, see the module's
            docstring), ``sample_rate`` (default 24000), ``speed`` (× rate).

    Raises:
        TTSInvalidInputError: nothing speakable in ``text``, an unknown espeak voice or
            language, a script espeak cannot read, or a bad sample rate.
    """
    voice = str(opts.get("espeak_voice") or DEFAULT_VOICE)
    rate_out = int(opts.get("sample_rate") or DEFAULT_SAMPLE_RATE)
    if not 8000 <= rate_out <= 48000:
        raise TTSInvalidInputError(f"sample_rate {rate_out} is outside 8000..48000")
    speed = float(opts.get("speed") or 1.0)
    rate_wpm = float(opts.get("rate_wpm") or DEFAULT_RATE_WPM) * speed
    pitch = int(_number(opts.get("pitch"), 50))
    pitch_range = int(_number(opts.get("pitch_range"), 50))
    base, variant = _split_voice(voice)
    if not espeak.has_voice(base) or (variant and not espeak.has_variant(variant)):
        raise TTSInvalidInputError(f"espeak-ng has no voice {voice!r}")
    forced = opts.get("language")
    forced_voice = voice_for_language(voice, forced) if forced else None

    sentences = split_sentences(text)
    pieces: list[_Piece] = []
    for index, sentence in enumerate(sentences):
        for part in _pieces(sentence):
            said = speakable(part)
            if not said:
                continue  # a sentence of emoji alone is shown, not spoken
            piece_voice = _piece_voice(voice, forced_voice, detect_language(said))
            pieces.append(_Piece(index, said, piece_voice, _language_of(piece_voice)))
    if not pieces:
        raise TTSInvalidInputError("nothing speakable in the text (only symbols, emoji or spaces)")

    src_rate = espeak.SAMPLE_RATE
    chunks: list[np.ndarray] = [np.zeros(int(LEAD_S * src_rate), np.int16)]
    cursor = len(chunks[0])
    spans: dict[int, list[int]] = {}  # sentence index -> [first sound, last sound) in samples
    voiced: dict[str, int] = {}  # samples of sound per voice, to report the main one
    previous: _Piece | None = None
    for piece in pieces:
        try:
            speech = espeak.synthesize(
                piece.text, piece.voice, rate_wpm=rate_wpm, pitch=pitch, pitch_range=pitch_range
            )
        except espeak.EspeakError as exc:
            raise TTSInvalidInputError(str(exc)) from exc
        span = _sound_span(speech.samples)
        if span is None:
            continue  # espeak found nothing to say in it (e.g. stray punctuation)
        if previous is not None:
            pause = CLAUSE_PAUSE_S if previous.sentence == piece.sentence else SENTENCE_PAUSE_S
            gap = round(pause * src_rate)
            chunks.append(np.zeros(gap, np.int16))
            cursor += gap
        sound = speech.samples[span[0] : span[1]]
        chunks.append(sound)
        spans.setdefault(piece.sentence, [cursor, cursor])[1] = cursor + len(sound)
        cursor += len(sound)
        voiced[piece.voice] = voiced.get(piece.voice, 0) + len(sound)
        previous = piece
    if not spans:
        raise TTSInvalidInputError("nothing speakable in the text (espeak-ng produced silence)")
    chunks.append(np.zeros(int(TAIL_S * src_rate), np.int16))

    audio = np.concatenate(chunks).astype(np.float64)
    audio = resample(audio, src_rate, rate_out) if rate_out != src_rate else audio
    pcm = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    write_wav(out_path, pcm, rate_out)

    main_voice = max(voiced, key=lambda v: voiced[v])
    languages = {p.sentence: p.language for p in pieces}
    return {
        "duration_s": len(pcm) / rate_out,
        "sample_rate": rate_out,
        "voice_id": voice_id,
        "provider_voice_id": main_voice,
        "provider": PROVIDER_ID,
        "model_id": f"espeak-ng {espeak.version()}",
        "device": "cpu",
        "watermarked": False,
        "format": "wav",
        "language": _language_of(main_voice),
        "sentences": [
            {
                "text": sentences[i],
                "start_s": round(start / src_rate, 4),
                "end_s": round(end / src_rate, 4),
                "language": languages[i],
            }
            for i, (start, end) in sorted(spans.items())
        ],
    }
