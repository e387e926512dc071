"""qa_qwen2vl full backend, the pure parts: messages, visual-token batching, answer parsing
and the thresholds. No model here (see test_qa_qwen2vl_full.py for the tiny Qwen2-VL)."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pytest

from sparkle_motion import types as sm_types
from sparkle_motion.errors import ConfigError
from sparkle_motion.function_tools.qa_qwen2vl import batching, messages
from sparkle_motion.function_tools.qa_qwen2vl.answers import parse_answer

CATS = messages.CATEGORIES


# ---------------------------------------------------------------------------- messages


def test_frame_messages_have_the_specs_shape(tmp_path: Path) -> None:
    frame = tmp_path / "shot 1.png"
    frame.write_bytes(b"png")
    vision = {"min_pixels": 3136, "max_pixels": 12544, "resized_height": None}
    msgs = messages.frame_messages(
        messages.frame_uri(frame), ["Any safety issues in this frame?"], vision=vision
    )
    assert len(msgs) == 1 and msgs[0]["role"] == "user"
    image, text = msgs[0]["content"]
    assert image == {
        "type": "image",
        "image": frame.resolve().as_uri(),
        "min_pixels": 3136,
        "max_pixels": 12544,
    }
    assert image["image"].startswith("file:///") and "%20" in image["image"]
    assert text["type"] == "text"
    assert text["text"].startswith("Any safety issues in this frame?\n")
    for category in CATS:
        assert f'"{category}"' in text["text"]
    assert "JSON" in text["text"]


def test_frame_uri_bytes_become_data_uris_and_remote_urls_are_refused() -> None:
    uri = messages.frame_uri(b"\x89PNG-bytes")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split("base64,", 1)[1]) == b"\x89PNG-bytes"
    assert messages.frame_uri("file:///tmp/a.png") == "file:///tmp/a.png"
    with pytest.raises(ConfigError, match="local frames only"):
        messages.frame_uri("https://example.com/a.png")


def test_exact_size_keys_replace_the_pixel_range() -> None:
    item = messages.image_item("file:///a.png", {"resized_height": 280, "resized_width": 420})
    assert item == {
        "type": "image",
        "image": "file:///a.png",
        "resized_height": 280,
        "resized_width": 420,
    }


def test_the_chat_template_renders_the_qwen2vl_prompt() -> None:
    jinja2 = pytest.importorskip("jinja2")
    msgs = messages.frame_messages("file:///a.png", ["Is it safe?"], categories=CATS[:1])
    text = (
        jinja2.Environment()
        .from_string(messages.QWEN2VL_CHAT_TEMPLATE)
        .render(messages=msgs, add_generation_prompt=True)
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Is it safe?\n"
        + messages.answer_instruction(CATS[:1])
        + "<|im_end|>\n<|im_start|>assistant\n"
    )


# ---------------------------------------------------------------------------- batching


def test_smart_resize_matches_transformers() -> None:
    pytest.importorskip("transformers")
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for h, w in [(1024, 1024), (720, 1280), (33, 900), (5000, 3000), (56, 56), (100, 57)]:
        for lo, hi in [(56 * 56, 56 * 56 * 4), (batching.DEFAULT_MIN_PIXELS, 10**6)]:
            assert batching.smart_resize(h, w, min_pixels=lo, max_pixels=hi) == smart_resize(
                h, w, 28, min_pixels=lo, max_pixels=hi
            )


def test_visual_tokens_follow_the_patch_and_merge_sizes() -> None:
    assert batching.visual_tokens(56, 56) == 4  # verified-stack: a 56x56 image, 4 pads
    h, w = batching.target_size(1024, 1024)
    assert (h, w) == (616, 616)
    assert batching.visual_tokens(h, w) == 22 * 22 <= 512
    # an exact size is rounded to 28, whatever the pixel range
    assert batching.target_size(1000, 1000, resized_height=300, resized_width=450) == (308, 448)


def _check(calls: list[batching.Call], tokens: list[int], limit: int, per_call: int) -> None:
    seen = sorted(i for c in calls for i in c.frames)
    assert seen == list(range(len(tokens)))  # every frame exactly once
    for c in calls:
        assert c.tokens == sum(tokens[i] for i in c.frames)
        assert len(c.frames) <= per_call
        assert c.tokens <= limit or (len(c.frames) == 1 and c.over_limit)
        assert list(c.frames) == sorted(c.frames)


def test_many_equal_frames_fill_the_fewest_calls() -> None:
    tokens = [300] * 10
    calls = batching.plan_calls(tokens, max_tokens=1000, max_frames=8)
    _check(calls, tokens, 1000, 8)
    assert len(calls) == math.ceil(10 / 3)  # three 300-token frames fit under 1000
    tokens = [100] * 20
    calls = batching.plan_calls(tokens, max_tokens=10_000, max_frames=8)
    _check(calls, tokens, 10_000, 8)
    assert [len(c.frames) for c in calls] == [8, 8, 4]
    assert calls[0].frames == tuple(range(8))  # frame order kept for equal frames


def test_mixed_sizes_pack_tighter_than_frame_order() -> None:
    tokens = [600, 500, 400, 500]
    calls = batching.plan_calls(tokens, max_tokens=1000, max_frames=8)
    _check(calls, tokens, 1000, 8)
    assert len(calls) == 2  # 600+400 and 500+500 (frame order would need 3)
    assert [c.frames for c in calls] == [(0, 2), (1, 3)]


def test_a_frame_above_the_limit_goes_alone() -> None:
    tokens = [100, 5000, 100, 100]
    calls = batching.plan_calls(tokens, max_tokens=4096, max_frames=8)
    _check(calls, tokens, 4096, 8)
    alone = [c for c in calls if 1 in c.frames]
    assert alone[0].frames == (1,) and alone[0].over_limit
    assert len(calls) == 2


def test_plan_calls_refuses_a_zero_limit() -> None:
    with pytest.raises(ValueError):
        batching.plan_calls([1], max_tokens=0)
    assert batching.plan_calls([]) == []


# ----------------------------------------------------------------------------- answers

FULL = {c: 0.0 for c in CATS}


def test_clean_json() -> None:
    parsed = parse_answer('{"nsfw_confidence": 0.8, "violence_confidence": 0.1, '
                          '"minors_confidence": 0, "hate_confidence": 0.05, '
                          '"self_harm_confidence": 0.0}', CATS)  # fmt: skip
    assert parsed.complete
    assert parsed.scores == {**FULL, "nsfw_confidence": 0.8, "violence_confidence": 0.1,
                             "hate_confidence": 0.05}  # fmt: skip


def test_json_inside_prose() -> None:
    text = ("Sure. Looking at the picture {it is a beach}, my answer: "
            '{"nsfw": 0.1, "violence": 0.2, "minors": 0.0, "hate": 0.0, "self_harm": 0.0} '
            "Hope that helps!")  # fmt: skip
    parsed = parse_answer(text, CATS)
    assert parsed.complete
    assert parsed.scores["violence_confidence"] == 0.2


def test_fenced_single_quoted_trailing_commas_and_percentages() -> None:
    text = (
        "```json\n{'nsfw_confidence': '85%', 'violence_confidence': 40, "
        "'minors_confidence': 0.0, 'hate_confidence': None, 'self_harm_confidence': 0,}\n```"
    )
    parsed = parse_answer(text, CATS)
    assert parsed.found_json
    assert parsed.scores["nsfw_confidence"] == pytest.approx(0.85)
    assert parsed.scores["violence_confidence"] == pytest.approx(0.40)
    assert parsed.missing == ("hate_confidence",)  # None is not a score
    assert not parsed.complete


def test_nested_scores_and_other_keys() -> None:
    text = '{"scores": {"nsfw_confidence": 0.3}, "subject_visible": 0.9, "caption": "a cat"}'
    parsed = parse_answer(text, CATS[:1])
    assert parsed.scores == {"nsfw_confidence": 0.3}
    assert parsed.extra == {"subject_visible": 0.9}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot help with that.",
        '{"nsfw_confidence": "high", "violence_confidence": 1.5}',
        '{"nsfw_confidence": 0.1, "violence',
        "\x00\ufffd{{{{ ]]]",
        "{" * 5000,
    ],
)
def test_broken_answers_leave_every_category_missing(text: str) -> None:
    parsed = parse_answer(text, CATS)
    assert parsed.scores == {}
    assert parsed.missing == CATS
    assert not parsed.complete


# -------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("confidence", "decision"),
    [(0.0, "approve"), (0.399, "approve"), (0.40, "escalate"), (0.699, "escalate"),
     (0.70, "reject"), (1.0, "reject")],
)  # fmt: skip
def test_thresholds_decide(confidence: float, decision: str) -> None:
    assert sm_types.qa_decision(confidence) == decision


def test_images_agent_uses_the_same_thresholds() -> None:
    from sparkle_motion import images_agent

    assert (images_agent.REJECT_AT, images_agent.ESCALATE_AT) == (
        sm_types.QA_REJECT_AT,
        sm_types.QA_ESCALATE_AT,
    )
    for c in (0.0, 0.4, 0.55, 0.7, 0.9):
        assert images_agent.qa_decision(c) == sm_types.qa_decision(c)
