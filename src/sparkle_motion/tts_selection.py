"""Which TTS provider speaks a line: candidates, filters, ranking, and the reasons why.

tts_agent decides who speaks; this module is that decision, and nothing else: the catalog
(``configs/tts_providers.yaml``) and a :class:`Request` in, a ranked :class:`Selection` out,
with no I/O but the installation check it is handed. The spec's algorithm, in order:

1. eligibility by the run's profile for tts_chatterbox (which the SMOKE flags already moved
   to ``full``): ``fixture`` → fixture tones only; ``preview`` → the local preview
   provider; ``full`` → the full providers first, the local preview provider as the last
   failover (fixture tones never stand in for speech in a movie);
2. filters: the voice has an entry for the provider, ``required_features``, the line's
   language, ``max_latency_s``, ``max_cost_usd``, and an installed backend;
3. ranking by the priority profile: the catalog's weights over quality (its
   ``quality_score``), latency (``1 / (1 + latency_s)``) and cost
   (``1 / (1 + cost_usd / 0.01)``), ties broken as the spec orders each profile.

Estimates per line: speech lasts about ``len(text) / 15`` seconds (150 words a minute),
cost is the provider's ``cost_usd_per_1s`` times that, latency is the catalog's
``latency_s`` per request. When nothing qualifies, :class:`ProviderSelectionError` names
what to relax to admit each provider that was filtered out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from sparkle_motion.errors import MissingDependencyError, ProviderSelectionError
from sparkle_motion.voices import Catalog, Provider, primary_language

__all__ = ["ELIGIBLE_BACKENDS", "Candidate", "Request", "Selection", "select"]

# backend profiles whose providers may speak under the run's tts_chatterbox profile, in order
ELIGIBLE_BACKENDS: dict[str, tuple[str, ...]] = {
    "fixture": ("fixture",),
    "preview": ("preview",),
    "full": ("full", "preview"),
}
CHARS_PER_SECOND = 15.0  # 150 words a minute, about 6 characters a word
COST_REFERENCE_USD = 0.01  # a line costing this scores 0.5 on cost
# tie-breaks after the weighted score, per profile (the spec's "then ..." orders)
_TIE_BREAKS: dict[str, tuple[str, ...]] = {
    "cost": ("cost", "latency"),
    "latency": ("latency", "cost"),
    "quality": ("quality", "cost", "latency"),
    "balanced": ("quality", "latency", "cost"),
}


@dataclass(frozen=True)
class Request:
    """What a line asks of its provider."""

    voice_id: str
    text: str = ""
    language: str | None = None  # the line's language tag (es, zh-CN); None: any
    profile: str = "fixture"  # the run's profile for tts_chatterbox
    priority_profile: str = "balanced"
    required_features: tuple[str, ...] = ()
    max_latency_s: float | None = None
    max_cost_usd: float | None = None
    forced: str | None = None  # opts.provider, already resolved to a catalog provider id
    voice_features: tuple[str, ...] = field(default=())


class Candidate(BaseModel):
    """A provider that qualifies, with its score and estimates."""

    provider: str
    tier: str
    backend: str  # the tts_chatterbox profile behind it (fixture, preview, full)
    score: float
    score_breakdown: dict[str, float]  # weighted parts: quality, latency, cost
    estimated_cost_usd: float
    estimated_latency_s: float
    quality_score: float


class Selection(BaseModel):
    """The ranked candidates (best first), what was left out and why."""

    priority_profile: str
    candidates: list[Candidate] = Field(min_length=1)
    excluded: dict[str, str] = Field(default_factory=dict)
    reason: str

    def telemetry(self, chosen: int = 0) -> dict[str, Any]:
        """The spec's selection metadata for the candidate that spoke (``chosen``)."""
        c = self.candidates[chosen]
        return {
            "selected_provider": c.provider,
            "score_breakdown": dict(c.score_breakdown),
            "score": c.score,
            "estimated_cost_usd": c.estimated_cost_usd,
            "estimated_latency_s": c.estimated_latency_s,
            "priority_profile": self.priority_profile,
            "reason": self.reason,
            "candidates": [{"provider": x.provider, "score": x.score} for x in self.candidates],
            "excluded": dict(self.excluded),
        }


def _estimates(provider: Provider, text: str) -> tuple[float, float]:
    duration = max(0.5, len(text) / CHARS_PER_SECOND)
    cost = round(provider.defaults.cost_usd_per_1s * duration, 6)
    return cost, provider.defaults.latency_s


def _candidate(pid: str, provider: Provider, text: str, weights: Any) -> Candidate:
    cost, latency = _estimates(provider, text)
    parts = {
        "quality": provider.defaults.quality_score,
        "latency": 1.0 / (1.0 + latency),
        "cost": 1.0 / (1.0 + cost / COST_REFERENCE_USD),
    }
    breakdown = {k: round(getattr(weights, k) * v, 6) for k, v in parts.items()}
    return Candidate(
        provider=pid,
        tier=provider.tier,
        backend=provider.profile or "",
        score=round(sum(breakdown.values()), 6),
        score_breakdown=breakdown,
        estimated_cost_usd=cost,
        estimated_latency_s=latency,
        quality_score=provider.defaults.quality_score,
    )


