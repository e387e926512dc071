"""images_agent: batching, rate limits, text policy, post-render QA, dedupe, timeouts."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from sparkle_motion import images_agent, policy
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import PlanPolicyViolation, RateLimitError
from sparkle_motion.function_tools.fixture_support import deterministic_bytes
from sparkle_motion.function_tools.images_sdxl import entrypoint
from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa_entrypoint
from sparkle_motion.run_context import run_context
from sparkle_motion.types import ImagesOpts
from sparkle_motion.utils import rate_limiter
from sparkle_motion.utils.recent_index_sqlite import RecentIndex, hamming
from sparkle_motion.workspace import get_workspace

SMALL = {"width": 64, "height": 64}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clean_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SPARKLE_RETRY_BACKOFF_BASE_S", "0")  # retries without waiting
    rate_limiter.reset()
    yield
    rate_limiter.reset()


def stub_png(prompt: str, seed: int, index: int, *, poke: bool = False) -> bytes:
    """The spec's deterministic stub: a 4x4 picture from deterministic_bytes, upscaled to 64.

    ``poke`` changes one pixel: different bytes, the same picture to a perceptual hash.
    """
    blob = deterministic_bytes(prompt, seed, index)
    small = Image.frombytes("RGB", (4, 4), (blob * 2)[:48]).resize((64, 64), Image.NEAREST)
    if poke:
        r, g, b = small.getpixel((0, 0))
        small.putpixel((0, 0), ((r + 1) % 256, g, b))
    buf = io.BytesIO()
    small.save(buf, format="PNG")
    return buf.getvalue()


def item(data: bytes, **meta: Any) -> dict[str, Any]:
    return {"data": data, "metadata": {"provider": "stub", **meta}}


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every adapter call (the real fixture renders) with what it returned."""
    calls: list[dict[str, Any]] = []
    real = entrypoint.render_images

    def recording(prompt: str, count: int, seed: int | None, opts: dict) -> list[dict]:
        out = real(prompt, count, seed, opts)
        calls.append(
            {"prompt": prompt, "count": count, "seed": seed, "opts": dict(opts), "out": out}
        )
        return out

    monkeypatch.setattr(entrypoint, "render_images", recording)
    return calls


def use_adapter(monkeypatch: pytest.MonkeyPatch, fn) -> list[tuple]:
    calls: list[tuple] = []

    def adapter(prompt: str, count: int, seed: int | None, opts: dict) -> list[dict]:
        calls.append((prompt, count, seed, dict(opts)))
        return fn(prompt, count, seed, opts)

    monkeypatch.setattr(entrypoint, "render_images", adapter)
    return calls


def script_qa(monkeypatch: pytest.MonkeyPatch, scores_for) -> list[dict]:
    """QA stub: ``scores_for(frame_bytes)`` gives a frame's scores (or None: clean)."""
    seen: list[dict] = []
    real = qa_entrypoint.inspect_frames

    def inspect(frames, prompts, *, opts=None):
        scripted = {i: s for i, f in enumerate(frames) if (s := scores_for(f))}
        seen.append({"frames": len(frames), "prompts": list(prompts), "opts": dict(opts or {})})
        return real(frames, prompts, opts={**(opts or {}), "scripted_scores": scripted})

    monkeypatch.setattr(qa_entrypoint, "inspect_frames", inspect)
    return seen


def events(event_type: str) -> list[dict[str, Any]]:
    return get_store().memory_events(event_type=event_type)


# --------------------------------------------------------------------- batching


def test_batch_split_and_ordering(spy: list[dict[str, Any]]) -> None:
    refs = images_agent.render(
        "a lighthouse at dusk", {**SMALL, "num_images": 20, "max_images_per_call": 8, "seed": 5}
    )
    assert [c["count"] for c in spy] == [8, 8, 4]
    assert [c["seed"] for c in spy] == [5, 13, 21], "seeds continue across batches"
    assert len(refs) == 20
    assert [r.metadata["item_index"] for r in refs] == list(range(20))
    assert [r.metadata["batch_index"] for r in refs] == [0] * 8 + [1] * 8 + [2] * 4
    rendered = [hashlib.sha256(i["data"]).hexdigest() for c in spy for i in c["out"]]
    assert [r.sha256 for r in refs] == rendered, "artifacts in the adapter's order"
    assert len(set(rendered)) == 20
    assert not any(r.metadata["quarantined"] for r in refs)
    assert all(c["opts"]["provider"] == "fixture" for c in spy)


