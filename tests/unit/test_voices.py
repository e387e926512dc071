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
    assert not catalog.providers["chatterbox-pro"].available  # described, not built yet
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
    meta = voices.get_voice_metadata("emma")
    assert isinstance(meta, VoiceMetadata)
    assert meta.voice_id == "emma"
    assert meta.provider == "espeak-local"  # the first available one it prefers
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
    assert {v.provider for v in everything} == {"espeak-local", "fixture-local"}  # available
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
