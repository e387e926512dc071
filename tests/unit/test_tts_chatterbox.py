"""tts_chatterbox's full backend, with Chatterbox stubbed at its generate() boundary.

In process: fake ``chatterbox`` modules whose models draw noise from torch's global RNG (so
the seed shows) and record their calls. Worker route: a stand-in worker script, written
here, that speaks the worker protocol (and crashes or hangs on request).
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import types
import wave
from pathlib import Path

import numpy as np
import pytest

from sparkle_motion import gpu_utils, providers, tts_agent
from sparkle_motion.errors import (
    MissingDependencyError,
    TTSInvalidInputError,
    TTSProviderUnavailable,
)
from sparkle_motion.function_tools.tts_chatterbox import full
from sparkle_motion.run_context import run_context
from sparkle_motion.utils.procs import pid_exists

CALLS: list[tuple[str, str, dict]] = []  # (class, text, kwargs) of every generate()
LOADS: list[tuple[str, str, str]] = []  # (class, how, where)


class _FakeModel:
    sr = 24000

    def __init__(self, device: str) -> None:
        self.device = device

    @classmethod
    def from_pretrained(cls, device: str):
        LOADS.append((cls.__name__, "hub", device))
        return cls(device)

    @classmethod
    def from_local(cls, ckpt_dir: str, device: str):
        LOADS.append((cls.__name__, "local", str(ckpt_dir)))
        return cls(device)

    def generate(self, text: str, **kw):
        import torch

        CALLS.append((type(self).__name__, text, kw))
        n = 2400 + 240 * len(text)  # 0.1 s + 10 ms a character at 24 kHz
        return 0.3 * (torch.rand(1, n) * 2 - 1)


class ChatterboxTTS(_FakeModel):
    pass


class ChatterboxMultilingualTTS(_FakeModel):
    pass


@pytest.fixture
def stub_chatterbox(monkeypatch: pytest.MonkeyPatch):
    package = types.ModuleType("chatterbox")
    tts = types.ModuleType("chatterbox.tts")
    tts.ChatterboxTTS = ChatterboxTTS  # type: ignore[attr-defined]
    mtl = types.ModuleType("chatterbox.mtl_tts")
    mtl.ChatterboxMultilingualTTS = ChatterboxMultilingualTTS  # type: ignore[attr-defined]
    for name, module in (
        ("chatterbox", package),
        ("chatterbox.tts", tts),
        ("chatterbox.mtl_tts", mtl),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    CALLS.clear()
    LOADS.clear()
    gpu_utils.reset_pool()
    yield
    gpu_utils.reset_pool()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), w.getframerate()


def speak(tmp_path: Path, text: str, name: str = "out.wav", **opts) -> dict:
    opts = {"chatterbox_route": "in_process", "device": "cpu", **opts}
    meta = full.synthesize(text, "narrator", opts, tmp_path / name)
    meta["path"] = tmp_path / name
    return meta


# ------------------------------------------------------------------------- in process


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_wav_metadata_and_sentence_timings(stub_chatterbox, tmp_path: Path, rate: int) -> None:
    meta = speak(tmp_path, "The keeper lit the lamp. A whale sang back!", sample_rate=rate, seed=4)
    samples, got = read_wav(meta["path"])
    assert got == rate == meta["sample_rate"]
    assert meta["duration_s"] == pytest.approx(len(samples) / rate)
    assert [c[1] for c in CALLS] == ["The keeper lit the lamp.", "A whale sang back!"]
    first, second = meta["sentences"]
    assert 0 < first["start_s"] < first["end_s"] < second["start_s"] < second["end_s"]
    assert second["start_s"] - first["end_s"] == pytest.approx(full.SENTENCE_PAUSE_S, abs=1e-3)
    # each sentence's audio lasts as long as its generate() output (resampled)
    assert first["end_s"] - first["start_s"] == pytest.approx((2400 + 240 * 24) / 24000, abs=2e-3)
    quiet = samples[int(first["end_s"] * rate) + 50 : int(second["start_s"] * rate) - 50]
    assert np.abs(quiet).max() == 0  # the pause is silent
    for key, value in {
        "provider": "tts_chatterbox/full", "model_id": "ResembleAI/chatterbox",
        "model_variant": "english", "device": "cpu", "watermarked": True, "format": "wav",
        "seed": 4, "route": "in_process", "language_id": "en",
    }.items():  # fmt: skip
        assert meta[key] == value, key
    assert LOADS == [("ChatterboxTTS", "hub", "cpu")]


def test_seeded_and_loaded_once(stub_chatterbox, tmp_path: Path) -> None:
    a = speak(tmp_path, "One line. Two lines.", "a.wav", seed=11)
    b = speak(tmp_path, "One line. Two lines.", "b.wav", seed=11)
    c = speak(tmp_path, "One line. Two lines.", "c.wav", seed=12)
    assert a["path"].read_bytes() == b["path"].read_bytes()
    assert a["path"].read_bytes() != c["path"].read_bytes()
    assert len(LOADS) == 1  # the model pool kept it
    assert [kw["exaggeration"] for _, _, kw in CALLS] == [0.5] * 6


def test_language_picks_the_multilingual_model(stub_chatterbox, tmp_path: Path) -> None:
    meta = speak(tmp_path, "Un dragón duerme.", language_id="es", exaggeration=0.7)
    assert meta["model_variant"] == "multilingual" and meta["language_id"] == "es"
    model, _, kw = CALLS[-1]
    assert model == "ChatterboxMultilingualTTS" and kw["language_id"] == "es"
    assert kw["exaggeration"] == 0.7
    speak(tmp_path, "你好。", language="zh-CN")
    assert CALLS[-1][2]["language_id"] == "zh"
    with pytest.raises(TTSInvalidInputError, match="does not speak 'xx'"):
        speak(tmp_path, "Hello.", language_id="xx")


def test_reference_clip_and_cross_lingual_cfg(stub_chatterbox, tmp_path: Path) -> None:
    clip = tmp_path / "voice.wav"
    clip.write_bytes(b"RIFF")
    meta = speak(tmp_path, "Hello there.", audio_prompt_path=str(clip), cfg_weight=0.4)
    assert CALLS[-1][2]["audio_prompt_path"] == str(clip) and CALLS[-1][2]["cfg_weight"] == 0.4
    assert meta["audio_prompt"] == "voice.wav" and not meta["cross_lingual_reference"]
    meta = speak(
        tmp_path, "Un dragón duerme.", audio_prompt_path=str(clip), language_id="es",
        reference_language="en-US", cfg_weight=0.4,
    )  # fmt: skip
    assert CALLS[-1][2]["cfg_weight"] == 0.0 and meta["cross_lingual_reference"]
    speak(tmp_path, "Hola.", audio_prompt_path=str(clip), language_id="es", reference_language="es")
    assert CALLS[-1][2]["cfg_weight"] == 0.5  # same language: upstream's default stays
    with pytest.raises(TTSInvalidInputError, match="reference clip not found"):
        speak(tmp_path, "Hello.", audio_prompt_path=str(tmp_path / "gone.wav"))


def test_local_checkpoint_under_the_models_root(stub_chatterbox, tmp_path: Path) -> None:
    ckpt = tmp_path / "models" / "my-chatterbox"
    ckpt.mkdir(parents=True)
    meta = speak(tmp_path, "Hello.", model_id="my-chatterbox", models_root=str(tmp_path / "models"))
    assert [("ChatterboxTTS", "local", str(ckpt.resolve()))] == LOADS
    assert meta["model_id"] == str(ckpt.resolve())


def test_long_text_is_cut_into_sentences_within_the_cap(stub_chatterbox, tmp_path: Path) -> None:
    long_sentence = ", ".join(["the whale sang to the keeper across the water"] * 12) + "."
    meta = speak(tmp_path, f"Short one. {long_sentence}")
    spoken = [text for _, text, _ in CALLS]
    assert len(spoken) > 2 and all(len(t) <= full.MAX_SENTENCE_CHARS for t in spoken)
    assert " ".join(spoken) == f"Short one. {long_sentence}"
    assert len(meta["sentences"]) == len(spoken)


def test_through_tts_agent(stub_chatterbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "chatterbox_route", lambda: {"chatterbox_route": "in_process"})
    with run_context(providers={"tts_chatterbox": "full"}):
        ref = tts_agent.synthesize("Hola a todos.", {"id": "narrator_es"}, {"seed": 9})
    meta = ref.metadata
    assert meta["voice_provider"] == "chatterbox-pro" and meta["watermarked"] is True
    assert meta["selection"]["selected_provider"] == "chatterbox-pro"
    assert meta["language_id"] == "es" and meta["seed"] == 9
    assert CALLS[-1][2]["exaggeration"] == 0.4  # the catalog's setting for narrator_es


# ------------------------------------------------------------------------- the worker

STANDIN = textwrap.dedent(
    """
    import json, math, os, struct, sys, time
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    print("noise a library prints")  # must not break the protocol
    with open(os.path.join(os.environ["STANDIN_DIR"], "starts"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    proto.write(json.dumps({"event": "ready", "protocol": 1, "pid": os.getpid()}) + "\\n")
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "quit":
            break
        if req["op"] == "load":
            proto.write(json.dumps({"id": req["id"], "ok": True, "sample_rate": 24000,
                                    "device": "cpu", "model_id": req["model"]}) + "\\n")
            continue
        text = req["text"]
        if "CRASH" in text:
            os._exit(3)
        if "HANG" in text:
            time.sleep(3600)
        if "BAD" in text:
            proto.write(json.dumps({"id": req["id"], "ok": False, "kind": "invalid_input",
                                    "error": "ValueError: bad"}) + "\\n")
            continue
        n = 2400 + 240 * len(text)
        data = struct.pack(f"<{n}f", *(0.3 * math.sin(i / 10) for i in range(n)))
        with open(req["out"], "wb") as f:
            f.write(data)
        proto.write(json.dumps({"id": req["id"], "ok": True, "samples": n,
                                "sample_rate": 24000, "watermarked": True}) + "\\n")
    """
)


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    script = tmp_path / "standin_worker.py"
    script.write_text(STANDIN)
    monkeypatch.setenv("STANDIN_DIR", str(tmp_path))
    gpu_utils.reset_pool()
    yield script
    gpu_utils.reset_pool()


def starts(tmp_path: Path) -> list[int]:
    path = tmp_path / "starts"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def worker_speak(tmp_path: Path, script: Path, text: str, **opts) -> dict:
    opts = {
        "chatterbox_route": "worker", "chatterbox_python": sys.executable,
        "worker_script": str(script), **opts,
    }  # fmt: skip
    return full.synthesize(text, "narrator", opts, tmp_path / "w.wav")


def test_worker_stays_warm_between_lines(standin: Path, tmp_path: Path) -> None:
    a = worker_speak(tmp_path, standin, "First line. Second line.", seed=1)
    b = worker_speak(tmp_path, standin, "Third line.", seed=2)
    assert len(starts(tmp_path)) == 1 and pid_exists(starts(tmp_path)[0])
    assert a["route"] == "worker" and a["device"] == "cpu" and len(a["sentences"]) == 2
    assert b["duration_s"] > 0 and b["watermarked"] is True
    with pytest.raises(TTSInvalidInputError, match="bad"):
        worker_speak(tmp_path, standin, "BAD input.")
    worker_speak(tmp_path, standin, "Still here.")
    assert len(starts(tmp_path)) == 1  # a refused request keeps the worker
    gpu_utils.reset_pool()  # evicting the pool entry stops the worker
    assert not pid_exists(starts(tmp_path)[0])


def test_a_crash_is_provider_unavailable_and_the_next_call_restarts(
    standin: Path, tmp_path: Path
) -> None:
    with pytest.raises(TTSProviderUnavailable, match=r"exited \(code 3\)"):
        worker_speak(tmp_path, standin, "Hello. CRASH now.")
    worker_speak(tmp_path, standin, "Hello again.")
    first, second = starts(tmp_path)
    assert not pid_exists(first) and pid_exists(second)


def test_a_hung_worker_is_killed_on_timeout(standin: Path, tmp_path: Path) -> None:
    with pytest.raises(TTSProviderUnavailable, match="did not answer"):
        worker_speak(tmp_path, standin, "HANG here.", line_timeout_s=0.5)
    assert not pid_exists(starts(tmp_path)[0])


def test_ctrl_c_leaves_no_worker_behind(standin: Path, tmp_path: Path) -> None:
    worker_speak(tmp_path, standin, "Warm up.")
    main = threading.get_ident()
    timer = threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            worker_speak(tmp_path, standin, "HANG here.")
    finally:
        timer.cancel()
    assert not pid_exists(starts(tmp_path)[0])


def test_a_crash_fails_over_to_the_next_provider(
    standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = {"chatterbox_route": "worker", "chatterbox_python": sys.executable}
    monkeypatch.setattr(providers, "chatterbox_route", lambda: dict(route))
    monkeypatch.setattr(full, "WORKER_SCRIPT", standin)
    monkeypatch.setattr(tts_agent, "_sleep", lambda s: None)
    with run_context(providers={"tts_chatterbox": "full"}):
        ref = tts_agent.synthesize("Hello there. CRASH.", {"id": "emma"})
    meta = ref.metadata
    assert meta["voice_provider"] == "espeak-local" and meta["provider"] == "tts_chatterbox/preview"
    assert meta["selection"]["reason"] == "failover after chatterbox-pro (unavailable)"
    assert meta["selection"]["attempts"][0]["error_type"] == "TTSProviderUnavailable"


# ------------------------------------------------------------------ the provider check


def test_missing_chatterbox_names_both_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingDependencyError) as err:
        providers.check_backend("tts_chatterbox", "full")
    line = str(err.value)
    assert "\n" not in line and "SPARKLE_CHATTERBOX_PYTHON" in line
    assert "pip install chatterbox-tts" in line
    monkeypatch.setenv("SPARKLE_CHATTERBOX_PYTHON", "/nowhere/python")
    with pytest.raises(MissingDependencyError, match="is not an executable file"):
        providers.chatterbox_route()
    monkeypatch.setenv("SPARKLE_CHATTERBOX_PYTHON", sys.executable)  # ours has no chatterbox
    with pytest.raises(MissingDependencyError, match="has no chatterbox-tts"):
        providers.chatterbox_route()


def test_an_interpreter_with_chatterbox_is_the_worker_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site" / "chatterbox").mkdir(parents=True)
    (tmp_path / "site" / "chatterbox" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    monkeypatch.setenv("SPARKLE_CHATTERBOX_PYTHON", sys.executable)
    providers._probe_interpreter.cache_clear()
    try:
        assert providers.chatterbox_route() == {
            "chatterbox_route": "worker", "chatterbox_python": sys.executable,
        }  # fmt: skip
        assert providers.check_backend("tts_chatterbox", "full").endswith(".full")
    finally:
        providers._probe_interpreter.cache_clear()


def test_in_process_only_when_the_pins_match(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    monkeypatch.setattr(providers, "_installed", lambda name: True)
    monkeypatch.setattr(
        metadata, "requires", lambda name: ["torch==2.6.0", "numpy<2; python_version<'3.13'"]
    )
    monkeypatch.setattr(metadata, "version", lambda name: {"torch": "2.13.0"}[name])
    with pytest.raises(MissingDependencyError, match=r"pins torch==2.6.0 \(here 2.13.0\)"):
        providers.chatterbox_route()
    monkeypatch.setattr(metadata, "version", lambda name: {"torch": "2.6.0+cu124"}[name])
    assert providers.chatterbox_route() == {"chatterbox_route": "in_process"}


def test_the_worker_script_imports_nothing_of_ours() -> None:
    source = Path(full.chatterbox_worker.__file__).read_text()
    assert "sparkle_motion" not in source.replace('"sparkle_motion"', "")
    assert os.path.basename(full.WORKER_SCRIPT) == "chatterbox_worker.py"
