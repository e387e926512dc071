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
    assert "--provider lipsync_wav2lip=preview" in str(err.value), "a real profile, not fixtures"


def test_the_version_table_is_each_backends_own() -> None:
    # cache keys name a backend by this table (so a cached run imports no backend): it must
    # say what each module says, or a backend's version bump would not re-render its steps
    import importlib

    from sparkle_motion import providers

    assert set(providers._VERSIONS) == set(providers._BACKENDS)
    for (tool, profile), version in providers._VERSIONS.items():
        module = importlib.import_module(providers._BACKENDS[(tool, profile)])  # installed or not
        assert version == f"{module.PROVIDER_ID}@{module.VERSION}", (tool, profile)


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub endpoint that refuses connections: nothing here is cached or downloadable."""
    from sparkle_motion.utils import hf_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once, at its import
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(hf_hub, "_REACHABLE", {})
    monkeypatch.setattr(hf_hub, "cached", lambda repo, filename="model_index.json": False)


def test_the_full_profile_says_everything_missing_in_one_block(no_hub: None) -> None:
    from sparkle_motion import providers

    chosen = resolve_providers("full")
    weights = {"images_sdxl": [None], "videos_wan": [None]}
    with pytest.raises(MissingDependencyError) as err:
        providers.check_providers(chosen, weights)
    missing = err.value.details["missing"]
    tools = [line.split(" ", 1)[0] for line in missing]
    assert {"images_sdxl", "videos_wan"} <= set(tools) and len(tools) == len(set(tools))
    sdxl = next(line for line in missing if line.startswith("images_sdxl"))
    assert "hf download stabilityai/stable-diffusion-xl-base-1.0" in sdxl
    assert "SPARKLE_MODELS_DIR" in sdxl and "the hub cannot be reached" in sdxl
    assert "HF_HUB_OFFLINE" not in sdxl, "never name a setting the user did not set"
    assert err.value.message.endswith("cannot run here")


def test_the_weights_check_asks_about_what_the_plan_names(
    no_hub: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkle_motion import providers

    monkeypatch.setenv("SPARKLE_MODELS_DIR", str(tmp_path))
    (tmp_path / "mine" / "sdxl-tiny").mkdir(parents=True)
    assert providers._weights_missing("images_sdxl", "full", ["mine/sdxl-tiny"]) is None
    assert providers._weights_missing("images_sdxl", "full", [str(tmp_path)]) is None
    gone = providers._weights_missing("images_sdxl", "full", [str(tmp_path / "nope")])
    assert gone is not None and "does not exist" in gone
    line = providers._weights_missing("images_sdxl", "full", ["mine/sdxl-tiny", None])
    assert line is not None and "stabilityai/stable-diffusion-xl-base-1.0" in line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = providers._weights_missing("videos_wan", "full", [None])
    assert offline is not None and "HF_HUB_OFFLINE is set" in offline


def test_the_hub_counts_as_reachable_when_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    import threading

    from sparkle_motion.utils import hf_hub

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_hub, "_REACHABLE", {})
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert hf_hub.reachable()
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        assert not hf_hub.reachable()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert not hf_hub.reachable(), "offline mode never asks"
    finally:
        server.shutdown()
