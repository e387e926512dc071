"""Which provider backs each FunctionTool: profiles, overrides and the SMOKE_* gates.

A profile (fixture, preview, full) is a default provider per tool. Precedence, highest
first: the command line (``--provider TOOL=PROFILE``), the config file (``providers:``
in sparkle.yaml), the spec's SMOKE_* flags (which switch their tool to ``full``), then the
profile. A provider that is not built, or whose package is missing, fails with one line
naming what is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from sparkle_motion.config import Settings, get_settings
from sparkle_motion.errors import ConfigError, MissingDependencyError

TOOLS = (
    "images_sdxl",
    "tts_chatterbox",
    "videos_wan",
    "lipsync_wav2lip",
    "qa_qwen2vl",
    "assemble_ffmpeg",
)
PROFILES = ("fixture", "preview", "full")
SMOKE_GATES = {
    "images_sdxl": "SMOKE_ADK",
    "videos_wan": "SMOKE_ADK",
    "tts_chatterbox": "SMOKE_TTS",
    "qa_qwen2vl": "SMOKE_QA",
    "lipsync_wav2lip": "SMOKE_LIPSYNC",
}
# module of each (tool, profile) backend; absent = not built yet
_BACKENDS: dict[tuple[str, str], str] = {
    ("images_sdxl", "fixture"): "sparkle_motion.function_tools.images_sdxl.fixture",
    ("tts_chatterbox", "fixture"): "sparkle_motion.function_tools.tts_chatterbox.fixture",
    ("videos_wan", "fixture"): "sparkle_motion.function_tools.videos_wan.fixture",
    ("lipsync_wav2lip", "fixture"): "sparkle_motion.function_tools.lipsync_wav2lip.fixture",
    ("qa_qwen2vl", "fixture"): "sparkle_motion.function_tools.qa_qwen2vl.fixture",
    ("images_sdxl", "preview"): "sparkle_motion.function_tools.images_sdxl.preview",
    ("images_sdxl", "full"): "sparkle_motion.function_tools.images_sdxl.sdxl",
    ("videos_wan", "preview"): "sparkle_motion.function_tools.videos_wan.preview",
    ("lipsync_wav2lip", "preview"): "sparkle_motion.function_tools.lipsync_wav2lip.preview",
    ("qa_qwen2vl", "preview"): "sparkle_motion.function_tools.qa_qwen2vl.preview",
    ("tts_chatterbox", "preview"): "sparkle_motion.function_tools.tts_chatterbox.preview",
}
# ``id@version`` of each backend (its PROVIDER_ID and VERSION, part of every step's cache
# key), so that a run whose steps are all cached imports no backend (and none of numpy,
# Pillow, the storyboard, torch). A test holds this table to the modules' own constants.
_VERSIONS: dict[tuple[str, str], str] = {
    ("images_sdxl", "fixture"): "images_sdxl/fixture@1",
    ("tts_chatterbox", "fixture"): "tts_chatterbox/fixture@1",
    ("videos_wan", "fixture"): "videos_wan/fixture@4",
    ("lipsync_wav2lip", "fixture"): "lipsync_wav2lip/fixture@5-3",
    ("qa_qwen2vl", "fixture"): "qa_qwen2vl/fixture@1",
    ("images_sdxl", "preview"): "images_sdxl/preview@1",
    ("images_sdxl", "full"): "images_sdxl/sdxl@1",
    ("videos_wan", "preview"): "videos_wan/preview@3",
    ("lipsync_wav2lip", "preview"): "lipsync_wav2lip/preview@3",
    ("qa_qwen2vl", "preview"): "qa_qwen2vl/preview@1",
    ("tts_chatterbox", "preview"): "tts_chatterbox/preview@2",
}
# packages a backend needs, checked before it is imported
_REQUIRES: dict[tuple[str, str], tuple[str, ...]] = {
    ("images_sdxl", "full"): ("torch", "diffusers", "transformers"),
}
_INSTALL_HINT = {
    "full": "pip install 'sparkle-motion[full]'",
}


def parse_overrides(values: list[str] | None) -> dict[str, str]:
    """``["images_sdxl=full", ...]`` from the command line to a mapping, checked."""
    overrides: dict[str, str] = {}
    for value in values or []:
        tool, sep, profile = value.partition("=")
        tool, profile = tool.strip(), profile.strip()
        if not sep or tool not in TOOLS or profile not in PROFILES:
            raise ConfigError(
                f"--provider {value!r}: use TOOL=PROFILE with TOOL one of {', '.join(TOOLS)} "
                f"and PROFILE one of {', '.join(PROFILES)}"
            )
        overrides[tool] = profile
    return overrides


def resolve_providers(
    profile: str | None = None,
    overrides: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> dict[str, str]:
    """The profile each tool runs under, after config, SMOKE flags and overrides."""
    settings = settings or get_settings()
    profile = profile or settings.profile
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (use {', '.join(PROFILES)})")
    chosen = dict.fromkeys(TOOLS, profile)
    for tool, flag in SMOKE_GATES.items():
        if settings.smoke_enabled(flag) and profile != "fixture":
            chosen[tool] = "full"
    for source in (settings.providers, overrides or {}):
        for tool, value in source.items():
            if tool not in TOOLS or value not in PROFILES:
                raise ConfigError(f"providers: {tool}={value} is not a known tool/profile")
            chosen[tool] = value
    chosen["assemble_ffmpeg"] = "ffmpeg"  # the same real ffmpeg in every profile
    return chosen


def _installed(package: str) -> bool:
    """Whether ``package`` can be imported (a broken install counts as missing)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def backend(tool: str, profile: str) -> ModuleType:
    """Import the backend module of ``tool`` under ``profile``, or say what is missing."""
    return importlib.import_module(_available(tool, profile))