def test_render_accepts_images_opts_and_defaults_to_one_image(
    spy: list[dict[str, Any]],
) -> None:
    refs = images_agent.render("a fox", ImagesOpts(**SMALL))
    assert len(refs) == 1 and [c["count"] for c in spy] == [1]
    assert refs[0].media_type == "image/png" and refs[0].path.is_file()


def test_plan_batches_gives_the_remainder_to_the_last() -> None:
    assert images_agent.plan_batches(20, 8) == [(0, 8), (8, 8), (16, 4)]
    assert images_agent.plan_batches(3, 8) == [(0, 3)]
    assert images_agent.plan_batches(16, 8) == [(0, 8), (8, 8)]


def test_provider_and_qa_provider_come_from_the_run_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = use_adapter(monkeypatch, lambda p, n, s, o: [item(stub_png(p, 0, i)) for i in range(n)])
    qa = script_qa(monkeypatch, lambda frame: None)
    with run_context(providers={"images_sdxl": "preview", "qa_qwen2vl": "fixture"}):
        images_agent.render("a fox", {**SMALL, "num_images": 2})
    assert [c[3]["provider"] for c in calls] == ["preview"]
    assert qa[0]["opts"]["provider"] == "fixture"
    assert qa[0]["prompts"] == [images_agent.QA_PROMPT] and qa[0]["frames"] == 2


# -------------------------------------------------------------------- rate limits


def test_rate_limit_queueing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    log: list[tuple[str, float]] = []

    def adapter(prompt, count, seed, opts):
        log.append(("call", clock.now))
        return [item(stub_png(prompt, 0, i)) for i in range(count)]

    use_adapter(monkeypatch, adapter)
    bucket = rate_limiter.TokenBucket(60.0, 2.0, clock=clock, sleep=clock.sleep)
    rate_limiter.set_bucket("tenant-a", images_agent.rate_limit_host("fixture"), bucket)

    def progress(event) -> None:
        if event.phase == "queued":
            log.append(("queued", clock.now))

    with run_context(tenant_id="tenant-a", on_progress=progress, run_id="r1", step_id="s1"):
        refs = [
            images_agent.render(f"picture {k}", {**SMALL, "num_images": 1, "queue_allowed": True})
            for k in range(4)
        ]
    assert len(refs) == 4 and all(len(r) == 1 for r in refs)
    # two run at once, two wait for a token each (60/min) and then run, well within the TTL
    assert log == [
        ("call", 0.0),
        ("call", 0.0),
        ("queued", 0.0),
        ("call", pytest.approx(1.0)),
        ("queued", pytest.approx(1.0)),
        ("call", pytest.approx(2.0)),
    ]
    assert clock.now < images_agent.QUEUE_TTL_S
    queued = events("rate_limit_queued")
    assert len(queued) == 2 and queued[0]["payload"]["tenant"] == "tenant-a"
    assert queued[0]["run_id"] == "r1" and queued[0]["step_id"] == "s1"


def test_rate_limit_refuses_when_queueing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    calls = use_adapter(monkeypatch, lambda p, n, s, o: [item(stub_png(p, 0, i)) for i in range(n)])
    bucket = rate_limiter.TokenBucket(60.0, 2.0, clock=clock, sleep=clock.sleep)
    rate_limiter.set_bucket("local", images_agent.rate_limit_host("fixture"), bucket)
    images_agent.render("a fox", {**SMALL, "num_images": 2, "queue_allowed": False})
    with pytest.raises(RateLimitError) as info:
        images_agent.render("a cat", {**SMALL, "num_images": 1, "queue_allowed": False})
    assert info.value.retry_after_s == pytest.approx(1.0)
    assert len(calls) == 1, "the refused call never reached the adapter"
    assert len(events("rate_limited")) == 1


