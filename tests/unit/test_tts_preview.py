"""The preview TTS backend (espeak-ng): measured on the audio it writes, never on timing."""

from __future__ import annotations

import itertools
import threading
import wave
from pathlib import Path

import numpy as np
import pytest
from tests.media import sound_onsets

from sparkle_motion import providers, tts_agent
from sparkle_motion.errors import TTSInvalidInputError
from sparkle_motion.function_tools.tts_chatterbox import espeak, preview
from sparkle_motion.run_context import run_context
from sparkle_motion.voices import provider_voice

STORY = (
    "A lighthouse keeper lived alone on a rocky island. Every night he lit the great lamp! "
    "Did the whale ever see it? One morning a grey whale rose beside the rocks and sang."
)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float in -1..1 and the rate; asserts mono 16-bit."""
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return data.astype(np.float32) / 32768, rate


def voiced_rms(samples: np.ndarray, rate: int) -> float:
    """RMS over the 10 ms windows that are not silent."""
    win = rate // 100
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    rms = np.sqrt((frames**2).mean(axis=1))
    return float(rms[rms > 1e-3].mean()) if (rms > 1e-3).any() else 0.0


def median_f0(samples: np.ndarray, rate: int) -> float:
    """Median pitch (Hz) of the loud frames, by autocorrelation."""
    size, found = int(0.04 * rate), []
    lo, hi = int(rate / 500), int(rate / 60)
    for i in range(0, len(samples) - size, size // 2):
        w = samples[i : i + size].astype(np.float64)
        if np.sqrt((w**2).mean()) < 0.05:
            continue
        w = w - w.mean()
        ac = np.correlate(w, w, "full")[size - 1 :]
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.4 * ac[0]:
            found.append(rate / k)
    return float(np.median(found))


def speak(tmp_path: Path, text: str, voice: str = "narrator", **opts: object) -> dict:
    args = {**provider_voice(voice, "espeak-local"), **opts}
    out = tmp_path / f"{voice}-{abs(hash((text, tuple(sorted(opts.items())))))}.wav"
    meta = preview.synthesize(text, voice, args, out)
    meta["path"] = out
    return meta


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 48000])
def test_wav_has_speech_at_the_requested_rate(tmp_path: Path, rate: int) -> None:
    meta = speak(tmp_path, "The keeper lit the lamp.", sample_rate=rate)
    samples, got = read_wav(meta["path"])
    assert got == rate == meta["sample_rate"]
    assert meta["duration_s"] == pytest.approx(len(samples) / rate)
    assert voiced_rms(samples, rate) > 0.05  # speech, well above silence (< 0.001)
    assert np.abs(samples[: int(0.04 * rate)]).max() < 1e-3  # the small lead-in is silent
    for key, value in {
        "provider": "tts_chatterbox/preview",
        "device": "cpu",
        "watermarked": False,
        "format": "wav",
        "voice_id": "narrator",
        "provider_voice_id": "en-us+m3",
        "language": "en-us",
    }.items():
        assert meta[key] == value
    assert meta["model_id"].startswith("espeak-ng 1.")


def test_longer_text_lasts_longer(tmp_path: Path) -> None:
    short = speak(tmp_path, "The whale sang.")
    long = speak(tmp_path, "The whale sang a long and lovely song to the keeper all night.")
    assert long["duration_s"] > short["duration_s"] + 1.0
    samples, rate = read_wav(long["path"])
    assert len(samples) / rate == pytest.approx(long["duration_s"])


def test_sentence_timings_match_the_audio(tmp_path: Path) -> None:
    meta = speak(tmp_path, STORY, sample_rate=16000)
    sentences = meta["sentences"]
    assert [s["text"] for s in sentences] == preview.split_sentences(STORY)
    assert len(sentences) == 4
    samples, rate = read_wav(meta["path"])
    onsets = sound_onsets(samples, rate, min_gap_s=0.25)
    assert len(onsets) == len(sentences)
    for sentence, onset in zip(sentences, onsets, strict=True):
        assert abs(sentence["start_s"] - onset) < 0.08
    for a, b in itertools.pairwise(sentences):
        assert a["start_s"] < a["end_s"] < b["start_s"] < b["end_s"]
    assert sentences[-1]["end_s"] < meta["duration_s"]
    # silence between sentences, sound inside them
    for a, b in itertools.pairwise(sentences):
        gap = samples[int((a["end_s"] + 0.01) * rate) : int((b["start_s"] - 0.01) * rate)]
        assert np.abs(gap).max() < 1e-3


def test_long_sentence_is_cut_at_clauses(tmp_path: Path) -> None:
    clause = "the keeper climbed the winding stairs and trimmed the wick of the lamp"
    text = ", ".join([clause] * 6) + "."
    meta = speak(tmp_path, text)
    assert len(meta["sentences"]) == 1  # still one sentence for the subtitles
    samples, rate = read_wav(meta["path"])
    assert len(sound_onsets(samples, rate, min_gap_s=0.12)) >= 2  # spoken in pieces
    assert meta["duration_s"] > 10


def test_voices_sound_different(tmp_path: Path) -> None:
    text = "The keeper climbed the stairs every evening and watched the sea."
    pitches = {}
    for voice in ("narrator", "emma", "child", "elder"):
        samples, rate = read_wav(speak(tmp_path, text, voice)["path"])
        pitches[voice] = median_f0(samples, rate)
    assert pitches["emma"] > 1.5 * pitches["narrator"]
    assert pitches["child"] > 1.15 * pitches["emma"]
    durations = {v: speak(tmp_path, text, v)["duration_s"] for v in ("narrator", "elder")}
    assert durations["elder"] > 1.1 * durations["narrator"]  # slower
    a = read_wav(speak(tmp_path, text, "narrator")["path"])[0]
    b = read_wav(speak(tmp_path, text, "james")["path"])[0]
    assert a.shape != b.shape or not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("text", "language"),
    [("你好，世界。今天的天气很好。", "cmn"), ("مرحبا بالعالم. كيف حالك اليوم؟", "ar")],
)
def test_language_follows_the_text(tmp_path: Path, text: str, language: str) -> None:
    meta = speak(tmp_path, text, "emma")
    assert meta["language"] == language
    assert meta["provider_voice_id"] == f"{language}+f3"  # emma's timbre, that language
    assert len(meta["sentences"]) == 2
    assert all(s["language"] == language for s in meta["sentences"])
    samples, rate = read_wav(meta["path"])
    assert voiced_rms(samples, rate) > 0.05
    assert meta["duration_s"] > 1.0


def test_mixed_languages_per_sentence(tmp_path: Path) -> None:
    meta = speak(tmp_path, "The keeper said hello to everyone. 你好。")
    assert [s["language"] for s in meta["sentences"]] == ["en-us", "cmn"]
    assert meta["language"] == "en-us"


def test_language_option_wins(tmp_path: Path) -> None:
    meta = speak(tmp_path, "Bonjour tout le monde.", "emma", language="fr")
    assert meta["provider_voice_id"] == "fr+f3"
    assert meta["language"] == "fr"
    with pytest.raises(TTSInvalidInputError, match="language"):
        speak(tmp_path, "Hello.", language="qq")


def test_requested_language_speaks_latin_text_and_leaves_other_scripts(tmp_path: Path) -> None:
    text = "Un niño encuentra un dragón en el bosque. 小猫在月球上寻找朋友。"
    meta = speak(tmp_path, text, "narrator", language="es")
    assert [s["language"] for s in meta["sentences"]] == ["es", "cmn"]
    assert meta["provider_voice_id"] in {"es+m3", "cmn+m3"}  # narrator's timbre in both
    english = speak(tmp_path, text, "narrator")  # no language: English rules for the Latin
    assert [s["language"] for s in english["sentences"]] == ["en-us", "cmn"]
    a, b = read_wav(meta["path"])[0], read_wav(english["path"])[0]
    assert a.shape != b.shape or not np.array_equal(a, b)
    # a language written in the script wins over the script's usual one
    assert speak(tmp_path, "子供。", "narrator", language="ja")["language"] == "ja"


@pytest.mark.parametrize(
    ("voice", "text", "language"),
    [
        ("narrator_es", "Un niño encuentra un dragón en el bosque.", "es"),
        ("narradora_es", "¿Dónde está el dragón? ¡Mañana lo sabremos!", "es"),
        ("narrator_zh", "小猫在月球上寻找朋友。", "cmn"),
    ],
)
def test_language_voices_speak_their_language(
    tmp_path: Path, voice: str, text: str, language: str
) -> None:
    meta = speak(tmp_path, text, voice)
    assert {s["language"] for s in meta["sentences"]} == {language}
    samples, rate = read_wav(meta["path"])
    assert 1.5 < meta["duration_s"] < 6.0
    assert voiced_rms(samples, rate) > 0.05


def test_detect_language() -> None:
    assert preview.detect_language("Hello world") is None
    assert preview.detect_language("你好") == "cmn"
    assert preview.detect_language("こんにちは世界") == "ja"
    assert preview.detect_language("안녕하세요") == "ko"
    assert preview.detect_language("Привет") == "ru"
    assert preview.detect_language("Привіт, їжак") == "uk"
    assert preview.detect_language("مرحبا") == "ar"
    assert preview.detect_language("שלום") == "he"
    assert preview.detect_language("Γειά σου") == "el"
    assert preview.detect_language("नमस्ते") == "hi"
    assert preview.detect_language("The word 你好 means hello") is None  # mostly Latin


def test_split_sentences() -> None:
    assert preview.split_sentences("Dr. Smith came. He paid $3.50 for tea! Really?") == [
        "Dr. Smith came.",
        "He paid $3.50 for tea!",
        "Really?",
    ]
    assert preview.split_sentences("你好。世界！真的吗？") == ["你好。", "世界！", "真的吗？"]
    assert preview.split_sentences("مرحبا؟ نعم.") == ["مرحبا؟", "نعم."]


@pytest.mark.parametrize("text", ["🙂🙂", "   ", "---", "", "…!?"])
def test_nothing_speakable_is_invalid_input(tmp_path: Path, text: str) -> None:
    with pytest.raises(TTSInvalidInputError, match="nothing speakable"):
        speak(tmp_path, text)


def test_emoji_inside_text_is_not_spoken(tmp_path: Path) -> None:
    plain = read_wav(speak(tmp_path, "Hello world.")["path"])[0]
    with_emoji = read_wav(speak(tmp_path, "Hello 🙂 world.")["path"])[0]
    assert np.array_equal(plain, with_emoji)


def test_unspeakable_script_and_unknown_voice_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(TTSInvalidInputError, match="tibetan"):
        speak(tmp_path, "བཀྲ་ཤིས་བདེ་ལེགས།")
    for bad in ("xx-yy", "en-us+nosuch"):
        with pytest.raises(TTSInvalidInputError, match="no voice"):
            preview.synthesize("Hello.", "narrator", {"espeak_voice": bad}, tmp_path / "x.wav")


def test_same_input_same_bytes(tmp_path: Path) -> None:
    # espeak carries state between syntheses; each one runs from a fresh fork, so no drift
    first = speak(tmp_path, STORY, "emma")["path"].read_bytes()
    speak(tmp_path, "Something else entirely, to move espeak along.", "james")
    (tmp_path / "again").mkdir()
    assert speak(tmp_path / "again", STORY, "emma")["path"].read_bytes() == first


def test_speed_changes_duration(tmp_path: Path) -> None:
    text = "The keeper climbed the stairs every evening and watched the sea."
    normal = speak(tmp_path, text)["duration_s"]
    fast = speak(tmp_path, text, speed=1.5)["duration_s"]
    assert fast < 0.8 * normal


def test_two_threads_at_once(tmp_path: Path) -> None:
    jobs = [("narrator", STORY), ("emma", "你好，世界。今天的天气很好。")]
    (tmp_path / "solo").mkdir()
    expected = [speak(tmp_path / "solo", text, voice) for voice, text in jobs]
    results: dict[int, dict] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def work(i: int, voice: str, text: str) -> None:
        folder = tmp_path / f"t{i}"
        folder.mkdir()
        barrier.wait()
        try:
            for _ in range(3):
                results[i] = speak(folder, text, voice)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, want in enumerate(expected):
        assert results[i]["path"].read_bytes() == want["path"].read_bytes()


def test_in_process_binding_is_serialised() -> None:
    # the fallback path (no fork): two threads must not mix their samples
    solo = espeak.synthesize_here("The whale sang all night long.", "en-us+m3")
    out: dict[int, espeak.Speech] = {}

    def work(i: int) -> None:
        out[i] = espeak.synthesize_here("The whale sang all night long.", "en-us+m3")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for speech in out.values():
        assert abs(len(speech.samples) - len(solo.samples)) < 0.02 * len(solo.samples)
        assert [m.kind for m in speech.marks] == [m.kind for m in solo.marks]


def test_word_and_sentence_marks() -> None:
    speech = espeak.synthesize("Hello there. Good night.", "en-us")
    kinds = [m.kind for m in speech.marks]
    assert kinds.count("sentence") == 2 and kinds.count("word") == 4
    times = [m.audio_s for m in speech.marks]
    assert times == sorted(times) and times[-1] < speech.duration_s


def test_resample_keeps_a_tone() -> None:
    src = 22050
    t = np.arange(src) / src
    tone = np.sin(2 * np.pi * 440 * t)
    for dst in (16000, 24000, 48000):
        out = preview.resample(tone, src, dst)
        assert len(out) == dst
        spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
        assert np.argmax(spectrum) * dst / len(out) == pytest.approx(440, abs=2)
        assert np.sqrt((out[1000:-1000] ** 2).mean()) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_tts_agent_speaks_with_the_catalog_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        providers._BACKENDS,
        ("tts_chatterbox", "preview"),
        "sparkle_motion.function_tools.tts_chatterbox.preview",
    )
    with run_context(providers={"tts_chatterbox": "preview"}):
        ref = tts_agent.synthesize("Hello there. 你好。", {"id": "emma"}, {"sample_rate": 16000})
    meta = ref.metadata
    assert meta["voice_id"] == "emma"
    assert meta["voice_provider"] == "espeak-local"
    assert meta["provider"] == "tts_chatterbox/preview"
    assert meta["provider_voice_id"] in {"en+f3", "cmn+f3"}
    assert [s["language"] for s in meta["sentences"]] == ["en", "cmn"]
    assert meta["synth_time_s"] >= 0
    samples, rate = read_wav(ref.path)
    assert rate == 16000 and voiced_rms(samples, rate) > 0.05

    with run_context(providers={"tts_chatterbox": "preview"}):
        with pytest.raises(TTSInvalidInputError, match=r"known voices: .*emma"):
            tts_agent.synthesize("Hello.", {"id": "nobody"})
        with pytest.raises(TTSInvalidInputError, match="nothing speakable"):
            tts_agent.synthesize("🙂🙂", {"id": "emma"})


def test_tts_agent_honours_the_voice_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        providers._BACKENDS,
        ("tts_chatterbox", "preview"),
        "sparkle_motion.function_tools.tts_chatterbox.preview",
    )
    text = "Un dragón duerme. 小猫在月球上。"
    with run_context(providers={"tts_chatterbox": "preview"}):
        plain = tts_agent.synthesize(text, {"id": "emma", "language": "es"}).metadata
        spanish = tts_agent.synthesize(text, {"id": "narradora_es"}).metadata
    assert [s["language"] for s in plain["sentences"]] == ["es", "cmn"]
    assert [s["language"] for s in spanish["sentences"]] == ["es", "cmn"]
    assert spanish["provider_voice_id"] in {"es+f3", "cmn+f3"}


def test_tts_agent_fixture_path_uses_the_catalog_too() -> None:
    with run_context(providers={"tts_chatterbox": "fixture"}):
        ref = tts_agent.synthesize("Hello there.", {"id": "james"})
    assert ref.metadata["provider"] == "tts_chatterbox/fixture"
    assert ref.metadata["voice_provider"] == "fixture-local"
    assert ref.metadata["provider_voice_id"] == "tone-james"