def check_backend(tool: str, profile: str) -> str:
    """The backend module's name once everything it needs is known to be here (nothing
    is imported); one-line MissingDependencyError otherwise."""
    return _available(tool, profile)


def _available(tool: str, profile: str) -> str:
    """The backend module's name, once what it needs is known to be here (nothing is
    imported); MissingDependencyError in one line otherwise."""
    module = _BACKENDS.get((tool, profile))
    if module is None:
        built = [p for p in PROFILES if (tool, p) in _BACKENDS]
        raise MissingDependencyError(
            f"{tool} has no {profile} provider yet (available: {', '.join(built) or 'none'})",
            hint=f"use --provider {tool}={built[0]}" if built else None,
        )
    for package in _REQUIRES.get((tool, profile), ()):
        if not _installed(package):
            raise MissingDependencyError(
                f"{tool} ({profile}) needs the {package} package",
                hint=_INSTALL_HINT.get(profile),
            )
    return module


def provider_version(tool: str, profile: str) -> str:
    """``id@version`` of the backend behind ``tool`` under ``profile`` (part of cache keys)."""
    known = _VERSIONS.get((tool, profile))
    if known is not None and _BACKENDS.get((tool, profile)) is not None:
        _available(tool, profile)
        return known
    module = backend(tool, profile)
    return f"{module.PROVIDER_ID}@{module.VERSION}"


def check_providers(providers: dict[str, str]) -> None:
    """Fail before any work when a chosen provider cannot be loaded."""
    missing = [
        (tool, profile)
        for tool, profile in providers.items()
        if tool != "assemble_ffmpeg" and (tool, profile) not in _BACKENDS
    ]
    profiles = {profile for _, profile in missing}
    if len(missing) > 1 and len(profiles) == 1:
        built = sorted({p for (_, p) in _BACKENDS})
        raise MissingDependencyError(
            f"the {profiles.pop()} profile is not built yet (available: {', '.join(built)})",
            hint="use --profile fixture",
        )
    for tool, profile in providers.items():
        if tool != "assemble_ffmpeg":
            _available(tool, profile)
