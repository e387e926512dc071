"""tts_agent: speaks one line through the tts_chatterbox FunctionTool, and decides who speaks.

It decides, the FunctionTool computes. For each line it

- moderates the text (a direct call is not only covered by plan validation);
- selects the provider (:mod:`sparkle_motion.tts_selection`: candidates from the catalog,
  filtered by ``required_features``, language, ``max_latency_s`` and ``max_cost_usd``,
  ranked by ``priority_profile``; the run's profile decides which tiers may speak);
- resolves the logical voice (``emma``) to that provider's voice and settings
  (:mod:`sparkle_motion.voices`) and hands the backend explicit arguments;
- takes a token from the provider's bucket (``rate_limits.requests_per_minute``) and its
  tier's (``rate_caps.daily_requests``), and a slot of both ``concurrent_jobs``;
- handles the TTS error taxonomy: ``TTSRetryableError``/``TTSServerError`` are retried on the
  same provider under its ``retry_policy`` (backoff with jitter, at least ``retry_after_s``),
  then the next candidate speaks; ``TTSProviderUnavailable`` waits one short backoff and
  fails over; ``TTSQuotaExceeded`` fails over at once (``PlanResourceError`` when no
  provider is left); ``TTSInvalidInputError`` is raised at once, never retried elsewhere;
  ``TTSPolicyViolation`` becomes ``PlanPolicyViolation`` and nothing is published;
- publishes the WAV with the selection telemetry (``meta["selection"]``: selected provider,
  score breakdown, estimates, reason, every attempt), the seed, and ``watermarked`` as the
  provider reported it (else as the catalog says).

The backends behind the catalog's providers are reached through :data:`BACKENDS`, so tests
put a registry of fake providers there.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from sparkle_motion import voices
from sparkle_motion.adk_helpers import publish_local, write_memory_event
from sparkle_motion.config import get_settings
from sparkle_motion.errors import (
    MissingDependencyError,
    PlanPolicyViolation,
    PlanResourceError,
    RateLimitError,
    SparkleError,
    TTSError,
    TTSInvalidInputError,
    TTSPolicyViolation,
    TTSProviderUnavailable,
    TTSQuotaExceeded,
    TTSRetryableError,
)
from sparkle_motion.run_context import current_run_context
from sparkle_motion.tts_selection import Candidate, Request, Selection, select
from sparkle_motion.types import ArtifactRef, TTSOpts, VoiceConfig
from sparkle_motion.utils import rate_limiter
from sparkle_motion.utils.backoff import backoff_s
from sparkle_motion.voices import Provider

TOOL = "tts_chatterbox"
QUEUE_TTL_S = rate_limiter.DEFAULT_TTL_S
_sleep = time.sleep  # tests replace it: retries never really wait there


class ResolvedVoice(BaseModel):
    """Who speaks a line: the catalog provider, its backend profile and the voice's settings
    for it, and the selection that chose it (the other candidates are the failover order).
    production_agent resolves it once per step (its settings are in the step's cache key)
    and hands it back to :func:`synthesize`, which then speaks with exactly that."""

    provider: str
    profile: str
    settings: dict[str, Any] = Field(default_factory=dict)
    selection: dict[str, Any] | None = None  # a tts_selection.Selection, dumped


# ------------------------------------------------------------------------------ backends


class Backends(Protocol):
    """What stands behind the catalog's providers."""

    def missing(self, provider_id: str, provider: Provider) -> str | None:
        """None when the provider's backend can run here, else what to install (one line)."""

    def call(
        self,
        provider_id: str,
        provider: Provider,
        text: str,
        voice_id: str,
        opts: dict[str, Any],
        out: Path,
    ) -> dict[str, Any]:
        """Speak ``text`` into ``out``; returns the backend's metadata."""


class ToolBackends:
    """The real ones: the tts_chatterbox FunctionTool's backend for the provider's profile."""

    def missing(self, provider_id: str, provider: Provider) -> str | None:
        from sparkle_motion import providers

        try:
            providers.check_backend(TOOL, provider.profile or "")
        except MissingDependencyError as exc:
            return str(exc)
        return None

    def call(
        self,
        provider_id: str,
        provider: Provider,
        text: str,
        voice_id: str,
        opts: dict[str, Any],
        out: Path,
    ) -> dict[str, Any]:
        from sparkle_motion.function_tools.tts_chatterbox import entrypoint

        opts = {**opts, "provider": provider.profile}
        if provider.profile == "full":
            from sparkle_motion import providers

            opts.update(providers.chatterbox_route())
            opts.setdefault("models_root", str(get_settings().models_root))
        return entrypoint.synthesize(text, voice_id, opts, out)


BACKENDS: Backends = ToolBackends()


# ----------------------------------------------------------------------------- selection


def _forced_provider(forced: str | None) -> str | None:
    """The catalog provider ``opts.provider`` names (an id, a profile or a fixture alias);
    None when it names none that is built."""
    if not forced:
        return None
    provider = voices.provider_for(forced)
    return provider if voices.load_catalog().providers[provider].profile is not None else None


def _language(voice: VoiceConfig, opts: TTSOpts) -> str | None:
    own = voices.voice_language(voice.id)  # raises for an unknown voice, naming the known ones
    return voice.language or opts.language or own


def select_providers(voice: VoiceConfig, opts: TTSOpts, profile: str, text: str = "") -> Selection:
    """The ranked providers for a line (see :mod:`sparkle_motion.tts_selection`).

    Raises:
        TTSInvalidInputError: unknown voice, or ``opts.provider`` names no provider.
        ProviderSelectionError: nothing qualifies; the hint says what to relax.
        MissingDependencyError: the run's profile needs a backend that is not installed.
    """
    catalog = voices.load_catalog()
    language = _language(voice, opts)
    request = Request(
        voice_id=voice.id,
        text=text,
        language=language,
        profile=profile,
        priority_profile=opts.priority_profile,
        required_features=tuple(opts.required_features),
        max_latency_s=opts.max_latency_s,
        max_cost_usd=opts.max_cost_usd,
        forced=_forced_provider(opts.provider),
        voice_features=tuple(catalog.voices[voice.id].features),
    )
    return select(catalog, request)


def _settings(voice: VoiceConfig, provider: str) -> dict[str, Any]:
    return voices.provider_voice(voice.id, provider, language=voice.language)


def resolve_voice(
    voice: VoiceConfig,
    forced: str | None,
    profile: str,
    *,
    opts: TTSOpts | None = None,
    text: str = "",
) -> ResolvedVoice:
    """The provider and settings that speak ``voice`` under the tool's ``profile``
    (``forced``: the step's ``opts.provider``), chosen by :func:`select_providers`. A
    voice's ``language`` reaches the backend as its ``language`` option (espeak: the
    language of Latin-script text; other scripts keep their own), and as the provider's own
    language option where it has one."""
    opts = (opts or TTSOpts()).model_copy(update={"provider": forced})
    selection = select_providers(voice, opts, profile, text)
    best = selection.candidates[0]
    return ResolvedVoice(
        provider=best.provider,
        profile=best.backend,
        settings=_settings(voice, best.provider),
        selection=selection.model_dump(mode="json"),
    )


# ---------------------------------------------------------------------------- limits

_SLOTS: dict[str, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _slot(key: str, size: int) -> threading.BoundedSemaphore:
    with _SLOTS_LOCK:
        if key not in _SLOTS:
            _SLOTS[key] = threading.BoundedSemaphore(size)
        return _SLOTS[key]


class _Limits:
    """A provider's rate limits and its tier's caps, held for one call."""

    def __init__(self, pid: str, provider: Provider, tenant: str) -> None:
        catalog = voices.load_catalog()
        cap = catalog.rate_caps[provider.tier]
        rpm = provider.rate_limits.requests_per_minute
        self.buckets = [
            rate_limiter.get_bucket(tenant, f"tts/{pid}", rate_per_min=rpm, capacity=rpm),
            rate_limiter.get_bucket(
                tenant,
                f"tts-tier/{provider.tier}",
                rate_per_min=cap.daily_requests / 1440,
                capacity=cap.daily_requests,
            ),
        ]
        self.slots = [
            _slot(f"{tenant}/tts/{pid}", provider.rate_limits.concurrent_jobs),
            _slot(f"{tenant}/tts-tier/{provider.tier}", cap.concurrent_jobs),
        ]
        self.held: list[threading.BoundedSemaphore] = []

    def __enter__(self) -> _Limits:
        for bucket in self.buckets:
            bucket.acquire(1, queue_allowed=True, ttl_s=QUEUE_TTL_S)
        for slot in self.slots:
            if not slot.acquire(timeout=QUEUE_TTL_S):
                self.__exit__()
                raise RateLimitError(f"no free concurrent slot in {QUEUE_TTL_S:g} s")
            self.held.append(slot)
        return self

    def __exit__(self, *exc: object) -> None:
        while self.held:
            self.held.pop().release()


# ------------------------------------------------------------------------------- speaking


class _Failover(Exception):
    """This candidate is done; the next one speaks."""

    def __init__(self, error: BaseException, kind: str) -> None:
        super().__init__(str(error))
        self.error, self.kind = error, kind


def _attempt_record(pid: str, n: int, outcome: str, error: BaseException | None = None) -> dict:
    rec: dict[str, Any] = {"provider": pid, "attempt": n, "outcome": outcome}
    if error is not None:
        rec["error_type"] = type(error).__name__
        rec["error"] = str(error)[:300]
    return rec


def _speak_on(
    candidate: Candidate,
    text: str,
    voice_id: str,
    call_opts: dict[str, Any],
    out: Path,
    attempts: list[dict[str, Any]],
    tenant: str,
    has_next: bool,
    run_profile: str,
) -> dict[str, Any]:
    """Every attempt on one provider under its retry policy; raises _Failover when done."""
    pid = candidate.provider
    provider = voices.load_catalog().providers[pid]
    policy = provider.retry_policy
    why = BACKENDS.missing(pid, provider)
    if why:
        attempts.append(_attempt_record(pid, 1, "not_installed", MissingDependencyError(why)))
        if candidate.backend == run_profile:  # what the run asked for: say what to install
            raise MissingDependencyError(why)
        raise _Failover(MissingDependencyError(why), "not_installed")
    n = 0
    while True:
        n += 1
        try:
            with _Limits(pid, provider, tenant):
                meta = BACKENDS.call(pid, provider, text, voice_id, call_opts, out)
        except RateLimitError as exc:
            attempts.append(_attempt_record(pid, n, "rate_limited", exc))
            raise _Failover(exc, "rate_limited") from exc
        except (TTSInvalidInputError, TTSPolicyViolation) as exc:
            attempts.append(_attempt_record(pid, n, "rejected", exc))
            raise
        except TTSQuotaExceeded as exc:
            attempts.append(_attempt_record(pid, n, "quota_exceeded", exc))
            raise _Failover(exc, "quota") from exc
        except TTSProviderUnavailable as exc:
            rec = _attempt_record(pid, n, "unavailable", exc)
            attempts.append(rec)
            if has_next:  # a short backoff, then the next provider
                rec["wait_s"] = _wait(policy, 1, exc.retry_after_s)
            raise _Failover(exc, "unavailable") from exc
        except TTSRetryableError as exc:  # TTSServerError too
            rec = _attempt_record(pid, n, "retryable", exc)
            attempts.append(rec)
            if n > policy.max_retries:
                raise _Failover(exc, "retries_exhausted") from exc
            rec["wait_s"] = _wait(policy, n, exc.retry_after_s)
            continue
        attempts.append(_attempt_record(pid, n, "succeeded"))
        return meta


def _wait(policy: Any, attempt: int, retry_after_s: float | None) -> float:
    """Sleep the retry policy's backoff (never less than the provider's retry_after_s)."""
    wait = backoff_s(
        attempt,
        base_s=policy.backoff_base_s,
        multiplier=policy.backoff_multiplier,
        jitter=policy.jitter,
    )
    wait = round(max(wait, retry_after_s or 0.0), 3)
    if wait > 0:
        _sleep(wait)
    return wait


def _moderate(text: str) -> None:
    from sparkle_motion.policy import check_text

    check_text(text, "text")


def synthesize(
    text: str,
    voice_config: VoiceConfig | dict[str, Any],
    opts: TTSOpts | dict | None = None,
    *,
    audio_prompt: Path | None = None,
    resolved: ResolvedVoice | None = None,
) -> ArtifactRef:
    """Speak ``text`` with ``voice_config``; returns the WAV's ArtifactRef.

    Its metadata has duration_s, sample_rate, voice_id, provider_voice_id, provider,
    model_id, device, synth_time_s, watermarked, seed, the sentence timings and
    ``selection`` (selected_provider, score_breakdown, estimated_cost_usd,
    estimated_latency_s, reason, attempts).

    Raises:
        PlanPolicyViolation: the text is disallowed or too long, or the provider refused it
            on policy (nothing is published).
        TTSInvalidInputError: unknown voice id (the message names the known ones), or text
            the provider cannot speak; never retried.
        ProviderSelectionError: no provider qualifies (the hint says what to relax).
        PlanResourceError: every provider that qualifies is out of quota.
        TTSRetryableError: every provider failed with transient errors (production's retry
            policy may run the step again).

    ``resolved`` is the voice as :func:`resolve_voice` chose it for this step; without it,
    the voice is resolved here from the run context's profile.
    """
    voice = (
        voice_config
        if isinstance(voice_config, VoiceConfig)
        else VoiceConfig.model_validate(voice_config)
    )
    opts = opts if isinstance(opts, TTSOpts) else TTSOpts.model_validate(opts or {})
    ctx = current_run_context()
    _moderate(text)
    profile = ctx.providers.get(TOOL, "fixture")
    if resolved is None or resolved.selection is None:
        if resolved is not None:  # resolved before selections existed: keep its provider
            opts = opts.model_copy(update={"provider": resolved.provider})
        resolved = resolve_voice(voice, opts.provider, profile, opts=opts, text=text)
    selection = Selection.model_validate(resolved.selection)

    base_opts = opts.model_dump(exclude_none=True, exclude={"provider"})
    if voice.language:
        base_opts.setdefault("language", voice.language)
    if voice.speed:
        base_opts["speed"] = voice.speed
    if audio_prompt is not None:  # a reference clip, already inside the workspace
        base_opts["audio_prompt_path"] = str(audio_prompt)
    work = Path(ctx.work_dir) if ctx.work_dir else Path(tempfile.mkdtemp(prefix="sparkle-tts-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "narration.wav"

    attempts: list[dict[str, Any]] = []
    failures: list[_Failover] = []
    candidates = selection.candidates
    for index, candidate in enumerate(candidates):
        settings = resolved.settings if index == 0 else _settings(voice, candidate.provider)
        call_opts = {**settings, **base_opts}
        try:
            meta = _speak_on(
                candidate, text, voice.id, call_opts, out, attempts, ctx.tenant_id,
                has_next=index + 1 < len(candidates), run_profile=profile,
            )  # fmt: skip
        except _Failover as failed:
            failures.append(failed)
            write_memory_event(
                "tts_failover",
                {"provider": candidate.provider, "kind": failed.kind, "error": str(failed)},
            )
            continue
        except TTSPolicyViolation as exc:
            out.unlink(missing_ok=True)
            raise PlanPolicyViolation(
                f"the TTS provider refused the text: {exc.message}",
                field="text",
                details={"category": "tts_policy", "provider": candidate.provider},
            ) from exc
        catalog_provider = voices.load_catalog().providers[candidate.provider]
        telemetry = selection.telemetry(index)
        if index:
            failed = zip(candidates, failures, strict=False)
            telemetry["reason"] = "failover after " + ", ".join(
                f"{c.provider} ({f.kind})" for c, f in failed
            )
        telemetry["attempts"] = attempts
        meta["text"] = text
        meta["voice_id"] = voice.id
        meta.setdefault("provider_voice_id", settings.get("provider_voice_id"))
        meta["voice_provider"] = candidate.provider
        meta["watermarked"] = bool(meta.get("watermarked", catalog_provider.watermarking))
        meta["seed"] = opts.seed
        meta["selection"] = telemetry
        try:
            return publish_local(out, "audio/wav", meta)
        finally:
            out.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    raise _exhausted(failures)


def _exhausted(failures: list[_Failover]) -> SparkleError:
    """The error when no candidate could speak."""
    kinds = {f.kind for f in failures}
    tried = [f for f in failures if f.kind != "not_installed"] or failures
    last = tried[-1].error
    if "quota" in kinds and kinds <= {"quota", "rate_limited", "not_installed"}:
        return PlanResourceError(
            "every TTS provider that qualifies is out of quota "
            f"({', '.join(str(f.error) for f in failures)})",
            hint="wait for the quota to reset, or allow another provider",
            details={"failures": [f.kind for f in failures]},
        )
    if isinstance(last, TTSError | RateLimitError):
        return last
    return TTSProviderUnavailable(str(last))


# ------------------------------------------------------------------------------ long text

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def split_lines(text: str, max_chars: int | None = None) -> list[str]:
    """Split a long narration into lines of at most ``max_chars`` characters (default: the
    text-length cap), at sentence boundaries; a sentence longer than that is cut at its
    last space (or hard) within the cap. Joined with spaces, the lines are the text."""
    cap = max_chars or get_settings().max_text_length
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    lines: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > cap:
            cut = sentence.rfind(" ", 0, cap + 1)
            cut = cut if cut > 0 else cap
            head, sentence = sentence[:cut].rstrip(), sentence[cut:].lstrip()
            if current:
                lines.append(current)
                current = ""
            lines.append(head)
        joined = f"{current} {sentence}" if current else sentence
        if len(joined) <= cap:
            current = joined
        else:
            lines.append(current)
            current = sentence
    if current:
        lines.append(current)
    return lines


# ------------------------------------------------------------------------------- dialogue


def join_lines(
    lines: list[ArtifactRef], speakers: list[str | None], names: list[str | None]
) -> ArtifactRef:
    """The whole audio of a multi-line step: its lines' WAVs (each from :func:`synthesize`)
    joined in order by the tts_chatterbox FunctionTool, published with every line's record.

    Its metadata has ``duration_s``, ``sample_rate``, ``text`` (the lines, in order),
    ``sentences`` (every line's sentence timings moved to where the line starts, each with
    its ``speaker``: the name subtitles show, None for the narrator), ``watermarked`` (any
    line's) and ``line_artifacts``: per line its index, speaker (the cast key, None for the
    narrator), speaker_name, text, voice_id,
    provider_voice_id, provider, duration_s, watermarked, offset_s, artifact_uri and sha256.
    """
    from sparkle_motion.function_tools.tts_chatterbox.join import join_wavs

    ctx = current_run_context()
    work = Path(ctx.work_dir) if ctx.work_dir else Path(tempfile.mkdtemp(prefix="sparkle-tts-"))
    out = work / "dialogue.wav"
    joined = join_wavs([ref.path for ref in lines], out)
    sentences: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for i, (ref, speaker, name, offset) in enumerate(
        zip(lines, speakers, names, joined["offsets_s"], strict=True)
    ):
        meta = ref.metadata
        duration = float(meta.get("duration_s") or 0.0)
        timings = meta.get("sentences") or [
            {"text": meta.get("text", ""), "start_s": 0.0, "end_s": duration}
        ]
        for s in timings:
            sentences.append(
                {
                    **s,
                    "start_s": round(offset + float(s["start_s"]), 4),
                    "end_s": round(offset + float(s["end_s"]), 4),
                    "speaker": name,
                }
            )
        records.append(
            {
                "index": i,
                "speaker": speaker,
                "speaker_name": name,
                "text": meta.get("text", ""),
                "voice_id": meta.get("voice_id"),
                "provider_voice_id": meta.get("provider_voice_id"),
                "provider": meta.get("voice_provider") or meta.get("provider"),
                "duration_s": duration,
                "watermarked": bool(meta.get("watermarked")),
                "offset_s": offset,
                "artifact_uri": ref.artifact_uri,
                "sha256": ref.sha256,
            }
        )
    meta = {
        "kind": "dialogue",
        "text": " ".join(r["text"] for r in records),
        "duration_s": joined["duration_s"],
        "sample_rate": joined["sample_rate"],
        "format": "wav",
        "provider": records[0]["provider"],
        "voice_ids": list(dict.fromkeys(r["voice_id"] for r in records)),
        "watermarked": any(r["watermarked"] for r in records),
        "sentences": sentences,
        "line_artifacts": records,
    }
    try:
        return publish_local(out, "audio/wav", meta)
    finally:
        out.unlink(missing_ok=True)
