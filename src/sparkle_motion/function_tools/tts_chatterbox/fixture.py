"""Fixture speech: tone bursts at a fixed 3 words a second, silent gaps between sentences.

Each word is a 0.2 s tone followed by 0.133 s of silence; a sentence ends with 0.35 s
more. The sentence timings are exact, so loudness normalisation and subtitle timing can be
checked against the audio itself (by silence detection).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion.function_tools.fixture_support import fixture_delay
from sparkle_motion.function_tools.tts_chatterbox.wav import write_wav

PROVIDER_ID = "tts_chatterbox/fixture"
VERSION = "1"
WORD_S = 0.2
WORD_GAP_S = 1 / 3 - WORD_S
SENTENCE_GAP_S = 0.35
AMPLITUDE = 0.3
_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]*")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def synthesize(text: str, voice_id: str, opts: dict[str, Any], out_path: Path) -> dict:
    """Write a WAV for ``text``; returns its metadata (duration, sentences, ...)."""
    fixture_delay()
    rate = int(opts.get("sample_rate") or 24000)
    pieces: list[np.ndarray] = []
    sentences = []
    t = 0.0
    fade = int(0.01 * rate)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    for sentence in split_sentences(text) or [text]:
        start = t
        for word in sentence.split() or [sentence]:
            digest = hashlib.sha256(f"{voice_id}|{word}".encode()).digest()
            freq = 180 + digest[0] * 1.2
            n = int(WORD_S * rate)
            tone = AMPLITUDE * np.sin(2 * np.pi * freq * np.arange(n) / rate).astype(np.float32)
            tone[:fade] *= ramp
            tone[-fade:] *= ramp[::-1]
            pieces += [tone, np.zeros(int(WORD_GAP_S * rate), np.float32)]
            t += (n + int(WORD_GAP_S * rate)) / rate
        sentences.append({"text": sentence, "start_s": round(start, 4), "end_s": round(t, 4)})
        pieces.append(np.zeros(int(SENTENCE_GAP_S * rate), np.float32))
        t += int(SENTENCE_GAP_S * rate) / rate
    pcm = write_wav(out_path, np.concatenate(pieces), rate)
    return {
        "duration_s": len(pcm) / rate,
        "sample_rate": rate,
        "voice_id": voice_id,
        "provider_voice_id": f"tone-{voice_id}",
        "provider": PROVIDER_ID,
        "model_id": "fixture",
        "device": "cpu",
        "watermarked": False,
        "format": "wav",
        "sentences": sentences,
    }
