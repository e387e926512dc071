"""The TTS provider catalog (``configs/tts_providers.yaml``) and the voice mapping API.

A MoviePlan names logical voices (``narrator``, ``emma``); the catalog says which provider
voice speaks each one, and with which settings, for every provider. tts_agent resolves a
voice here and hands the backend explicit arguments (:func:`provider_voice`); backends never
read the catalog. ``SPARKLE_CONFIG_DIR/tts_providers.yaml`` replaces the packaged file.

A voice speaks the languages of its ``language_codes`` (``narrator_es``: es-ES); the planner
asks :func:`voice_for_language` for the voice of a story's language, and :func:`languages`
for the languages that have one.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sparkle_motion.config import Settings, config_path, load_yaml
from sparkle_motion.errors import ConfigError, TTSInvalidInputError
from sparkle_motion.types import VoiceMetadata

__all__ = [
    "Catalog",
    "get_voice_metadata",
    "languages",
    "list_available_voices",
    "load_catalog",
    "primary_language",
    "provider_for",
    "provider_voice",
    "voice_for_language",
    "voice_language",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileWeights(_Strict):
    """Scoring weights of one priority profile."""

    quality: float = Field(ge=0, le=1)
    latency: float = Field(ge=0, le=1)
    cost: float = Field(ge=0, le=1)


class ProviderDefaults(_Strict):
    voice: str
    sample_rate: int = Field(24000, ge=8000, le=48000)
    bit_depth: Literal[16, 24, 32] = 16
    latency_s: float = Field(ge=0)
    cost_usd_per_1s: float = Field(0.0, ge=0)
    quality_score: float = Field(ge=0, le=1)


class RateLimits(_Strict):
    requests_per_minute: int = Field(ge=1)
    concurrent_jobs: int = Field(ge=1)


class RetryPolicy(_Strict):
    max_retries: int = Field(ge=0)
    backoff_base_s: float = Field(ge=0)
    backoff_multiplier: float = Field(ge=1)
    jitter: float = Field(ge=0, le=1)


class Provider(_Strict):
    """One TTS provider: its tier, backend, capabilities, limits and watermarking."""

    display_name: str
    tier: Literal["tier1", "tier2", "fixture"]
    adapter: str
    profile: Literal["fixture", "preview", "full"] | None = None
    available: bool = True
    fixture_alias: str
    voice_option: str = "provider_voice_id"
    language_option: str | None = None
    defaults: ProviderDefaults
    features: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    rate_limits: RateLimits
    retry_policy: RetryPolicy
    watermarking: bool


class ProviderVoice(_Strict):
    """How one provider speaks a logical voice."""

    provider: str
    voice_id: str = Field(min_length=1)
    rate_wpm: int | None = Field(None, ge=80, le=450)
    pitch: int | None = Field(None, ge=0, le=100)
    pitch_range: int | None = Field(None, ge=0, le=100)
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)


class AudioDefaults(_Strict):
    sample_rate: int = Field(24000, ge=8000, le=48000)
    bit_depth: Literal[16, 24, 32] = 16
    speed: float = Field(1.0, ge=0.5, le=2.0)


class Voice(_Strict):
    """A logical voice as MoviePlans name it."""

    display_name: str
    description: str
    default: bool = False
    gender: Literal["female", "male", "neutral"] | None = None
    language_codes: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    audio: AudioDefaults = Field(default_factory=AudioDefaults)
    provider_preferences: list[ProviderVoice] = Field(min_length=1)


class RateCap(_Strict):
    daily_requests: int = Field(ge=1)
    concurrent_jobs: int = Field(ge=1)


class Catalog(_Strict):
    """The whole of ``configs/tts_providers.yaml``, validated."""

    version: Literal["v1"]
    priority_profiles: dict[Literal["quality", "latency", "cost", "balanced"], ProfileWeights]
    providers: dict[str, Provider] = Field(min_length=1)
    voices: dict[str, Voice] = Field(min_length=1)
    rate_caps: dict[Literal["tier1", "tier2", "fixture"], RateCap]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        for name, voice in self.voices.items():
            for pref in voice.provider_preferences:
                if pref.provider not in self.providers:
                    raise ValueError(f"voice {name}: unknown provider {pref.provider!r}")
        for pid, provider in self.providers.items():
            if provider.defaults.voice not in self.voices:
                raise ValueError(f"provider {pid}: default voice {provider.defaults.voice!r}")
        defaults = [name for name, voice in self.voices.items() if voice.default]
        if len(defaults) > 1:
            raise ValueError(f"more than one default voice: {', '.join(defaults)}")
        return self

    @property
    def default_voice(self) -> str:
        return next((n for n, v in self.voices.items() if v.default), next(iter(self.voices)))


@functools.lru_cache(maxsize=8)
def _load_file(path: str, stamp: tuple[int, int]) -> Catalog:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = load_yaml(handle)
        return Catalog.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}".splitlines()[0]) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None


def load_catalog(settings: Settings | None = None) -> Catalog:
    """The validated catalog (re-read only when the file changes).

    Raises:
        ConfigError: the file is not valid YAML or does not match the catalog's schema.
    """
    path = config_path("tts_providers.yaml", settings)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"TTS provider catalog not found: {path}") from exc
    return _load_file(str(path), (stat.st_mtime_ns, stat.st_size))


def _voice(catalog: Catalog, voice_id: str) -> Voice:
    voice = catalog.voices.get(voice_id)
    if voice is None:
        known = ", ".join(sorted(catalog.voices))
        raise TTSInvalidInputError(f"unknown voice {voice_id!r} (known voices: {known})")
    return voice


def _provider(catalog: Catalog, provider: str) -> Provider:
    if provider not in catalog.providers:
        known = ", ".join(sorted(catalog.providers))
        raise TTSInvalidInputError(f"unknown TTS provider {provider!r} (known: {known})")
    return catalog.providers[provider]


def provider_for(profile_or_id: str, settings: Settings | None = None) -> str:
    """The catalog provider id behind a provider profile (``preview`` → ``espeak-local``).

    Also accepts a provider id itself, or a fixture alias (``fixture-tts`` → the fixture).

    Raises:
        TTSInvalidInputError: nothing in the catalog answers to ``profile_or_id``.
    """
    catalog = load_catalog(settings)
    if profile_or_id in catalog.providers:
        return profile_or_id
    by_profile = [
        pid
        for pid, p in catalog.providers.items()
        if p.profile == profile_or_id and (p.available or profile_or_id == "full")
    ]
    if by_profile:
        return by_profile[0]
    fixtures = [pid for pid, p in catalog.providers.items() if p.tier == "fixture"]
    aliases = {p.fixture_alias for p in catalog.providers.values()}
    if profile_or_id in aliases and fixtures:
        return fixtures[0]
    known = ", ".join(sorted(catalog.providers))
    raise TTSInvalidInputError(f"no TTS provider for {profile_or_id!r} (known: {known})")


def _preference(voice_id: str, voice: Voice, provider: str) -> ProviderVoice:
    for pref in voice.provider_preferences:
        if pref.provider == provider:
            return pref
    has = ", ".join(p.provider for p in voice.provider_preferences)
    raise TTSInvalidInputError(f"voice {voice_id!r} has no {provider} voice (it has: {has})")


def _metadata(voice_id: str, voice: Voice, pid: str, provider: Provider) -> VoiceMetadata:
    pref = _preference(voice_id, voice, pid)
    return VoiceMetadata(
        voice_id=voice_id,
        provider=pid,
        display_name=voice.display_name,
        provider_voice_id=pref.voice_id,
        language_codes=list(voice.language_codes),
        features=list(dict.fromkeys([*provider.features, *voice.features])),
        sample_rate=voice.audio.sample_rate,
        bit_depth=voice.audio.bit_depth,
        watermarked=provider.watermarking,
        cost_estimate_usd_per_1s=provider.defaults.cost_usd_per_1s,
        quality_score=provider.defaults.quality_score,
    )


def get_voice_metadata(
    voice_id: str, provider: str | None = None, *, settings: Settings | None = None
) -> VoiceMetadata:
    """Metadata of a logical voice, as ``provider`` speaks it.

    Args:
        provider: a catalog provider id; default, the voice's first preferred provider that
            is available.

    Raises:
        TTSInvalidInputError: unknown voice (the message names the known ones) or provider.
    """
    catalog = load_catalog(settings)
    voice = _voice(catalog, voice_id)
    if provider is None:
        prefs = voice.provider_preferences
        usable = [p for p in prefs if catalog.providers[p.provider].available]
        provider = (usable or prefs)[0].provider
    return _metadata(voice_id, voice, provider, _provider(catalog, provider))


def list_available_voices(
    provider: str | None = None, *, settings: Settings | None = None
) -> list[VoiceMetadata]:
    """Every voice a provider can speak; without ``provider``, of every available provider.

    Raises:
        TTSInvalidInputError: ``provider`` is not in the catalog.
    """
    catalog = load_catalog(settings)
    if provider is not None:
        _provider(catalog, provider)
    out: list[VoiceMetadata] = []
    for voice_id, voice in catalog.voices.items():
        for pref in voice.provider_preferences:
            p = catalog.providers[pref.provider]
            if pref.provider == provider or (provider is None and p.available):
                out.append(_metadata(voice_id, voice, pref.provider, p))
    return out


def provider_voice(
    voice_id: str,
    provider: str,
    *,
    language: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The explicit arguments ``provider``'s backend needs to speak ``voice_id``.

    For espeak-local: ``{"espeak_voice": "en+f3", "provider_voice_id": "en+f3",
    "rate_wpm": 170, "pitch": 60, "pitch_range": 60, "sample_rate": 24000}``.

    ``language`` (a plan's ``voice.language``) goes to a provider that takes the language
    as an option of its own (its ``language_option``: chatterbox-pro's ``language_id``), as
    the primary language (``zh-CN`` → ``zh``); the others get it from tts_agent's opts.

    Raises:
        TTSInvalidInputError: unknown voice or provider, or the voice has no entry for it.
    """
    catalog = load_catalog(settings)
    voice = _voice(catalog, voice_id)
    info = _provider(catalog, provider)
    pref = _preference(voice_id, voice, provider)
    args: dict[str, Any] = {
        **pref.options,
        "sample_rate": voice.audio.sample_rate,
        "provider_voice_id": pref.voice_id,
        info.voice_option: pref.voice_id,
    }
    for name in ("rate_wpm", "pitch", "pitch_range"):
        value = getattr(pref, name)
        if value is not None:
            args[name] = value
    if voice.audio.speed != 1.0:
        args["speed"] = voice.audio.speed
    if language and info.language_option:
        args[info.language_option] = _primary_language(language)
    return args


