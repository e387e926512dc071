"""tts_agent's decisions: selection, retries, failover, rate limits, moderation, telemetry.

A registry of fake providers stands behind a test catalog (``SPARKLE_CONFIG_DIR``): each
has the latency, cost and quality the catalog gives it and fails as a test programs it,
and speaks with the fixture backend when it succeeds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from sparkle_motion import tts_agent
from sparkle_motion.errors import (
    MissingDependencyError,
    PlanPolicyViolation,
    PlanResourceError,
    ProviderSelectionError,
    TTSInvalidInputError,
    TTSPolicyViolation,
    TTSProviderUnavailable,
    TTSQuotaExceeded,
    TTSRetryableError,
    TTSServerError,
)
from sparkle_motion.function_tools.tts_chatterbox import fixture
from sparkle_motion.run_context import run_context
from sparkle_motion.types import TTSOpts, VoiceConfig
from sparkle_motion.utils import rate_limiter

LINE = "The keeper lit the great lamp."  # 30 characters: about 2 s of speech


def _provider(tier: str, profile: str, quality: float, latency: float, cost: float, **kw: Any):
    return {
        "display_name": kw.pop("name", "fake"),
        "tier": tier,
        "adapter": "fake",
        "profile": profile,
        "available": True,
        "fixture_alias": "fixture-tts",
        "defaults": {
            "voice": "narrator",
            "latency_s": latency,
            "cost_usd_per_1s": cost,
            "quality_score": quality,
        },
        "features": kw.pop("features", []),
        "languages": kw.pop("languages", ["en"]),
        "rate_limits": kw.pop("rate_limits", {"requests_per_minute": 600, "concurrent_jobs": 2}),
        "retry_policy": kw.pop(
            "retry_policy",
            {"max_retries": 2, "backoff_base_s": 1.0, "backoff_multiplier": 2.0, "jitter": 0.0},
        ),
        "watermarking": kw.pop("watermarking", False),
    }


CATALOG = {
    "version": "v1",
    "priority_profiles": {
        "quality": {"quality": 0.7, "latency": 0.15, "cost": 0.15},
        "latency": {"quality": 0.2, "latency": 0.6, "cost": 0.2},
        "cost": {"quality": 0.2, "latency": 0.2, "cost": 0.6},
        "balanced": {"quality": 0.5, "latency": 0.25, "cost": 0.25},
    },
    "providers": {
        # slow, dear, best; clones voices and speaks Spanish
        "alpha": _provider(
            "tier1",
            "full",
            0.9,
            3.0,
            0.002,
            features=["voice_clone", "multilingual"],
            languages=["en", "es"],
            watermarking=True,
        ),
        # middling and free
        "beta": _provider("tier2", "full", 0.6, 0.5, 0.0, features=["multilingual"]),
        # fast and cheap, plain; a local preview provider that speaks anything
        "gamma": _provider("tier2", "preview", 0.3, 0.05, 0.0005, languages=["any"]),
        "tones": _provider("fixture", "fixture", 0.0, 0.01, 0.0, languages=["any"]),
    },
    "voices": {
        "narrator": {
            "display_name": "Narrator",
            "description": "test voice",
            "default": True,
            "language_codes": ["en-US"],
            "provider_preferences": [
                {"provider": p, "voice_id": f"{p}-narrator"}
                for p in ("alpha", "beta", "gamma", "tones")
            ],
        },
    },
    "rate_caps": {
        "tier1": {"daily_requests": 1000, "concurrent_jobs": 2},
        "tier2": {"daily_requests": 1000, "concurrent_jobs": 4},
        "fixture": {"daily_requests": 100000, "concurrent_jobs": 8},
    },
}


class FakeBackends:
    """Fake providers: each pops its next programmed outcome per call (default: speaks)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, list[BaseException | dict]] = {}
        self.calls: list[str] = []
        self.not_installed: dict[str, str] = {}
        self.seen_opts: list[dict[str, Any]] = []

    def program(self, provider: str, *outcomes: BaseException | dict) -> None:
        self.outcomes[provider] = list(outcomes)

    def missing(self, provider_id: str, provider: Any) -> str | None:
        return self.not_installed.get(provider_id)

    def call(self, provider_id, provider, text, voice_id, opts, out) -> dict:
        self.calls.append(provider_id)
        self.seen_opts.append(dict(opts))
        queue = self.outcomes.get(provider_id, [])
        outcome = queue.pop(0) if queue else {}
        if isinstance(outcome, BaseException):
            raise outcome
        meta = fixture.synthesize(text, voice_id, opts, out)
        meta.update({"provider": f"fake/{provider_id}", "model_id": f"{provider_id}-model"})
        meta["provider_voice_id"] = opts["provider_voice_id"]
        meta.pop("watermarked")  # a provider that does not say: the catalog decides
        meta.update(outcome)
        meta["synth_time_s"] = 0.01
        return meta


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBackends:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "tts_providers.yaml").write_text(yaml.safe_dump(CATALOG))
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(tmp_path / "conf"))
    backends = FakeBackends()
    monkeypatch.setattr(tts_agent, "BACKENDS", backends)
    monkeypatch.setattr(tts_agent, "_sleep", lambda s: sleeps.append(s))
    sleeps: list[float] = []
    backends.sleeps = sleeps  # type: ignore[attr-defined]
    rate_limiter.reset()
    tts_agent._SLOTS.clear()
    return backends