def _sort_key(profile: str, order: dict[str, int]) -> Callable[[Candidate], tuple[Any, ...]]:
    values = {
        "quality": lambda c: -c.quality_score,
        "latency": lambda c: c.estimated_latency_s,
        "cost": lambda c: c.estimated_cost_usd,
    }
    ties = _TIE_BREAKS[profile]
    return lambda c: (-c.score, *(values[t](c) for t in ties), order[c.provider])


def _speaks(provider: Provider, language: str | None) -> bool:
    if not language:
        return True
    codes = {primary_language(code) for code in provider.languages}
    return "any" in codes or primary_language(language) in codes


def select(
    catalog: Catalog,
    request: Request,
    *,
    missing: Callable[[str, Provider], str | None] = lambda pid, p: None,
) -> Selection:
    """Rank the providers that may speak ``request`` (best first).

    Args:
        missing: ``(provider id, provider) -> None`` when its backend is installed, else
            the one line that says what to install.

    Raises:
        ProviderSelectionError: nothing qualifies (details: ``excluded``, ``relaxations``).
        MissingDependencyError: every provider of the run's own profile that qualifies is
            missing its install (``--profile full`` without Chatterbox): that line.
    """
    profile = request.priority_profile
    weights = catalog.priority_profiles[profile]  # type: ignore[index]
    order = {pid: i for i, pid in enumerate(catalog.providers)}
    voice = catalog.voices.get(request.voice_id)
    spoken_by = {p.provider for p in voice.provider_preferences} if voice else set()
    backends = ELIGIBLE_BACKENDS.get(request.profile, (request.profile,))
    excluded: dict[str, str] = {}
    relax: list[str] = []
    missing_lines: dict[str, MissingDependencyError] = {}
    found: list[Candidate] = []
    wanted = set(request.required_features)

    pool = [request.forced] if request.forced else list(catalog.providers)
    for pid in pool:
        p = catalog.providers[pid]
        c = _candidate(pid, p, request.text, weights)
        if pid not in spoken_by:
            excluded[pid] = f"voice {request.voice_id!r} has no {pid} entry"
            continue
        if not p.available or p.profile is None:
            excluded[pid] = "not built yet (available: false in the catalog)"
            continue
        if not request.forced:
            if p.profile not in backends:
                excluded[pid] = (
                    f"{p.tier} ({p.profile}) is not used by the {request.profile} profile"
                )
                if p.profile != "fixture":
                    relax.append(f"use --provider tts_chatterbox={p.profile} for {pid}")
                continue
            lacking = sorted(wanted - set(p.features) - set(request.voice_features))
            if lacking:
                excluded[pid] = f"lacks {', '.join(lacking)}"
                relax.append(f"drop required_features {', '.join(lacking)} for {pid}")
                continue
            if not _speaks(p, request.language):
                excluded[pid] = f"does not speak {request.language}"
                relax.append(f"use a language {pid} speaks ({', '.join(p.languages[:6])}, ...)")
                continue
            if request.max_latency_s is not None and c.estimated_latency_s > request.max_latency_s:
                excluded[pid] = (
                    f"estimated latency {c.estimated_latency_s:g} s > max_latency_s "
                    f"{request.max_latency_s:g}"
                )
                relax.append(f"raise max_latency_s to {c.estimated_latency_s:g} for {pid}")
                continue
            if request.max_cost_usd is not None and c.estimated_cost_usd > request.max_cost_usd:
                excluded[pid] = (
                    f"estimated cost ${c.estimated_cost_usd:g} > max_cost_usd "
                    f"${request.max_cost_usd:g}"
                )
                relax.append(f"raise max_cost_usd to {c.estimated_cost_usd:g} for {pid}")
                continue
        why_missing = missing(pid, p)
        if why_missing:
            excluded[pid] = f"not installed: {why_missing}"
            missing_lines[pid] = MissingDependencyError(why_missing)
            continue
        found.append(c)

    own = [pid for pid in missing_lines if catalog.providers[pid].profile == request.profile]
    if own and not any(c.backend == request.profile for c in found):
        raise missing_lines[own[0]]
    if not found:
        relax = list(dict.fromkeys(relax))
        what = "; ".join(f"{pid}: {why}" for pid, why in excluded.items())
        raise ProviderSelectionError(
            f"no TTS provider can speak this line ({what})",
            field="opts",
            hint="; ".join(relax[:3]) if relax else None,
            details={"excluded": excluded, "relaxations": relax},
        )
    found.sort(key=_sort_key(profile, order))
    best = found[0]
    if request.forced:
        reason = f"forced by opts.provider ({best.provider})"
    elif len(found) == 1:
        reason = f"the only provider that qualifies under the {request.profile} profile"
    else:
        reason = (
            f"best {profile} score {best.score:g} of {len(found)} "
            f"(next: {found[1].provider} {found[1].score:g})"
        )
    return Selection(priority_profile=profile, candidates=found, excluded=excluded, reason=reason)
