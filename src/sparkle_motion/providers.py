"""Which provider backs each FunctionTool: profiles, overrides and the SMOKE_* gates.

A profile (fixture, preview, full) is a default provider per tool. Precedence, highest
first: the command line (``--provider TOOL=PROFILE``), the config file (``providers:``
in sparkle.yaml), the spec's SMOKE_* flags (which switch their tool to ``full``), then the
profile. A provider that is not built, or whose package is missing, fails with one line
naming what is missing.

This is the one place that knows what each backend needs: packages (``_REQUIRES``), and
what a package check cannot see (``_CHECKS``: interpreters, pinned versions). Chatterbox
(tts_chatterbox, full) runs in an interpreter of its own, ``SPARKLE_CHATTERBOX_PYTHON``
(a venv with ``pip install chatterbox-tts``), or in this one only when the installed
chatterbox-tts pins exactly the versions installed here (:func:`chatterbox_route`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
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
    ("videos_wan", "full"): "sparkle_motion.function_tools.videos_wan.full",
    ("lipsync_wav2lip", "preview"): "sparkle_motion.function_tools.lipsync_wav2lip.preview",
    ("qa_qwen2vl", "preview"): "sparkle_motion.function_tools.qa_qwen2vl.preview",
    ("qa_qwen2vl", "full"): "sparkle_motion.function_tools.qa_qwen2vl.full",
    ("tts_chatterbox", "preview"): "sparkle_motion.function_tools.tts_chatterbox.preview",
    ("tts_chatterbox", "full"): "sparkle_motion.function_tools.tts_chatterbox.full",
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
    ("images_sdxl", "preview"): "images_sdxl/preview@3",
    ("images_sdxl", "full"): "images_sdxl/sdxl@1",
    ("videos_wan", "preview"): "videos_wan/preview@4",
    ("videos_wan", "full"): "videos_wan/full@1",
    ("lipsync_wav2lip", "preview"): "lipsync_wav2lip/preview@3",
    ("qa_qwen2vl", "preview"): "qa_qwen2vl/preview@1",
    ("qa_qwen2vl", "full"): "qa_qwen2vl/full@1",
    ("tts_chatterbox", "preview"): "tts_chatterbox/preview@2",
    ("tts_chatterbox", "full"): "tts_chatterbox/full@1",
}
# packages a backend needs, checked before it is imported
_REQUIRES: dict[tuple[str, str], tuple[str, ...]] = {
    ("images_sdxl", "full"): ("torch", "diffusers", "transformers"),
    ("videos_wan", "full"): ("torch", "diffusers", "transformers", "ftfy"),
    ("qa_qwen2vl", "full"): ("torch", "transformers"),
}
_INSTALL_HINT = {
    "full": "pip install 'sparkle-motion[full]'",
}


# where a backend's weights go, said with a missing package (one line: all there is to get)
_WEIGHTS_HINT: dict[tuple[str, str], str] = {
    ("videos_wan", "full"): (
        "weights: Wan-AI/Wan2.1-I2V-14B-480P-Diffusers under SPARKLE_MODELS_DIR or by hub id"
    ),
    (
        "qa_qwen2vl",
        "full",
    ): "weights: Qwen/Qwen2-VL-7B-Instruct under SPARKLE_MODELS_DIR or by hub id",
}


# ------------------------------------------------------------------------- Chatterbox

CHATTERBOX_PYTHON_ENV = "SPARKLE_CHATTERBOX_PYTHON"
CHATTERBOX_INSTALL = (
    f"make a venv for it (python3.11 -m venv ~/.venvs/chatterbox && "
    f"~/.venvs/chatterbox/bin/pip install chatterbox-tts) and set "
    f"{CHATTERBOX_PYTHON_ENV}=~/.venvs/chatterbox/bin/python, or pip install chatterbox-tts "
    f"here only if its pins match this environment; weights: ResembleAI/chatterbox from the "
    f"Hugging Face hub on first use, or a checkpoint folder under SPARKLE_MODELS_DIR "
    f"(see docs/dependencies.md)"
)
_PROBE = (
    "import importlib.util as u, sys; "
    "sys.exit(0 if u.find_spec('chatterbox') and u.find_spec('torch') else 3)"
)


@functools.lru_cache(maxsize=8)
def _probe_interpreter(python: str, stamp: int) -> str | None:
    """None when ``python`` imports chatterbox and torch, else what is wrong (cached per
    interpreter file version)."""
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run: {type(exc).__name__}"
    return None if done.returncode == 0 else "has no chatterbox-tts (or torch) installed"


def chatterbox_pin_clashes() -> list[str]:
    """The exact pins (``name==version``) of the installed chatterbox-tts that this
    environment does not satisfy (``torch==2.6.0 (here 2.13.0)``)."""
    from importlib import metadata

    try:
        requirements = metadata.requires("chatterbox-tts") or []
    except metadata.PackageNotFoundError:
        return ["chatterbox-tts (its package metadata is missing)"]
    clashes = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        pin = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s,;]+)\s*", spec)
        if not pin:
            continue
        name, wanted = pin.groups()
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            clashes.append(f"{name}=={wanted} (not installed)")
            continue
        if have.split("+")[0] != wanted:
            clashes.append(f"{name}=={wanted} (here {have})")
    return clashes


def chatterbox_route() -> dict[str, str]:
    """How Chatterbox runs here: ``{"chatterbox_route": "worker", "chatterbox_python":
    PATH}`` (``SPARKLE_CHATTERBOX_PYTHON``) or ``{"chatterbox_route": "in_process"}``.

    Raises:
        MissingDependencyError: neither route works; one line naming both.
    """
    python = os.environ.get(CHATTERBOX_PYTHON_ENV, "").strip()
    if python:
        path = Path(python).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            problem = "is not an executable file"
        else:
            problem = _probe_interpreter(str(path), path.stat().st_mtime_ns)
        if problem:
            raise MissingDependencyError(
                f"tts_chatterbox (full): {CHATTERBOX_PYTHON_ENV}={python} {problem}",
                hint=CHATTERBOX_INSTALL,
            )
        return {"chatterbox_route": "worker", "chatterbox_python": str(path)}
    if _installed("chatterbox"):
        clashes = chatterbox_pin_clashes()
        if not clashes:
            return {"chatterbox_route": "in_process"}
        raise MissingDependencyError(
            "tts_chatterbox (full): the chatterbox-tts installed here pins "
            f"{', '.join(clashes[:3])}, which would break the other models",
            hint=CHATTERBOX_INSTALL,
        )
    raise MissingDependencyError(
        "tts_chatterbox (full) needs Chatterbox, which is not installed", hint=CHATTERBOX_INSTALL
    )


def _chatterbox_missing() -> str | None:
    try:
        chatterbox_route()
    except MissingDependencyError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------------------ Wan

WAN_DEFAULT_WEIGHTS = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"  # what a plan's shots use most
WAN_INSTALL = (
    f"get the weights once: `hf download {WAN_DEFAULT_WEIGHTS}` (the Hugging Face cache), or"
    f" put that diffusers folder under SPARKLE_MODELS_DIR as {WAN_DEFAULT_WEIGHTS}; a step's"
    " opts.model_id names other weights (docs/videos_wan.md)"
)


def _wan_weights_missing() -> str | None:
    """None when the default Wan weights are under the models root, in the hub cache, or
    can be downloaded (not offline); else the one line saying where to put them."""
    root = get_settings().models_root
    if (Path(root) / WAN_DEFAULT_WEIGHTS / "model_index.json").is_file():
        return None
    from sparkle_motion.utils import hf_hub

    if not hf_hub.offline():
        return None  # from_pretrained downloads it by hub id on first use
    cached = hf_hub.cached(WAN_DEFAULT_WEIGHTS)
    if cached:
        return None
    return (
        f"videos_wan (full) needs Wan weights, and {WAN_DEFAULT_WEIGHTS} is neither under "
        f"{root} (SPARKLE_MODELS_DIR) nor in the Hugging Face cache (HF_HUB_OFFLINE is set): "
        f"{WAN_INSTALL}"
    )


# --------------------------------------------------------------------------- Qwen2-VL

QWEN_DEFAULT_WEIGHTS = "Qwen/Qwen2-VL-7B-Instruct"


def _qwen_weights_missing() -> str | None:
    """None when the Qwen2-VL weights are under the models root, in the hub cache, or can
    be downloaded (not offline); else the one line saying where to put them."""
    root = get_settings().models_root
    if (Path(root) / QWEN_DEFAULT_WEIGHTS / "config.json").is_file():
        return None
    from sparkle_motion.utils import hf_hub

    if not hf_hub.offline() or hf_hub.cached(QWEN_DEFAULT_WEIGHTS, "config.json"):
        return None
    return (
        f"qa_qwen2vl (full) needs Qwen2-VL weights, and {QWEN_DEFAULT_WEIGHTS} is neither under "
        f"{root} (SPARKLE_MODELS_DIR) nor in the Hugging Face cache (HF_HUB_OFFLINE is set): "
        f"get them once with `hf download {QWEN_DEFAULT_WEIGHTS}`, or put that folder under "
        f"SPARKLE_MODELS_DIR as {QWEN_DEFAULT_WEIGHTS} (docs/qa_qwen2vl.md)"
    )


# what a backend needs that a package check cannot see: None, or the line saying what
_CHECKS: dict[tuple[str, str], Callable[[], str | None]] = {
    ("tts_chatterbox", "full"): _chatterbox_missing,
    ("videos_wan", "full"): _wan_weights_missing,
    ("qa_qwen2vl", "full"): _qwen_weights_missing,
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
                hint="; ".join(
                    h for h in (_INSTALL_HINT.get(profile), _WEIGHTS_HINT.get((tool, profile))) if h
                )
                or None,
            )
    check = _CHECKS.get((tool, profile))
    problem = check() if check is not None else None
    if problem:
        raise MissingDependencyError(problem)
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
