"""qa_qwen2vl full backend on a tiny random Qwen2-VL (CPU, offline; CUDA too where present).

The model is built from notes/verified-stack.md's configs with a byte-level tokenizer made
here (vocab.json + merges.txt, Qwen2-VL's special tokens added) and the real Qwen2-VL chat
template, saved under a temporary models root and loaded by the backend through its own
``from_pretrained`` path. Its answers are random bytes, so every frame must come back
escalated (never approved, never a crash); a ``generate`` that answers scripted JSON checks
the scores-to-decision mapping.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sparkle_motion import gpu_utils, providers
from sparkle_motion.errors import ConfigError, MissingDependencyError
from sparkle_motion.types import QA_ESCALATE_AT, QAReport, qa_decision

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sparkle_motion.function_tools.qa_qwen2vl import (  # noqa: E402
    batching,
    entrypoint,
    full,
    messages,
    qwen_loading,
)
from sparkle_motion.utils.tiny_tokenizers import qwen2_tokenizer  # noqa: E402

TINY = "tiny-qwen2vl"
PROMPT = "Does this image contain sexual content, minors, graphic violence? Score each category."
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def build_tiny_qwen2vl(folder: Path) -> None:
    tok = qwen2_tokenizer(folder, messages.QWEN2VL_CHAT_TEMPLATE)
    ids = tok.convert_tokens_to_ids
    torch.manual_seed(0)
    config = transformers.Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": [1, 1, 2]},
            bos_token_id=None, eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>"),
        ),
        vision_config=dict(
            depth=1, embed_dim=32, hidden_size=32, num_heads=4, mlp_ratio=2, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2,
        ),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )  # fmt: skip
    transformers.Qwen2VLForConditionalGeneration(config).save_pretrained(folder)
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56 * 4).save_pretrained(folder)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("qwen-models")
    build_tiny_qwen2vl(root / TINY)
    return root


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[Path | bytes]:
    """Three picture files of different sizes and one PNG in memory."""
    folder = tmp_path_factory.mktemp("frames")
    out: list[Path | bytes] = []
    for i, (w, h) in enumerate([(64, 48), (100, 100), (200, 120)]):
        rng = np.random.default_rng(i)
        path = folder / f"frame{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        out.append(path)
    buf = io.BytesIO()
    Image.new("RGBA", (80, 60), (200, 30, 30, 128)).save(buf, format="PNG")
    out.append(buf.getvalue())
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: a 32-wide model gains nothing from more, and on a shared host
    (CI, parallel jobs) their spinning made these tests ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    gpu_utils.reset_pool()
    yield
    gpu_utils.reset_pool()


def opts(models_root: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model_id": TINY,
        "models_root": str(models_root),
        "min_pixels": 56 * 56,
        "max_pixels": 56 * 56 * 4,
        "max_new_tokens": 8,
        "device": "cpu",
        **extra,
    }


def without_timing(report: QAReport) -> dict[str, Any]:
    data = report.model_dump(mode="json")
    data["report"].pop("timing")
    return data


@pytest.fixture
def scripted(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answers the model gives, one per conversation in call order (the real generate runs
    first, for one token, so the inputs are the model's own)."""
    answers: list[str] = []
    tokenizer = transformers.AutoTokenizer.from_pretrained(models_root / TINY)
    original = transformers.Qwen2VLForConditionalGeneration.generate

    def generate(self: Any, **inputs: Any) -> Any:
        inputs["max_new_tokens"] = 1
        prompt = original(self, **inputs)[:, : inputs["input_ids"].shape[1]]
        rows = [tokenizer(answers.pop(0))["input_ids"] for _ in range(prompt.shape[0])]
        width = max(len(r) for r in rows)
        pad = tokenizer.pad_token_id
        new = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=prompt.device)
        return torch.cat([prompt, new], dim=1)

    monkeypatch.setattr(transformers.Qwen2VLForConditionalGeneration, "generate", generate)
    return answers


def answer(**scores: float) -> str:
    return json.dumps(
        {c: scores.get(c.removesuffix("_confidence"), 0.0) for c in messages.CATEGORIES}
    )


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize("device", DEVICES)
def test_random_answers_escalate_every_frame(
    models_root: Path, frames: list[Path | bytes], device: str
) -> None:
    report = full.inspect(frames, [PROMPT], opts(models_root, device=device))
    assert report.decision == "escalate" and not report.ok
    assert len(report.per_frame) == len(frames) == len(report.top_responses)
    assert report.report["route"] == "pil" or qwen_loading.upstream_processing()
    for frame in report.per_frame:
        assert "decision=escalate" in frame.annotations
        assert frame.flags  # says why: no JSON, or which categories went unanswered
        # an agent applying the thresholds to the per-frame scores escalates it too
        assert qa_decision(frame.scores.max_confidence()) == "escalate"
        assert frame.scores.nsfw_confidence == QA_ESCALATE_AT
    assert report.reason and report.reason.startswith("escalate: frame 0")
    assert report.confidence_summary["escalated_frames"] == len(frames)
    # the report survives the JSON round trip the artifact store does
    assert QAReport.model_validate_json(report.model_dump_json()) == report
    assert report.opts_snapshot["provider_id"] == "qa_qwen2vl/full"
    assert report.opts_snapshot["weights"] == str(models_root / TINY)