def test_each_adapter_call_costs_one_token_per_image(monkeypatch: pytest.MonkeyPatch) -> None:
    use_adapter(monkeypatch, lambda p, n, s, o: [item(stub_png(p, 0, i)) for i in range(n)])
    clock = FakeClock()
    bucket = rate_limiter.TokenBucket(60.0, 20.0, clock=clock, sleep=clock.sleep)
    rate_limiter.set_bucket("local", images_agent.rate_limit_host("fixture"), bucket)
    images_agent.render("a fox", {**SMALL, "num_images": 7, "max_images_per_call": 3})
    assert bucket.available() == pytest.approx(13.0)


def test_full_provider_is_limited_by_default_and_stubs_are_not() -> None:
    assert images_agent.PROVIDER_RATE_LIMITS["full"][0] == rate_limiter.DEFAULT_RATE_PER_MIN
    assert "fixture" not in images_agent.PROVIDER_RATE_LIMITS
    assert images_agent.rate_limit_host("full") != images_agent.rate_limit_host("fixture")


# ------------------------------------------------------------------- text policy


def test_policy_text_rejects_prompt(
    monkeypatch: pytest.MonkeyPatch, spy: list[dict[str, Any]]
) -> None:
    checked: list[tuple[str, bool]] = []

    def moderation(text: str, field: str, *, check_terms: bool = True, **kw: Any) -> list:
        checked.append((field, check_terms))
        if field == "prompt":
            raise PlanPolicyViolation("contains disallowed content (test: x)", field=field)
        return []

    monkeypatch.setattr(policy, "check_text", moderation)
    with pytest.raises(PlanPolicyViolation, match="disallowed"):
        images_agent.render("something disallowed", {**SMALL, "num_images": 3})
    assert spy == [], "no adapter call"
    assert get_store().artifacts() == []
    decision = events("policy_decision")[-1]["payload"]
    assert decision["stage"] == "pre_render" and decision["decision"] == "reject"
    assert decision["field"] == "prompt"


def test_negative_prompts_are_not_term_checked(spy: list[dict[str, Any]]) -> None:
    # the real policy: "nsfw" in a negative prompt names what to avoid
    refs = images_agent.render("a fox", {**SMALL, "negative_prompt": "nsfw, blurry"})
    assert len(refs) == 1
    with pytest.raises(PlanPolicyViolation):
        images_agent.render("a fox", {**SMALL, "prompt_2": "nsfw"})
    assert len(spy) == 1


# ------------------------------------------------------------------ post-render QA


def test_post_render_nsfw_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    pictures = [stub_png("scene", 1, i) for i in range(3)]
    use_adapter(
        monkeypatch,
        lambda p, n, s, o: [item(pictures[s + i]) for i in range(n)],
    )
    bad_hash = images_agent.phash(pictures[2])  # the QA stub knows this picture is unsafe
    script_qa(
        monkeypatch,
        lambda frame: {"nsfw_confidence": 0.9} if images_agent.phash(frame) == bad_hash else None,
    )
    with pytest.raises(PlanPolicyViolation, match="post-render QA") as info:
        images_agent.render(
            "scene", {**SMALL, "num_images": 3, "max_images_per_call": 2, "seed": 0}
        )
    assert info.value.details["item_index"] == 2
    assert info.value.details["category"] == "nsfw_confidence"
    # not published: neither the unsafe image nor the approved ones of the failed step
    assert get_store().artifacts() == []
    assert not any(get_workspace().blobs.rglob("*.png"))
    post = [e["payload"] for e in events("policy_decision")]
    assert [p["decision"] for p in post] == ["approve", "reject"]
    assert post[1]["qa_report"]["scores"]["nsfw_confidence"] == 0.9
    assert post[1]["qa_report"]["decision"] == "reject"


@pytest.mark.parametrize(
    ("confidence", "decision"),
    [(0.0, "approve"), (0.39, "approve"), (0.40, "escalate"), (0.69, "escalate"),
     (0.70, "reject"), (1.0, "reject")],
)  # fmt: skip
def test_qa_thresholds(confidence: float, decision: str) -> None:
    assert images_agent.qa_decision(confidence) == decision