def say(text: str = LINE, profile: str = "full", **opts: Any):
    with run_context(providers={"tts_chatterbox": profile}, work_dir=None):
        return tts_agent.synthesize(text, {"id": "narrator"}, opts)


def ranked(profile: str = "full", **opts: Any) -> list[str]:
    selection = tts_agent.select_providers(
        VoiceConfig(id="narrator"), TTSOpts.model_validate(opts), profile, LINE
    )
    return [c.provider for c in selection.candidates]


# ----------------------------------------------------------------------- the spec's four


def test_tts_metadata_fields() -> None:
    with run_context(providers={"tts_chatterbox": "fixture"}):
        ref = tts_agent.synthesize("Hello there. Good night.", {"id": "emma"}, {"seed": 7})
    meta = ref.metadata
    assert ref.artifact_uri.startswith("file://") and ref.path.is_file()
    assert meta["duration_s"] > 0 and meta["sample_rate"] == 24000
    assert meta["voice_id"] == "emma" and meta["provider"] == "tts_chatterbox/fixture"
    assert meta["model_id"] == "fixture" and meta["device"] == "cpu"
    assert meta["synth_time_s"] >= 0 and isinstance(meta["watermarked"], bool)
    assert meta["seed"] == 7 and meta["provider_voice_id"] == "tone-emma"
    selection = meta["selection"]
    assert selection["selected_provider"] == "fixture-local"
    assert set(selection) >= {
        "score_breakdown", "estimated_cost_usd", "estimated_latency_s", "reason", "attempts",
    }  # fmt: skip
    assert selection["attempts"] == [
        {"provider": "fixture-local", "attempt": 1, "outcome": "succeeded"}
    ]


def test_watermark_flag_propagated(fakes: FakeBackends) -> None:
    fakes.program("beta", {"watermarked": True})  # the catalog says beta does not watermark
    meta = say().metadata
    assert meta["voice_provider"] == "beta" and meta["watermarked"] is True
    meta = say(required_features=["voice_clone"]).metadata  # alpha: says nothing itself
    assert meta["voice_provider"] == "alpha" and meta["watermarked"] is True  # the catalog's
    fakes.program("alpha", {"watermarked": False})
    assert say(required_features=["voice_clone"]).metadata["watermarked"] is False