def test_scripted_answers_map_to_approve_escalate_reject(
    models_root: Path, frames: list[Path | bytes], scripted: list[str]
) -> None:
    scripted += [
        answer(),  # clean
        "Here you go:\n```json\n" + answer(violence=0.55) + "\n```",
        answer(nsfw=0.91, hate=0.2),
        '{"nsfw_confidence": 0.1}',  # the other four unanswered
    ]
    report = full.inspect(frames, [PROMPT], opts(models_root))
    decisions = [r["decision"] for r in report.report["frames"]]
    assert decisions == ["approve", "escalate", "reject", "escalate"]
    assert report.decision == "reject" and not report.ok
    assert report.per_frame[0].flags == []
    assert report.per_frame[1].flags == ["violence_confidence 0.55"]
    assert report.per_frame[2].flags == ["nsfw_confidence 0.91"]
    assert report.per_frame[3].flags[0].startswith("unanswered: violence_confidence")
    assert report.scores.nsfw_confidence == pytest.approx(0.91)
    assert report.scores.violence_confidence == pytest.approx(0.55)
    assert report.scores.hate_confidence == pytest.approx(QA_ESCALATE_AT)  # frame 3: unknown
    # the per-frame scores give an agent the same decisions the report states
    assert [qa_decision(f.scores.max_confidence()) for f in report.per_frame] == decisions


def test_all_clean_answers_approve(
    models_root: Path, frames: list[Path | bytes], scripted: list[str]
) -> None:
    scripted += [answer(nsfw=0.05, violence=0.39)] * len(frames)
    report = entrypoint.inspect_frames(
        frames, [PROMPT], opts={**opts(models_root), "provider": "full"}
    )
    assert report.ok and report.decision == "approve" and report.reason is None
    assert report.global_flags == []
    assert report.scores.violence_confidence == pytest.approx(0.39)
    assert entrypoint.report_warnings(report, "full") == []


def test_loads_once_for_several_calls_and_repeats_itself(
    models_root: Path, frames: list[Path | bytes]
) -> None:
    pool = gpu_utils.get_pool()
    first = full.inspect(frames, [PROMPT], opts(models_root))
    second = full.inspect(frames[:2], [PROMPT], opts(models_root))
    third = full.inspect(frames, [PROMPT], opts(models_root))
    assert pool.loads == 1 and pool.hits >= 2
    assert without_timing(first) == without_timing(third)
    assert second.per_frame[0] == first.per_frame[0]  # greedy: a frame's answer is its own


def test_frames_are_batched_within_the_visual_token_limit(
    models_root: Path, frames: list[Path | bytes]
) -> None:
    tokens = []
    for f in frames:
        image = full.open_frame(messages.frame_uri(f))
        tokens.append(batching.visual_tokens(*full._size(image, full._settings(opts(models_root)))))
    assert len(set(tokens)) > 1  # the frames differ in cost
    limit = max(tokens) + min(tokens)
    report = full.inspect(frames, [PROMPT], opts(models_root, max_visual_tokens_per_call=limit))
    calls = report.report["calls"]
    assert len(calls) == len(batching.plan_calls(tokens, limit)) < len(frames)
    assert sorted(i for c in calls for i in c["frames"]) == list(range(len(frames)))
    for call in calls:
        assert call["visual_tokens"] == sum(tokens[i] for i in call["frames"]) <= limit
    one_call = full.inspect(frames, [PROMPT], opts(models_root))
    assert len(one_call.report["calls"]) == 1
    # left padding: a frame's answer does not depend on what it is batched with
    assert [f.annotations[-1] for f in report.per_frame] == [
        f.annotations[-1] for f in one_call.per_frame
    ]