def test_escalate_quarantines_and_requests_review(monkeypatch: pytest.MonkeyPatch) -> None:
    pictures = [stub_png("scene", 1, i) for i in range(2)]
    use_adapter(monkeypatch, lambda p, n, s, o: [item(pictures[i]) for i in range(n)])
    doubtful = images_agent.phash(pictures[1])
    script_qa(
        monkeypatch,
        lambda f: {"violence_confidence": 0.5} if images_agent.phash(f) == doubtful else None,
    )
    with run_context(run_id="r1", step_id="img1"):
        refs = images_agent.render("scene", {**SMALL, "num_images": 2})
    assert [r.metadata["quarantined"] for r in refs] == [False, True]
    assert refs[1].metadata["qa"] == {
        "decision": "escalate",
        "category": "violence_confidence",
        "confidence": 0.5,
        "flags": [],  # the QA backend's technical faults, read by the QA loop
    }
    reviews = get_store().review_requests()
    assert len(reviews) == 1
    assert reviews[0]["artifact_uri"] == refs[1].artifact_uri
    assert reviews[0]["step_id"] == "img1" and reviews[0]["status"] == "pending"
    assert reviews[0]["report"]["scores"]["violence_confidence"] == 0.5
    assert len(events("review_requested")) == 1
    assert events("policy_decision")[-1]["payload"]["decision"] == "escalate"
    # a quarantined image never becomes anybody's canonical
    index = RecentIndex(get_workspace().db_path)
    try:
        assert index.get_canonical(refs[1].metadata["phash"]) is None
        assert index.get_canonical(refs[0].metadata["phash"]) == refs[0].artifact_uri
    finally:
        index.close()


# ----------------------------------------------------------------------- dedupe


def test_phash_sees_near_duplicates_and_tells_pictures_apart() -> None:
    a, a_poked = stub_png("x", 1, 0), stub_png("x", 1, 0, poke=True)
    assert a != a_poked
    assert hamming(images_agent.phash(a), images_agent.phash(a_poked)) <= 6
    fixture = [entrypoint.render_images("fox", 1, k, {"width": 128, "height": 128}) for k in (1, 2)]
    hashes = [images_agent.phash(f[0]["data"]) for f in fixture]
    assert hamming(*hashes) > 6
    assert len(hashes[0]) == 16 and int(hashes[0], 16) >= 0


def test_deduplicate_within_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    same = stub_png("twin", 3, 0)
    pictures = [same, same, stub_png("twin", 3, 0, poke=True), stub_png("other", 3, 1)]
    use_adapter(monkeypatch, lambda p, n, s, o: [item(pictures[s + i]) for i in range(n)])
    opts = {**SMALL, "num_images": 4, "max_images_per_call": 2, "seed": 0, "dedupe": True}
    refs = images_agent.render("twins", opts)
    uris = [r.artifact_uri for r in refs]
    assert uris[0] == uris[1] == uris[2], "duplicates and near-duplicates get the canonical"
    assert uris[3] != uris[0]
    assert len(get_store().artifacts()) == 2, "one published artifact per distinct picture"
    assert [r.metadata["item_index"] for r in refs] == [0, 1, 2, 3]
    assert [r.metadata.get("deduped", False) for r in refs] == [False, True, True, False]
    assert refs[2].metadata["duplicate_of_item"] == 0


def test_without_dedupe_every_image_is_published(monkeypatch: pytest.MonkeyPatch) -> None:
    pictures = [stub_png("twin", 3, 0), stub_png("twin", 3, 0, poke=True)]
    use_adapter(monkeypatch, lambda p, n, s, o: [item(pictures[i]) for i in range(n)])
    refs = images_agent.render("twins", {**SMALL, "num_images": 2})
    assert refs[0].artifact_uri != refs[1].artifact_uri
    assert len(get_store().artifacts()) == 2