def test_retryable_vs_nonretryable(fakes: FakeBackends) -> None:
    fakes.program("beta", TTSRetryableError("429 Too Many Requests", retry_after_s=5.0), {})
    meta = say().metadata
    assert fakes.calls == ["beta", "beta"] and meta["voice_provider"] == "beta"
    assert fakes.sleeps == [5.0]  # the backoff (1 s) but never less than retry_after_s
    assert [a["outcome"] for a in meta["selection"]["attempts"]] == ["retryable", "succeeded"]

    fakes.calls.clear()
    fakes.program("beta", TTSInvalidInputError("unsupported characters"))
    with pytest.raises(TTSInvalidInputError, match="unsupported characters"):
        say()
    assert fakes.calls == ["beta"]  # no retry, and no other provider tried


def test_provider_failover_on_quota(fakes: FakeBackends) -> None:
    fakes.program("beta", TTSQuotaExceeded("monthly quota used up"))
    meta = say().metadata
    assert fakes.calls == ["beta", "alpha"] and fakes.sleeps == []  # no retry, no wait
    assert meta["voice_provider"] == "alpha" and meta["provider"] == "fake/alpha"
    assert meta["selection"]["selected_provider"] == "alpha"
    assert meta["selection"]["reason"] == "failover after beta (quota)"
    assert meta["provider_voice_id"] == "alpha-narrator"  # alpha's own voice settings

    fakes.calls.clear()
    for p in ("alpha", "beta", "gamma"):
        fakes.program(p, TTSQuotaExceeded(f"{p} quota"))
    with pytest.raises(PlanResourceError, match="out of quota"):
        say()
    assert fakes.calls == ["beta", "alpha", "gamma"]


# ----------------------------------------------------------------------------- selection


def test_each_priority_profile_ranks_its_own_way(fakes: FakeBackends) -> None:
    assert ranked(priority_profile="quality")[0] == "alpha"
    assert ranked(priority_profile="latency")[0] == "gamma"
    assert ranked(priority_profile="cost") == ["beta", "gamma", "alpha"]
    assert ranked(priority_profile="balanced")[0] == "beta"
    selection = tts_agent.select_providers(
        VoiceConfig(id="narrator"), TTSOpts(priority_profile="quality"), "full", LINE
    )
    alpha = selection.candidates[0]
    assert alpha.score_breakdown["quality"] == pytest.approx(0.7 * 0.9)
    assert alpha.score_breakdown["latency"] == pytest.approx(0.15 / (1 + 3.0))
    assert alpha.estimated_cost_usd == pytest.approx(0.004)  # 0.002 $/s for 2 s
    assert alpha.score == pytest.approx(sum(alpha.score_breakdown.values()), abs=1e-5)


def test_filters(fakes: FakeBackends) -> None:
    assert ranked(required_features=["voice_clone"]) == ["alpha"]
    assert ranked(required_features=["multilingual"]) == ["beta", "alpha"]
    assert ranked(language="es") == ["alpha", "gamma"]  # beta speaks English only
    assert ranked(max_latency_s=1.0) == ["beta", "gamma"]
    assert ranked(max_cost_usd=0.0) == ["beta"]
    assert ranked("preview") == ["gamma"]  # a preview run speaks with the preview tier
    assert ranked("fixture") == ["tones"]  # and tests with the fixture
    assert ranked(provider="alpha", max_latency_s=0.1) == ["alpha"]  # forced: no filters


def test_nothing_qualifies_suggests_relaxations(fakes: FakeBackends) -> None:
    with pytest.raises(ProviderSelectionError) as err:
        ranked(required_features=["voice_clone"], max_latency_s=1.0)
    relax = err.value.details["relaxations"]
    assert "raise max_latency_s to 3 for alpha" in relax
    assert "drop required_features voice_clone for beta" in relax
    assert set(err.value.details["excluded"]) == {"alpha", "beta", "gamma", "tones"}
    assert err.value.hint and "max_latency_s" in err.value.hint
    with pytest.raises(ProviderSelectionError) as err:
        ranked("preview", required_features=["voice_clone"])
    assert "use --provider tts_chatterbox=full for alpha" in err.value.details["relaxations"]