# ------------------------------------------------------------------------------ languages

# language tags that name the same language as a voice's code does (espeak's Mandarin is cmn)
_LANGUAGE_ALIASES = {"cmn": "zh", "zho": "zh", "chi": "zh", "spa": "es", "iw": "he", "jp": "ja"}


def _tag(code: str) -> str:
    """A language tag in one spelling: lower case, ``-`` between subtags (``zh-cn``)."""
    return code.strip().replace("_", "-").lower()


def _primary_language(code: str) -> str:
    primary = _tag(code).split("-")[0]
    return _LANGUAGE_ALIASES.get(primary, primary)


def primary_language(code: str) -> str:
    """The primary language of a tag, in one spelling (``zh-CN`` → ``zh``, ``cmn`` → ``zh``)."""
    return _primary_language(code)


def voice_language(voice_id: str, *, settings: Settings | None = None) -> str | None:
    """The primary language (``es``) a logical voice speaks, from its first language code.

    Raises:
        TTSInvalidInputError: unknown voice.
    """
    voice = _voice(load_catalog(settings), voice_id)
    return _primary_language(voice.language_codes[0]) if voice.language_codes else None


def languages(*, settings: Settings | None = None) -> list[str]:
    """The primary languages (``en``, ``es``, ``zh``, ...) that have a voice, catalog order."""
    found: dict[str, None] = {}
    for voice in load_catalog(settings).voices.values():
        for code in voice.language_codes:
            found.setdefault(_primary_language(code))
    return list(found)


def voice_for_language(
    language: str | None, gender: str | None = None, *, settings: Settings | None = None
) -> str:
    """The logical voice that narrates in ``language`` (a tag: ``es``, ``es-MX``, ``zh-CN``).

    A voice whose code is the tag itself (``en-GB``) beats one of the same language
    (``en-US``); ``gender`` (female, male, neutral) is honoured when the language has a voice
    of it; among equals the catalog's default voice, then catalog order. A language without
    a voice (or none given) gets the catalog's default voice, ``narrator``.
    """
    catalog = load_catalog(settings)
    if not language or not language.strip():
        return catalog.default_voice
    tag, primary = _tag(language), _primary_language(language)
    ranked: list[tuple[int, int, tuple[bool, int], str]] = []
    for order, (voice_id, voice) in enumerate(catalog.voices.items()):
        codes = [_tag(c) for c in voice.language_codes]
        if not any(_primary_language(c) == primary for c in codes):
            continue
        wrong_gender = gender is not None and voice.gender != gender
        ranked.append(
            (int(wrong_gender), int(tag not in codes), (not voice.default, order), voice_id)
        )
    return min(ranked)[3] if ranked else catalog.default_voice