def test_recent_match_from_another_run_is_recorded_not_substituted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current: list[bytes] = []
    use_adapter(monkeypatch, lambda p, n, s, o: [item(current[0])])
    opts = {**SMALL, "num_images": 1, "dedupe": True}

    current[:] = [stub_png("harbour", 9, 0)]
    with run_context(run_id="run-a"):
        (first,) = images_agent.render("harbour", opts)
    assert "recent_duplicate_of" not in first.metadata

    near = stub_png("harbour", 9, 0, poke=True)
    current[:] = [near]
    with run_context(run_id="run-b"):
        (second,) = images_agent.render("harbour", opts)
    # the step's output is its own picture, not the other run's
    assert second.sha256 == hashlib.sha256(near).hexdigest()
    assert second.artifact_uri != first.artifact_uri
    assert second.metadata["recent_duplicate_of"] == first.artifact_uri
    assert second.metadata["recent_duplicate_run_id"] == "run-a"

    # the same bytes again are the same artifact, not a match
    current[:] = [stub_png("harbour", 9, 0)]
    with run_context(run_id="run-c"):
        (again,) = images_agent.render("harbour", opts)
    assert again.artifact_uri == first.artifact_uri
    assert "recent_duplicate_of" not in again.metadata


# ---------------------------------------------------------------------- timeouts


def test_batch_timeout_is_retried_after_the_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[int] = []
    good = [stub_png("slow", 0, i) for i in range(2)]

    def slow_adapter(prompt, count, seed, opts):
        calls.append(seed)
        if len(calls) == 1:  # the first attempt hangs until the test ends
            release.wait(10)
            return [item(stub_png("late", 0, 0))]
        return [item(good[seed])]

    monkeypatch.setattr(entrypoint, "render_images", slow_adapter)
    opts = {**SMALL, "num_images": 2, "max_images_per_call": 1, "seed": 0}
    try:
        refs = images_agent.render("slow", {**opts, "per_batch_timeout_s": 0.2})
    finally:
        release.set()
    assert calls == [0, 0, 1], "only the batch that timed out is retried"
    assert [r.sha256 for r in refs] == [hashlib.sha256(g).hexdigest() for g in good]
    watchdog, timeout = events("images_batch_watchdog"), events("images_batch_timeout")
    assert len(watchdog) == 1 and len(timeout) == 1
    assert watchdog[0]["id"] < timeout[0]["id"], "the watchdog fires before the timeout"
    assert watchdog[0]["payload"]["batch_index"] == 0 and watchdog[0]["payload"]["attempt"] == 1
    assert any("slow_adapter" in line for line in watchdog[0]["payload"]["stack"])
    assert timeout[0]["payload"]["will_retry"] is True


def test_batch_that_always_times_out_fails_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[int] = []

    def hanging(prompt, count, seed, opts):
        calls.append(seed)
        release.wait(10)
        return []

    monkeypatch.setattr(entrypoint, "render_images", hanging)
    try:
        with pytest.raises(images_agent.ImagesBatchTimeout) as info:
            images_agent.render("stuck", {**SMALL, "per_batch_timeout_s": 0.05})
    finally:
        release.set()
    err = info.value
    assert isinstance(err, TimeoutError) and not err.retryable
    assert err.field == "opts.per_batch_timeout_s"
    assert len(calls) == 3, "the settings' retry_max_attempts"
    assert [e["payload"]["will_retry"] for e in events("images_batch_timeout")] == [
        True,
        True,
        False,
    ]
    assert get_store().artifacts() == []


def test_adapter_errors_reach_the_caller_unretried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(prompt, count, seed, opts):
        calls.append(1)
        raise ConnectionError("host went away")

    monkeypatch.setattr(entrypoint, "render_images", broken)
    with pytest.raises(ConnectionError):
        images_agent.render("a fox", SMALL)
    assert calls == [1], "production_agent's retry policy handles other failures"


def test_an_adapter_timeout_error_is_not_mistaken_for_the_watchdog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def impatient(prompt, count, seed, opts):
        calls.append(1)
        raise TimeoutError("upstream read timed out")

    monkeypatch.setattr(entrypoint, "render_images", impatient)
    with pytest.raises(TimeoutError, match="upstream"):
        images_agent.render("a fox", SMALL)
    assert calls == [1] and events("images_batch_timeout") == []