def test_the_real_catalog_picks_by_profile() -> None:
    voice = VoiceConfig(id="emma")
    for profile, provider in (
        ("fixture", "fixture-local"), ("preview", "espeak-local"), ("full", "chatterbox-pro"),
    ):  # fmt: skip
        assert tts_agent.resolve_voice(voice, None, profile).provider == provider
    full = tts_agent.resolve_voice(voice, None, "full")
    assert [c["provider"] for c in full.selection["candidates"]] == [
        "chatterbox-pro", "espeak-local",
    ]  # fmt: skip  # the preview voice is the last failover; fixture tones never speak
    with pytest.raises(ProviderSelectionError, match="lacks voice_clone"):
        tts_agent.resolve_voice(
            voice, None, "preview", opts=TTSOpts(required_features=["voice_clone"])
        )


# ---------------------------------------------------------------------- error semantics


def test_server_errors_retry_then_fail_over(fakes: FakeBackends) -> None:
    fakes.program("beta", *(TTSServerError("502") for _ in range(3)))
    meta = say().metadata
    assert fakes.calls == ["beta", "beta", "beta", "alpha"]
    assert fakes.sleeps == [1.0, 2.0]  # max_retries 2: base 1 s, ×2
    outcomes = [(a["provider"], a["outcome"]) for a in meta["selection"]["attempts"]]
    assert outcomes[-1] == ("alpha", "succeeded") and len(outcomes) == 4


def test_unavailable_waits_once_then_fails_over(fakes: FakeBackends) -> None:
    fakes.program("beta", TTSProviderUnavailable("worker crashed"))
    assert say().metadata["voice_provider"] == "alpha"
    assert fakes.calls == ["beta", "alpha"] and fakes.sleeps == [1.0]


def test_every_provider_failing_raises_the_last_error(fakes: FakeBackends) -> None:
    fakes.program("beta", TTSProviderUnavailable("beta down"))
    fakes.program("alpha", TTSQuotaExceeded("alpha quota"))
    fakes.program("gamma", TTSProviderUnavailable("gamma down"))
    with pytest.raises(TTSProviderUnavailable, match="gamma down"):
        say()
    assert fakes.sleeps == [1.0]  # beta's short backoff; none after quota or the last one


