"""videos_wan full backend on tiny random Wan 2.1 pipelines (CPU, offline).

Tiny T2V, I2V and FLF2V pipelines (the configs of notes/verified-stack.md, a T5 tokenizer
built locally) are saved under a temporary models root and loaded by the backend through
its own ``from_pretrained`` path. Clips are decoded and their frames counted and compared.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sparkle_motion import gpu_utils, providers
from sparkle_motion.errors import (
    ConfigError,
    MissingDependencyError,
    ModelOOMError,
    VideosWanCancelled,
)
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from sparkle_motion.function_tools.videos_wan import full, wan_loading  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning"),
]

T2V, I2V, FLF2V = "tiny-wan-t2v", "tiny-wan-i2v", "tiny-wan-flf2v"
SMALL = {"width": 32, "height": 32, "fps": 8, "num_frames": 5, "steps": 2, "seed": 7,
         "device": "cpu", "max_sequence_length": 16}  # fmt: skip


# ----------------------------------------------------------------- tiny pipelines


def t5_tokenizer(folder: Path) -> Any:
    """A Unigram T5 tokenizer of single letters (ids < 100, the tiny UMT5's vocabulary)."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(c, -1.0 - i / 100) for i, c in enumerate("▁abcdefghijklmnopqrstuvwxyz.,")]
    transformers.T5Tokenizer(vocab=pieces, extra_ids=0).save_pretrained(folder)
    return transformers.T5Tokenizer.from_pretrained(folder)


def build_tiny_wan(root: Path) -> None:
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )  # fmt: skip
    text = transformers.UMT5EncoderModel(
        transformers.UMT5Config(
            vocab_size=100, d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
            decoder_start_token_id=0,
        )
    )  # fmt: skip
    tokenizer = t5_tokenizer(root / "_t5")
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0)
    common = dict(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    parts = {"tokenizer": tokenizer, "text_encoder": text, "vae": vae, "scheduler": scheduler}
    diffusers.WanPipeline(
        transformer=diffusers.WanTransformer3DModel(in_channels=16, **common), **parts
    ).save_pretrained(root / T2V)
    encoder = transformers.CLIPVisionModel(
        transformers.CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, intermediate_size=16, patch_size=8,
        )
    )  # fmt: skip
    processor = transformers.CLIPImageProcessor(crop_size=32, size=32)
    # FLF2V: two images' 17 tokens each get a learned position (pos_embed_seq_len).
    for name, extra in ((I2V, {}), (FLF2V, {"pos_embed_seq_len": 34})):
        transformer = diffusers.WanTransformer3DModel(
            in_channels=36, image_dim=4, **common, **extra
        )
        diffusers.WanImageToVideoPipeline(
            transformer=transformer, image_encoder=encoder, image_processor=processor, **parts
        ).save_pretrained(root / name)


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wan-models")
    build_tiny_wan(root)
    return root


@pytest.fixture(scope="session", autouse=True)
def ftfy_present() -> Iterator[None]:
    """WanImageToVideoPipeline calls ftfy unguarded; where ftfy is not installed, stand in
    an identity ``fix_text`` (the tiny tokenizer sees plain ASCII anyway)."""
    try:
        import ftfy  # noqa: F401

        yield
        return
    except ImportError:
        pass
    from diffusers.pipelines.wan import pipeline_wan_i2v

    stub = types.ModuleType("ftfy")
    stub.fix_text = lambda text: text  # type: ignore[attr-defined]
    sys.modules["ftfy"] = stub
    pipeline_wan_i2v.ftfy = stub  # type: ignore[attr-defined]
    yield
    del sys.modules["ftfy"]
    del pipeline_wan_i2v.ftfy