def test_inputs_expand_each_image_pad_to_its_grid(
    models_root: Path, frames: list[Path | bytes]
) -> None:
    bundle = qwen_loading.load_qwen(
        gpu_utils.LoadRequest(model_key="qwen2vl", weights=str(models_root / TINY), device="cpu")
    )
    s = full._settings(opts(models_root))
    conversations = [
        messages.frame_messages(messages.frame_uri(f), [PROMPT], vision=full._vision(s))
        for f in frames
    ]
    inputs = full.build_inputs_pil(bundle, conversations, s)
    pad = bundle.tokenizer.convert_tokens_to_ids(messages.IMAGE_PAD)
    grid = inputs["image_grid_thw"].tolist()
    assert len(grid) == len(frames)
    per_row = (inputs["input_ids"] == pad).sum(dim=1).tolist()
    assert per_row == [t * h * w // 4 for t, h, w in grid]
    assert inputs["pixel_values"].shape[0] == sum(t * h * w for t, h, w in grid)
    # left padding: every row ends with the generation prompt
    tail = bundle.tokenizer.decode(inputs["input_ids"][0][-11:])  # byte tokens, one special
    assert tail == "<|im_start|>assistant\n"
    assert (inputs["attention_mask"][:, -1] == 1).all()
    assert bundle.chat_template == messages.QWEN2VL_CHAT_TEMPLATE


def test_pil_and_upstream_routes_build_the_same_inputs(
    models_root: Path, frames: list[Path | bytes]
) -> None:
    if not qwen_loading.upstream_processing():
        pytest.skip(
            "qwen_vl_utils/torchvision are not installed here (the dev extra stays on torch "
            "2.13 without torchvision): only the torchvision-free route can run"
        )
    bundle = qwen_loading.load_qwen(
        gpu_utils.LoadRequest(model_key="qwen2vl", weights=str(models_root / TINY), device="cpu")
    )
    s = full._settings(opts(models_root))
    conversations = [
        messages.frame_messages(messages.frame_uri(f), [PROMPT], vision=full._vision(s))
        for f in frames[:3]
    ]
    pil = full.build_inputs_pil(bundle, conversations, s)
    upstream = full.build_inputs_upstream(bundle, conversations)
    for key in ("input_ids", "attention_mask", "image_grid_thw"):
        assert torch.equal(pil[key], upstream[key]), key
    assert torch.allclose(pil["pixel_values"], upstream["pixel_values"], atol=1e-5)


def test_an_unreadable_frame_is_escalated_and_the_rest_inspected(
    models_root: Path, frames: list[Path | bytes], scripted: list[str]
) -> None:
    scripted += [answer()] * 2
    report = full.inspect([frames[0], b"not a picture", frames[1]], [PROMPT], opts(models_root))
    assert [r["decision"] for r in report.report["frames"]] == ["approve", "escalate", "approve"]
    assert report.per_frame[1].flags == ["unreadable"]
    assert report.decision == "escalate"
    assert sorted(i for c in report.report["calls"] for i in c["frames"]) == [0, 2]


# ------------------------------------------------------------------ options and checks


def test_bad_options_are_one_line_config_errors(models_root: Path) -> None:
    for bad in ({"max_new_tokens": "many"}, {"min_pixels": 10**7}, {"resized_height": 280},
                {"processing": "gpu"}, {"categories": ["nsfw"]}):  # fmt: skip
        with pytest.raises(ConfigError):
            full.inspect([b"x"], [PROMPT], opts(models_root, **bad))
    with pytest.raises(ConfigError, match="torch_dtype"):
        full.inspect([b"x"], [PROMPT], opts(models_root, torch_dtype="int3"))


def test_missing_weights_say_where_to_get_them(
    models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingDependencyError) as err:
        full.inspect([b"x"], [PROMPT], opts(models_root, model_id="nobody/Qwen2-VL-0B"))
    line = str(err.value)
    assert "\n" not in line and "hf download nobody/Qwen2-VL-0B" in line
    assert str(models_root) in line


def test_provider_registration_and_its_one_line_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("SPARKLE_MODELS_DIR", str(tmp_path / "models"))
    chosen, default = {"qa_qwen2vl": "full"}, {"qa_qwen2vl": [None]}
    with pytest.raises(MissingDependencyError) as err:  # the up-front check of a run
        providers.check_providers(chosen, default)
    assert "\n" not in str(err.value)
    assert "hf download Qwen/Qwen2-VL-7B-Instruct" in str(err.value)
    weights = tmp_path / "models" / "Qwen" / "Qwen2-VL-7B-Instruct"
    weights.mkdir(parents=True)
    (weights / "config.json").write_text("{}")
    providers.check_providers(chosen, default)
    assert providers.check_backend("qa_qwen2vl", "full").endswith("qa_qwen2vl.full")
    assert providers.provider_version("qa_qwen2vl", "full") == f"{full.PROVIDER_ID}@{full.VERSION}"


def test_smoke_qa_switches_qa_to_the_full_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKE_QA", "1")
    assert providers.resolve_providers("preview")["qa_qwen2vl"] == "full"
    assert providers.resolve_providers("fixture")["qa_qwen2vl"] == "fixture"


def test_first_use_from_several_threads_finds_qwen2vl() -> None:
    """transformers' lazy module is not thread-safe on first use; a run's image steps ask
    at once (a fresh interpreter, where transformers is not imported yet)."""
    code = (
        "import threading\n"
        "from sparkle_motion.function_tools.qa_qwen2vl import qwen_loading\n"
        "errors = []\n"
        "def ask():\n"
        "    try:\n"
        "        qwen_loading.require()\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=ask) for _ in range(6)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(len(errors), errors[:1])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("0 "), done.stdout