def test_provider_policy_refusal_publishes_nothing(
    fakes: FakeBackends, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list = []
    monkeypatch.setattr(tts_agent, "publish_local", lambda *a, **k: published.append(a))
    fakes.program("beta", TTSPolicyViolation("blocked by the provider's moderation"))
    with pytest.raises(PlanPolicyViolation, match="refused the text"):
        say()
    assert fakes.calls == ["beta"] and published == []


def test_text_is_moderated_before_any_provider(fakes: FakeBackends) -> None:
    with pytest.raises(PlanPolicyViolation, match="disallowed"):
        say("And then, gore everywhere.")
    with pytest.raises(PlanPolicyViolation, match="limit is 2,000"):
        say("word " * 500)
    assert fakes.calls == []


def test_a_missing_install_names_it_or_fails_over(fakes: FakeBackends) -> None:
    fakes.not_installed["beta"] = "beta needs the beta package (pip install beta)"
    with pytest.raises(MissingDependencyError, match="pip install beta"):
        say()  # beta is what the full profile asked for
    assert fakes.calls == []
    fakes.not_installed = {"gamma": "gamma needs gamma"}
    fakes.program("beta", TTSQuotaExceeded("q"))
    fakes.program("alpha", TTSQuotaExceeded("q"))
    with pytest.raises(PlanResourceError):  # gamma, a fallback, is skipped
        say()


# ------------------------------------------------------------------------------ limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_provider_rate_limits_use_the_catalog_and_fail_over(fakes: FakeBackends) -> None:
    say()
    bucket = rate_limiter.get_bucket("local", "tts/beta")
    assert bucket.rate_per_min == 600 and bucket.capacity == 600
    tier = rate_limiter.get_bucket("local", "tts-tier/tier2")
    assert tier.rate_per_min == pytest.approx(1000 / 1440)
    # beta's bucket is empty and would take longer than the queue TTL to refill
    clock = FakeClock()
    rate_limiter.set_bucket(
        "local", "tts/beta", rate_limiter.TokenBucket(0.001, 1, clock, clock.sleep, tokens=0)
    )
    fakes.calls.clear()
    meta = say().metadata
    assert fakes.calls == ["alpha"] and meta["voice_provider"] == "alpha"
    assert meta["selection"]["attempts"][0]["outcome"] == "rate_limited"


def test_a_short_wait_in_the_bucket_is_queued(fakes: FakeBackends) -> None:
    clock = FakeClock()
    rate_limiter.set_bucket(
        "local", "tts/beta", rate_limiter.TokenBucket(60, 1, clock, clock.sleep, tokens=0)
    )
    assert say().metadata["voice_provider"] == "beta"
    assert clock.now == pytest.approx(1.0)  # one token a second: waited a second


def test_tier_daily_cap_fails_over_to_another_tier(fakes: FakeBackends) -> None:
    clock = FakeClock()
    rate_limiter.set_bucket(
        "local", "tts-tier/tier2", rate_limiter.TokenBucket(1e-6, 1, clock, clock.sleep, tokens=0)
    )
    assert say().metadata["voice_provider"] == "alpha"  # tier1
    assert not math.isinf(rate_limiter.get_bucket("local", "tts-tier/tier1").rate_per_min)


def test_concurrent_jobs_cap(fakes: FakeBackends, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts_agent, "QUEUE_TTL_S", 0.01)
    held = tts_agent._slot("local/tts/beta", 2)
    assert held.acquire() and held.acquire()  # both of beta's slots are taken
    try:
        meta = say().metadata
    finally:
        held.release()
        held.release()
    assert meta["voice_provider"] == "alpha"
    assert meta["selection"]["attempts"][0]["outcome"] == "rate_limited"


# --------------------------------------------------------------------------- long text


def test_long_narration_is_spoken_line_by_line() -> None:
    sentence = "The whale sang to the keeper across the dark and quiet water tonight."
    text = " ".join([sentence] * 155)  # 2,015 words
    assert len(text.split()) >= 2000
    lines = tts_agent.split_lines(text)
    assert len(lines) > 1 and all(len(line) <= 2000 for line in lines)
    assert " ".join(lines) == text
    assert all(line.endswith(".") for line in lines)  # cut at sentence ends
    with run_context(providers={"tts_chatterbox": "fixture"}):
        refs = [tts_agent.synthesize(line, {"id": "narrator"}) for line in lines]
    total = sum(r.metadata["duration_s"] for r in refs)
    assert total == pytest.approx(2015 / 3, rel=0.1)  # the fixture speaks 3 words a second


def test_split_lines_cuts_an_overlong_sentence_at_a_space() -> None:
    lines = tts_agent.split_lines("one two three four five six. Seven.", max_chars=10)
    assert all(len(line) <= 10 for line in lines)
    assert " ".join(lines) == "one two three four five six. Seven."


# ------------------------------------------------------------------------- step records


def test_a_runs_step_records_show_the_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkle_motion.adk_helpers import publish_local
    from sparkle_motion.production.assembly import Assembly
    from sparkle_motion.production_agent import run_plan

    monkeypatch.setattr(
        Assembly, "_assemble_movie", lambda self, clips, audio: publish_local(b"m", "video/mp4", {})
    )
    plan = {
        "title": "Records",
        "steps": [
            {"id": "say", "type": "tts", "text": "Hello there.", "opts": {"seed": 3}},
        ],
        "assemble_opts": {"width": 320, "height": 180, "fps": 12},
    }
    result = run_plan(plan, profile="fixture")
    assert result.status == "succeeded", result.summary
    record = next(r for r in result.records if r.step_id == "say")
    assert record.meta["selection"]["selected_provider"] == "fixture-local"
    assert record.meta["selection"]["attempts"][0]["outcome"] == "succeeded"
    assert record.meta["seed"] == 3 and record.meta["watermarked"] is False
