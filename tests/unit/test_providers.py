"""Provider profiles: precedence of command line, config file, SMOKE flags and profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkle_motion.errors import ConfigError, MissingDependencyError
from sparkle_motion.providers import backend, parse_overrides, resolve_providers


def test_profile_is_the_default_for_every_tool() -> None:
    chosen = resolve_providers("fixture")
    assert set(chosen.values()) == {"fixture", "ffmpeg"}
    assert chosen["assemble_ffmpeg"] == "ffmpeg"


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_TTS", "1")
    assert resolve_providers("preview")["tts_chatterbox"] == "full"
    assert resolve_providers("fixture")["tts_chatterbox"] == "fixture"  # tests stay offline
    (tmp_path / "sparkle.yaml").write_text("providers:\n  tts_chatterbox: preview\n")
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(tmp_path))
    assert resolve_providers("preview")["tts_chatterbox"] == "preview"  # config beats SMOKE
    cli = parse_overrides(["tts_chatterbox=fixture"])
    assert resolve_providers("preview", cli)["tts_chatterbox"] == "fixture"  # CLI beats config


def test_smoke_adapters_switches_every_gated_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_ADAPTERS", "1")
    chosen = resolve_providers("preview")
    assert {chosen[t] for t in ("images_sdxl", "videos_wan", "lipsync_wav2lip", "qa_qwen2vl")} == {
        "full"
    }


@pytest.mark.parametrize("value", ["images_sdxl", "nope=full", "images_sdxl=gpu"])
def test_bad_overrides(value: str) -> None:
    with pytest.raises(ConfigError, match="TOOL=PROFILE"):
        parse_overrides([value])


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="unknown profile"):
        resolve_providers("cinema")


def test_missing_backend_names_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkle_motion import providers

    monkeypatch.delitem(providers._BACKENDS, ("lipsync_wav2lip", "full"))  # as if not built
    with pytest.raises(MissingDependencyError, match="no full provider yet") as err:
        backend("lipsync_wav2lip", "full")
    assert "--provider lipsync_wav2lip=fixture" in str(err.value)


def test_the_version_table_is_each_backends_own() -> None:
    # cache keys name a backend by this table (so a cached run imports no backend): it must
    # say what each module says, or a backend's version bump would not re-render its steps
    import importlib

    from sparkle_motion import providers

    assert set(providers._VERSIONS) == set(providers._BACKENDS)
    for (tool, profile), version in providers._VERSIONS.items():
        module = importlib.import_module(providers._BACKENDS[(tool, profile)])  # installed or not
        assert version == f"{module.PROVIDER_ID}@{module.VERSION}", (tool, profile)
