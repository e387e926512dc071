"""The TTS provider catalog (configs/tts_providers.yaml) and the voice mapping API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sparkle_motion import voices
from sparkle_motion.config import config_path
from sparkle_motion.errors import ConfigError, TTSInvalidInputError
from sparkle_motion.function_tools.tts_chatterbox import espeak
from sparkle_motion.types import VoiceMetadata


def test_catalog_has_the_spec_structure() -> None:
    raw = yaml.safe_load(config_path("tts_providers.yaml").read_text(encoding="utf-8"))
    assert set(raw) == {"version", "priority_profiles", "providers", "voices", "rate_caps"}
    assert raw["version"] == "v1"
    catalog = voices.load_catalog()
    assert set(catalog.priority_profiles) == {"quality", "latency", "cost", "balanced"}
    balanced = catalog.priority_profiles["balanced"]
    assert (balanced.quality, balanced.latency, balanced.cost) == (0.5, 0.25, 0.25)
    assert {"espeak-local", "fixture-local", "chatterbox-pro", "adk-edge"} <= set(catalog.providers)
    assert catalog.providers["fixture-local"].tier == "fixture"
    espeak_local = catalog.providers["espeak-local"]
    assert espeak_local.available and espeak_local.profile == "preview"
    assert "multilingual" in espeak_local.features and not espeak_local.watermarking
    assert catalog.providers["chatterbox-pro"].available  # built; needs Chatterbox installed
    assert not catalog.providers["adk-edge"].available  # described, not built yet
    assert catalog.providers["chatterbox-pro"].watermarking
    assert catalog.default_voice == "narrator"
    assert {"narrator", "emma", "james", "olivia", "child", "elder"} <= set(catalog.voices)
    assert set(catalog.rate_caps) == {"tier1", "tier2", "fixture"}


def test_every_voice_has_a_real_espeak_voice_and_a_fixture() -> None:
    catalog = voices.load_catalog()
    seen = set()
    for voice_id in catalog.voices:
        args = voices.provider_voice(voice_id, "espeak-local")
        assert espeak.has_voice(args["espeak_voice"]), voice_id
        seen.add((args["espeak_voice"], args["rate_wpm"], args["pitch"]))
        assert voices.provider_voice(voice_id, "fixture-local")["provider_voice_id"]
    assert len(seen) == len(catalog.voices)  # no two voices sound the same


def test_get_voice_metadata_emma() -> None:
    assert voices.get_voice_metadata("emma").provider == "chatterbox-pro"  # its first choice
    meta = voices.get_voice_metadata("emma", "espeak-local")
    assert isinstance(meta, VoiceMetadata)
    assert meta.voice_id == "emma"
    assert meta.provider == "espeak-local"
    assert meta.display_name == "Emma"
    assert meta.provider_voice_id == "en+f3"
    assert meta.language_codes == ["en-GB"]
    assert meta.sample_rate == 24000 and meta.bit_depth == 16
    assert meta.watermarked is False
    assert meta.cost_estimate_usd_per_1s == 0.0
    assert 0 <= (meta.quality_score or 0) <= 1
    pro = voices.get_voice_metadata("emma", "chatterbox-pro")
    assert pro.watermarked is True and "voice_clone" in pro.features


def test_unknown_voice_names_the_known_ones() -> None:
    with pytest.raises(TTSInvalidInputError) as err:
        voices.get_voice_metadata("bob")
    assert "bob" in str(err.value)
    for name in ("narrator", "emma", "james"):
        assert name in str(err.value)
    with pytest.raises(TTSInvalidInputError, match="known voices"):
        voices.provider_voice("bob", "espeak-local")
    with pytest.raises(TTSInvalidInputError, match="unknown TTS provider"):
        voices.list_available_voices("nope")


def test_list_available_voices() -> None:
    local = voices.list_available_voices("espeak-local")
    assert {v.voice_id for v in local} == set(voices.load_catalog().voices)
    assert all(v.provider == "espeak-local" for v in local)
    everything = voices.list_available_voices()
    assert {v.provider for v in everything} == {"chatterbox-pro", "espeak-local", "fixture-local"}
    assert voices.list_available_voices("adk-edge") == []


def test_provider_voice_gives_explicit_backend_arguments() -> None:
    args = voices.provider_voice("narrator", "espeak-local")
    assert args == {
        "espeak_voice": "en-us+m3",
        "provider_voice_id": "en-us+m3",
        "rate_wpm": 165,
        "pitch": 45,
        "pitch_range": 45,
        "sample_rate": 24000,
    }
    assert voices.provider_voice("emma", "fixture-local")["provider_voice_id"] == "tone-emma"
    assert voices.provider_voice("emma", "chatterbox-pro")["exaggeration"] == 0.5


def test_provider_for_profiles_and_aliases() -> None:
    assert voices.provider_for("preview") == "espeak-local"
    assert voices.provider_for("fixture") == "fixture-local"
    assert voices.provider_for("full") == "chatterbox-pro"
    assert voices.provider_for("fixture-tts") == "fixture-local"
    assert voices.provider_for("espeak-local") == "espeak-local"
    with pytest.raises(TTSInvalidInputError):
        voices.provider_for("nothing-like-it")


def test_override_in_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load(config_path("tts_providers.yaml").read_text(encoding="utf-8"))
    raw["voices"]["pirate"] = {
        "display_name": "Pirate",
        "description": "Gravelly.",
        "provider_preferences": [{"provider": "espeak-local", "voice_id": "en+m4"}],
    }
    (tmp_path / "tts_providers.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(tmp_path))
    assert voices.get_voice_metadata("pirate").provider_voice_id == "en+m4"

    raw["voices"]["pirate"]["provider_preferences"][0]["provider"] = "nowhere"
    (tmp_path / "tts_providers.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown provider"):
        voices.load_catalog()

    (tmp_path / "tts_providers.yaml").write_text("version: v1\nproviders: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        voices.load_catalog()


# ------------------------------------------------------------------------------ languages

SENTENCES = {
    "en": "The keeper lit the lamp.",
    "es": "Un niño encuentra un dragón en el bosque.",
    "zh": "小猫在月球上寻找朋友。",
    "fr": "Un enfant trouve un dragon dans la forêt.",
    "de": "Ein Kind findet einen Drachen im Wald.",
    "it": "Un bambino trova un drago nel bosco.",
    "pt": "Uma criança encontra um dragão na floresta.",
    "ja": "こどもが もりで りゅうを みつけます。",
}
# espeak's name of each language, where it is not the language tag's own
ESPEAK_LANGUAGE = {"zh": "cmn"}


def test_every_voice_has_an_entry_for_every_provider_the_voices_use() -> None:
    catalog = voices.load_catalog()
    used = {p.provider for v in catalog.voices.values() for p in v.provider_preferences}
    assert {"chatterbox-pro", "espeak-local", "fixture-local"} <= used
    for voice_id, voice in catalog.voices.items():
        assert {p.provider for p in voice.provider_preferences} == used, voice_id
        assert voice.language_codes, voice_id


def test_language_voices_are_in_the_catalog() -> None:
    assert voices.languages()[:3] == ["en", "es", "zh"]
    assert {"fr", "de", "it", "pt", "ja"} <= set(voices.languages())
    meta = voices.get_voice_metadata("narrator_es", "espeak-local")
    assert meta.language_codes == ["es-ES"] and meta.provider_voice_id == "es+m3"
    assert voices.get_voice_metadata("narradora_es", "espeak-local").provider_voice_id == "es+f3"
    assert voices.get_voice_metadata("narrator_zh").language_codes == ["zh-CN"]
    assert voices.provider_voice("narrator_zh", "chatterbox-pro")["language_id"] == "zh"
    assert voices.provider_voice("narrator_zh", "fixture-local")["provider_voice_id"] == (
        "tone-narrator_zh"
    )


def test_every_voice_speaks_its_own_language_in_espeak() -> None:
    catalog = voices.load_catalog()
    for voice_id in catalog.voices:
        language = voices.voice_language(voice_id)
        assert language in SENTENCES, voice_id
        args = voices.provider_voice(voice_id, "espeak-local")
        base = args["espeak_voice"].split("+")[0]
        assert base.split("-")[0] == ESPEAK_LANGUAGE.get(language, language), voice_id
        if language != "en":  # chatterbox's multilingual model is told the language
            assert voices.provider_voice(voice_id, "chatterbox-pro")["language_id"] == language
        speech = espeak.synthesize(SENTENCES[language], args["espeak_voice"])
        loud = int((abs(speech.samples.astype("int32")) > 1000).sum())
        assert 1.0 < speech.duration_s < 6.0, (voice_id, speech.duration_s)
        assert loud > 0.2 * speech.sample_rate, voice_id  # a fifth of a second of real sound


def test_voice_for_language() -> None:
    assert voices.voice_for_language("es") == "narrator_es"
    assert voices.voice_for_language("es-MX", "female") == "narradora_es"
    assert voices.voice_for_language("zh") == "narrator_zh"
    assert voices.voice_for_language("zh_CN") == "narrator_zh"
    assert voices.voice_for_language("cmn") == "narrator_zh"
    assert voices.voice_for_language("zh-CN", "female") == "narrator_zh_female"
    assert voices.voice_for_language("en") == "narrator"  # the default voice first
    assert voices.voice_for_language("en-GB") == "emma"  # an exact code beats the language
    assert voices.voice_for_language("en", "female") == "emma"
    assert voices.voice_for_language("fr", "female") == "narrator_fr"  # none: the language wins
    assert voices.voice_for_language("ko") == "narrator"  # no Korean voice
    assert voices.voice_for_language(None) == voices.voice_for_language("") == "narrator"
    assert voices.voice_language("narrator_pt") == "pt"
    assert voices.voice_language("olivia") == "en"


def test_a_plan_voices_language_reaches_a_provider_that_takes_one() -> None:
    from sparkle_motion import tts_agent
    from sparkle_motion.types import VoiceConfig

    assert voices.provider_voice("emma", "chatterbox-pro", language="es-MX")["language_id"] == "es"
    pro_zh = voices.provider_voice("narrator_es", "chatterbox-pro", language="cmn")
    assert pro_zh["language_id"] == "zh"
    # espeak takes it from the call's opts (tts_agent), so its settings do not change
    assert voices.provider_voice("emma", "espeak-local", language="es") == (
        voices.provider_voice("emma", "espeak-local")
    )
    full = tts_agent.resolve_voice(VoiceConfig(id="narrator", language="zh-CN"), None, "full")
    assert full.provider == "chatterbox-pro" and full.settings["language_id"] == "zh"
    preview = tts_agent.resolve_voice(VoiceConfig(id="narrator", language="es"), None, "preview")
    assert "language" not in preview.settings and preview.settings["espeak_voice"] == "en-us+m3"