@pytest.fixture(autouse=True)
def env(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[gpu_utils.ModelPool]:
    monkeypatch.setenv("SPARKLE_MODELS_DIR", str(models_root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pool = gpu_utils.reset_pool(budget_mb=10_000)
    yield pool
    gpu_utils.reset_pool(budget_mb=10_000)
    gc.collect()


def opts(models_root: Path, model_id: str, **extra: Any) -> dict[str, Any]:
    return {**SMALL, "model_id": model_id, "models_root": str(models_root), **extra}


def keyframe(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    ImageDraw.Draw(img).ellipse([8, 8, 30, 30], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    img.save(path)
    return path


def rgb_frames(path: Path) -> np.ndarray:
    info = probe(path)
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-pix_fmt", "rgb24", "-f", "rawvideo",
         "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)


# ----------------------------------------------------------------------- rendering


def test_t2v_renders_exactly_the_frames_asked_for(models_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "t2v.mp4"
    meta = full.render([], [], "a cat", opts(models_root, T2V, num_frames=6), out)
    frames = rgb_frames(out)
    # Wan renders 4k+1 frames: 9 were rendered, the clip keeps the 6 asked for
    assert frames.shape == (6, 32, 32, 3)
    assert meta["mode"] == "t2v" and meta["rendered_frames"] == 9 and meta["num_frames"] == 6
    info = probe(out)
    assert info.fps == 8 and info.video_codec == "h264"
    for key in ("model_id", "device", "seed", "inference_time_s", "peak_vram_mb", "plan_step",
                "device_preset", "dtype", "scheduler"):  # fmt: skip
        assert key in meta
    assert meta["device"] == "cpu" and meta["dtype"] == "float32"
    assert meta["device_preset"] == "cpu" and meta["provider"] == full.PROVIDER_ID
    assert meta["scheduler"] == "DPMSolverMultistepScheduler"  # the spec's swap


def test_i2v_same_seed_same_frames_other_seed_differs(models_root: Path, tmp_path: Path) -> None:
    start = [keyframe(tmp_path / "a.png", 1)]
    clips = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / f"{name}.mp4"
        meta = full.render(start, [], "a dog", opts(models_root, I2V, seed=seed), out)
        assert meta["mode"] == "i2v" and meta["seed"] == seed
        clips.append(rgb_frames(out))
    assert clips[0].shape == (5, 32, 32, 3)
    assert np.array_equal(clips[0], clips[1])
    assert not np.array_equal(clips[0], clips[2])


def test_flf2v_uses_the_last_image(models_root: Path, tmp_path: Path) -> None:
    start, end = keyframe(tmp_path / "a.png", 1), keyframe(tmp_path / "b.png", 2, (40, 64))
    out = tmp_path / "flf.mp4"
    meta = full.render([start], [end], "a bird", opts(models_root, FLF2V), out)
    assert meta["mode"] == "flf2v" and meta["keyframes"] == 2
    assert rgb_frames(out).shape == (5, 32, 32, 3)
    other = tmp_path / "flf2.mp4"
    full.render([start], [keyframe(tmp_path / "c.png", 9)], "a bird", opts(models_root, FLF2V),
                other)  # fmt: skip
    assert not np.array_equal(rgb_frames(out), rgb_frames(other))  # the end frame counts
    # FLF2V weights cannot take a start frame alone: said before rendering
    with pytest.raises(ConfigError, match="needs an end frame"):
        full.render([start], [], "a bird", opts(models_root, FLF2V), tmp_path / "x.mp4")


def test_unaligned_size_renders_aligned_and_scales(models_root: Path, tmp_path: Path) -> None:
    start = [keyframe(tmp_path / "a.png", 1, (90, 30))]
    out = tmp_path / "odd.mp4"
    meta = full.render(start, [], "a cow", opts(models_root, I2V, width=40, height=24), out)
    # VAE factor 8 x patch 2 = 16: rendered at 32x32, encoded at the size asked for
    assert meta["size_multiple"] == 16
    assert (meta["render_width"], meta["render_height"]) == (32, 32)
    assert rgb_frames(out).shape == (5, 24, 40, 3)


def test_aligned_size_and_snap() -> None:
    assert [full.snap_frames(n) for n in (1, 2, 5, 6, 9, 64, 81)] == [1, 5, 5, 9, 9, 65, 81]
    pipe = types.SimpleNamespace(
        vae_scale_factor_spatial=8,
        transformer=types.SimpleNamespace(config=types.SimpleNamespace(patch_size=(1, 2, 2))),
    )
    assert full.aligned_size(1280, 720, pipe) == (1280, 720, 16)
    assert full.aligned_size(1010, 562, pipe) == (1008, 560, 16)
    assert full.aligned_size(5, 5, pipe) == (16, 16, 16)


def test_a_plan_of_video_steps_loads_wan_once(
    models_root: Path, tmp_path: Path, env: gpu_utils.ModelPool
) -> None:
    start = keyframe(tmp_path / "a.png", 1)
    metas = [
        full.render([start], [], f"shot {i}", opts(models_root, I2V, seed=i), tmp_path / f"{i}.mp4")
        for i in range(3)
    ]
    assert env.stats()["loads"] == 1
    assert [m["from_pool"] for m in metas] == [False, True, True]


def test_progress_follows_the_contract(models_root: Path, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    full.render([], [], "a cat", opts(models_root, T2V, steps=3), tmp_path / "p.mp4",
                on_progress=events.append)  # fmt: skip
    phases = [e["phase"] for e in events]
    assert phases[0] == "load" and phases[-1] == "postprocess"
    rendering = [e for e in events if e["phase"] == "rendering"]
    assert len(rendering) == 3  # one per denoising step, from callback_on_step_end
    assert [e["progress"] for e in rendering] == sorted(e["progress"] for e in rendering)
    assert rendering[-1]["progress"] == 1.0 and events[-1]["progress"] == 1.0
    for event in events:
        assert {"phase", "frame_index", "progress", "device"} <= set(event)
        assert 0 <= event["frame_index"] < 5 and event["device"] == "cpu"


def test_cancel_stops_at_the_next_step(models_root: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def on_progress(event: dict[str, Any]) -> None:
        if event["phase"] == "rendering":
            seen.append(event["step"])
            cancel.set()  # cancelled while the first step finishes

    out = tmp_path / "c.mp4"
    with pytest.raises(VideosWanCancelled, match="step 2"):
        full.render([], [], "a cat", opts(models_root, T2V, steps=4, cancel=cancel), out,
                    on_progress=on_progress)  # fmt: skip
    assert seen == [1] and not out.exists()
    with pytest.raises(VideosWanCancelled, match="before loading"):
        full.render([], [], "a cat", opts(models_root, T2V, cancel=cancel), out)


def test_oom_is_model_oom_error(
    models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(pipe: Any, kwargs: dict[str, Any], scheduler: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(full, "_run", boom)
    with pytest.raises(ModelOOMError) as err:
        full.render([], [], "a cat", opts(models_root, T2V), tmp_path / "o.mp4")
    assert err.value.stage == "inference"


# --------------------------------------------------------------- what is missing


def test_missing_weights_is_one_line(models_root: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError) as err:
        full.render([], [], "a cat", opts(models_root, "Wan-AI/not-here"), tmp_path / "m.mp4")
    text = str(err.value)
    assert "\n" not in text and "hf download Wan-AI/not-here" in text
    assert str(models_root) in text and "SPARKLE_MODELS_DIR" in text


def test_missing_diffusers_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingDependencyError) as err:
        wan_loading.require()
    assert str(err.value) == 'videos_wan (full) needs diffusers (0.33 or later, with the Wan ' \
        'pipelines): pip install -e ".[full]"'  # fmt: skip


def test_provider_check_names_packages_and_weights(
    models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "_installed", lambda package: package != "diffusers")
    with pytest.raises(MissingDependencyError) as err:
        providers.check_backend("videos_wan", "full")
    text = str(err.value)
    assert "\n" not in text and "diffusers" in text and "[full]" in text
    assert "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers" in text and "SPARKLE_MODELS_DIR" in text

    monkeypatch.setattr(providers, "_installed", lambda package: True)
    chosen, default = {"videos_wan": "full"}, {"videos_wan": [None]}  # a plan's default shots
    with pytest.raises(MissingDependencyError) as err:  # the run's up-front check
        providers.check_providers(chosen, default)
    assert "hf download Wan-AI/Wan2.1-I2V-14B-480P-Diffusers" in str(err.value)
    # weights under the models root (by their hub id's path) are enough
    (models_root / providers.WAN_DEFAULT_WEIGHTS).mkdir(parents=True)
    try:
        (models_root / providers.WAN_DEFAULT_WEIGHTS / "model_index.json").write_text("{}")
        providers.check_providers(chosen, default)
        assert providers.check_backend("videos_wan", "full").endswith("videos_wan.full")
    finally:
        import shutil

        shutil.rmtree(models_root / "Wan-AI")


# --------------------------------------------------------------------- placement


def test_presets_are_exposed_and_recorded(models_root: Path, tmp_path: Path) -> None:
    preset, kwargs = full.placement({"device_preset": "a100_balanced"}, torch)
    assert preset == "a100_balanced" and kwargs["device_map"] == "balanced"
    assert kwargs["max_memory"]["cpu"] == "120GiB" and kwargs["dtype"] == torch.bfloat16
    _, kwargs = full.placement(
        {"device_preset": "a100_balanced", "max_memory": {"0": "40GiB", "cpu": "64GiB"}}, torch
    )
    assert kwargs["max_memory"] == {"0": "40GiB", "cpu": "64GiB"}
    _, kwargs = full.placement({"device": "cuda:1", "device_preset": "consumer_gpu"}, torch)
    assert kwargs["device"] == "cuda:1" and kwargs["offload"] is True
    with pytest.raises(ConfigError):
        full.placement({"device_preset": "nope"}, torch)
    meta = full.render([], [], "a cat", opts(models_root, T2V, device_preset="cpu"),
                       tmp_path / "c.mp4")  # fmt: skip
    assert meta["device_preset"] == "cpu" and meta["device_map"] == {"": "cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (fp16/bf16 on a GPU)")
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_gpu_half_precision(models_root: Path, tmp_path: Path, dtype: str) -> None:
    start = [keyframe(tmp_path / "a.png", 1)]
    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.mp4"
        meta = full.render(start, [], "a cat", opts(models_root, I2V, device="cuda:0",
                                                    dtype=dtype), out)  # fmt: skip
        assert meta["dtype"] == dtype and meta["device"].startswith("cuda")
        runs.append(rgb_frames(out))
    assert runs[0].shape == (5, 32, 32, 3) and np.array_equal(runs[0], runs[1])
