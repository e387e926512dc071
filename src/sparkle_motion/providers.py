"""Which provider backs each FunctionTool: profiles, overrides and the SMOKE_* gates.

A profile (fixture, preview, full) is a default provider per tool. Precedence, highest
first: the command line (``--provider TOOL=PROFILE``), the config file (``providers:``
in sparkle.yaml), the spec's SMOKE_* flags (which switch their tool to ``full``), then the
profile. A provider that is not built, or whose package is missing, fails with one line
naming what is missing.

This is the one place that knows what each backend needs: packages (``_REQUIRES``), what a
package check cannot see (``_CHECKS``: interpreters, pinned versions), and the weights a
plan's steps name (``_HUB_WEIGHTS``: under the models root, in the hub cache, or a hub that
answers). ``check_providers`` asks all of it once, before any step runs, and names every
missing piece in one block instead of each step failing in turn. Chatterbox
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
from dataclasses import dataclass
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
    ("lipsync_wav2lip", "full"): "sparkle_motion.function_tools.lipsync_wav2lip.full",
}
# ``id@version`` of each backend (its PROVIDER_ID and VERSION, part of every step's cache
# key), so that a run whose steps are all cached imports no backend (and none of numpy,
# Pillow, the storyboard, torch). A test holds this table to the modules' own constants.
_VERSIONS: dict[tuple[str, str], str] = {
    ("images_sdxl", "fixture"): "images_sdxl/fixture@1",
    ("tts_chatterbox", "fixture"): "tts_chatterbox/fixture@1",
    ("videos_wan", "fixture"): "videos_wan/fixture@5",
    ("lipsync_wav2lip", "fixture"): "lipsync_wav2lip/fixture@5-3",
    ("qa_qwen2vl", "fixture"): "qa_qwen2vl/fixture@1",
    ("images_sdxl", "preview"): "images_sdxl/preview@3",
    ("images_sdxl", "full"): "images_sdxl/sdxl@1",
    ("videos_wan", "preview"): "videos_wan/preview@7",
    ("videos_wan", "full"): "videos_wan/full@1",
    ("lipsync_wav2lip", "preview"): "lipsync_wav2lip/preview@3",
    ("qa_qwen2vl", "preview"): "qa_qwen2vl/preview@1",
    ("qa_qwen2vl", "full"): "qa_qwen2vl/full@1",
    ("tts_chatterbox", "preview"): "tts_chatterbox/preview@2",
    ("tts_chatterbox", "full"): "tts_chatterbox/full@1",
    ("lipsync_wav2lip", "full"): "lipsync_wav2lip/full@1-5c90fa9b4a2c",
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


def hub_weights_missing(
    tool: str, ref: str, install: str, marker: str = "model_index.json"
) -> str | None:
    """None when the weights ``ref`` names are here or can be had: a local folder or file (an
    absolute path, or a path under the models root), a hub id in the cache, or a hub id the hub
    can give (it answers from here); else the one line saying where to put them. Asked once,
    up front, so a machine without network does not retry the hub step after step."""
    root = Path(get_settings().models_root)
    local = Path(ref).expanduser()
    if local.is_absolute():
        if local.exists():
            return None
        return f"{tool} (full) needs weights at {local}, which does not exist: {install}"
    if (root / ref).exists():
        return None
    from sparkle_motion.utils import hf_hub

    if hf_hub.cached(ref, marker):
        return None
    if hf_hub.reachable():
        return None  # from_pretrained downloads it by hub id on first use
    why = "HF_HUB_OFFLINE is set" if hf_hub.offline() else "the hub cannot be reached from here"
    return (
        f"{tool} (full) needs weights, and {ref} is neither under {root} "
        f"(SPARKLE_MODELS_DIR) nor in the Hugging Face cache ({why}): {install}"
    )


def _sdxl_default() -> str:
    from sparkle_motion.gpu.loading import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS["sdxl"]


_HUB_INSTALL = (
    "get the weights once: `hf download {ref}` (the Hugging Face cache), or put that diffusers"
    " folder under SPARKLE_MODELS_DIR as {ref}; a step's opts.model_id names other weights"
)
# backends whose weights come by hub id or from the models root (a step may name others in
# opts.model_id): the default, the install line, the file that marks a complete copy
_HUB_WEIGHTS: dict[tuple[str, str], tuple[Callable[[], str], str, str]] = {
    ("images_sdxl", "full"): (_sdxl_default, _HUB_INSTALL, "model_index.json"),
    ("videos_wan", "full"): (lambda: WAN_DEFAULT_WEIGHTS, WAN_INSTALL, "model_index.json"),
    ("qa_qwen2vl", "full"): (lambda: QWEN_DEFAULT_WEIGHTS, "{install}", "config.json"),
}


def _weights_missing(tool: str, profile: str, refs: list[str | None]) -> str | None:
    known = _HUB_WEIGHTS.get((tool, profile))
    if known is None:
        return None
    default, install, marker = known
    for ref in dict.fromkeys(r or default() for r in refs or [None]):
        line = install.format(ref=ref, install=QWEN_INSTALL)
        problem = hub_weights_missing(tool, ref, line, marker=marker)
        if problem:
            return problem
    return None


# ------------------------------------------------------------------------- Wav2Lip

WAV2LIP_DIR_ENV = "SPARKLE_WAV2LIP_DIR"
WAV2LIP_PYTHON_ENV = "SPARKLE_WAV2LIP_PYTHON"
WAV2LIP_REPO = "https://github.com/Rudrabha/Wav2Lip"
# master of 2025-04-19; inference.py and face_detection/ unchanged since 2020-11-16
WAV2LIP_COMMIT = "5c90fa9b4a2c2a37d0b4ebf7633ac41534eb9941"
WAV2LIP_CHECKPOINT = "wav2lip/wav2lip_gan.pth"  # under the models root
WAV2LIP_FACE_DETECTOR = "face_detection/detection/sfd/s3fd.pth"  # inside the checkout
WAV2LIP_CHECKPOINT_URL = f"{WAV2LIP_REPO}#getting-the-weights"
WAV2LIP_S3FD_URL = "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth"
WAV2LIP_INSTALL = (
    f"git clone {WAV2LIP_REPO} && git -C Wav2Lip checkout {WAV2LIP_COMMIT[:12]}, "
    f"set {WAV2LIP_DIR_ENV} to that folder and {WAV2LIP_PYTHON_ENV} to a Python with its "
    "requirements (torch, opencv-python, librosa, scipy, tqdm); see docs/lipsync_wav2lip.md"
)


@dataclass(frozen=True)
class Wav2LipSetup:
    """Where the pinned Wav2Lip checkout, its interpreter and its two weight files are."""

    dir: Path
    python: str
    checkpoint: Path
    face_detector: Path

    def as_opts(self) -> dict[str, str]:
        return {"wav2lip_dir": str(self.dir), "wav2lip_python": self.python}


def wav2lip_checkpoint_path(
    models_root: Path | str, checkpoint: str | None, checkout: Path
) -> Path:
    """``opts.checkpoint_path`` (or the default) as a file under the models root or the
    checkout; PlanSchemaError naming the field when it points anywhere else."""
    from sparkle_motion.errors import PlanSchemaError

    root = Path(models_root).expanduser().resolve()
    value = checkpoint or WAV2LIP_CHECKPOINT
    if not isinstance(value, str) or value.startswith("-") or "\x00" in value:
        raise PlanSchemaError(f"{value!r} is not a path", field="opts.checkpoint_path")
    path = Path(value).expanduser()
    resolved = (path if path.is_absolute() else root / path).resolve()
    if not (resolved.is_relative_to(root) or resolved.is_relative_to(checkout.resolve())):
        raise PlanSchemaError(
            f"{value!r} is outside the models root {root} and the Wav2Lip checkout",
            field="opts.checkpoint_path",
            stage="step",
        )
    return resolved


def wav2lip_setup(
    wav2lip_dir: str | None = None,
    python: str | None = None,
    models_root: Path | str | None = None,
    checkpoint: str | None = None,
) -> Wav2LipSetup:
    """The Wav2Lip checkout (``SPARKLE_WAV2LIP_DIR``), its interpreter
    (``SPARKLE_WAV2LIP_PYTHON``, default this one), the checkpoint (``opts.checkpoint_path``
    or ``<models root>/wav2lip/wav2lip_gan.pth``) and s3fd.pth, all checked to be there.

    Raises:
        MissingDependencyError: one line saying what to get and where to put it.
    """
    import sys

    where = wav2lip_dir or os.environ.get(WAV2LIP_DIR_ENV, "").strip()
    if not where:
        raise MissingDependencyError(
            f"lipsync_wav2lip (full) needs a Wav2Lip checkout, and {WAV2LIP_DIR_ENV} is not "
            f"set: {WAV2LIP_INSTALL}"
        )
    checkout = Path(where).expanduser().resolve()
    if not (checkout / "inference.py").is_file():
        raise MissingDependencyError(
            f"lipsync_wav2lip (full): {WAV2LIP_DIR_ENV}={where} has no inference.py: "
            f"{WAV2LIP_INSTALL}"
        )
    exe = python or os.environ.get(WAV2LIP_PYTHON_ENV, "").strip() or sys.executable
    exe_path = Path(exe).expanduser()
    if not (exe_path.is_file() and os.access(exe_path, os.X_OK)):
        raise MissingDependencyError(
            f"lipsync_wav2lip (full): {WAV2LIP_PYTHON_ENV}={exe} is not an executable file "
            "(a Python with Wav2Lip's requirements installed)"
        )
    detector = checkout / WAV2LIP_FACE_DETECTOR
    if not detector.is_file():
        raise MissingDependencyError(
            f"lipsync_wav2lip (full) needs the s3fd face detector at {detector}: download "
            f"{WAV2LIP_S3FD_URL} and save it there as s3fd.pth (nothing downloads on its own)"
        )
    if models_root is None:
        models_root = get_settings().models_root
    ckpt = wav2lip_checkpoint_path(models_root, checkpoint, checkout)
    if not ckpt.is_file():
        raise MissingDependencyError(
            f"lipsync_wav2lip (full) needs the Wav2Lip checkpoint at {ckpt}: get "
            f"wav2lip_gan.pth (or wav2lip.pth) from the weights table of {WAV2LIP_CHECKPOINT_URL}"
            " and put it there, or name another under SPARKLE_MODELS_DIR in opts.checkpoint_path"
        )
    return Wav2LipSetup(checkout, str(exe_path), ckpt, detector)


def _wav2lip_missing() -> str | None:
    from sparkle_motion.errors import SparkleError

    try:
        wav2lip_setup()
    except SparkleError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- Qwen2-VL

QWEN_DEFAULT_WEIGHTS = "Qwen/Qwen2-VL-7B-Instruct"
QWEN_INSTALL = (
    f"get them once with `hf download {QWEN_DEFAULT_WEIGHTS}`, or put that folder under "
    f"SPARKLE_MODELS_DIR as {QWEN_DEFAULT_WEIGHTS} (docs/qa_qwen2vl.md)"
)


# what a backend needs that a package check cannot see: None, or the line saying what
_CHECKS: dict[tuple[str, str], Callable[[], str | None]] = {
    ("tts_chatterbox", "full"): _chatterbox_missing,
    ("lipsync_wav2lip", "full"): _wav2lip_missing,
}


# ------------------------------------------------------------ `sparkle-motion models`

WAV2LIP_GAN_URL = (
    "https://drive.google.com/file/d/15G3U08c8xsCkOqQxE38Z2XXDnPcOptNk/view?usp=share_link"
)
WAV2LIP_PLAIN_URL = (
    "https://drive.google.com/drive/folders/153HLrqlBNxzZcHi17PEvP09kkAfzRshM?usp=share_link"
)
# the full backends by the names ``sparkle-motion models`` uses: (tool, where weights go)
MODEL_BACKENDS: dict[str, tuple[str, str]] = {
    "sdxl": ("images_sdxl", "hub (stabilityai/stable-diffusion-xl-base-1.0) or SPARKLE_MODELS_DIR"),
    "wan": ("videos_wan", f"hub cache or SPARKLE_MODELS_DIR/{WAN_DEFAULT_WEIGHTS}"),
    "chatterbox": ("tts_chatterbox", "hub (ResembleAI/chatterbox) or SPARKLE_MODELS_DIR"),
    "wav2lip": (
        "lipsync_wav2lip",
        f"SPARKLE_MODELS_DIR/{WAV2LIP_CHECKPOINT}; s3fd.pth in the checkout",
    ),
    "qwen2vl": ("qa_qwen2vl", f"hub cache or SPARKLE_MODELS_DIR/{QWEN_DEFAULT_WEIGHTS}"),
}


@dataclass(frozen=True)
class ModelStatus:
    name: str
    tool: str
    problem: str | None  # None: installed
    weights: str


def model_status(name: str) -> ModelStatus:
    """Whether the full backend ``name`` (a key of MODEL_BACKENDS) can run here, by the
    same check a run makes before any work."""
    tool, weights = MODEL_BACKENDS[name]
    try:
        _available(tool, "full", [None])  # the default weights
        problem = None
    except MissingDependencyError as exc:
        problem = str(exc)
    return ModelStatus(name, tool, problem, weights)


def wav2lip_instructions() -> list[str]:
    """Where to get Wav2Lip's code and weights and exactly where each goes (nothing here
    downloads anything)."""
    root = get_settings().models_root
    checkout = os.environ.get(WAV2LIP_DIR_ENV, "").strip()
    where = Path(checkout).expanduser() if checkout else Path("$" + WAV2LIP_DIR_ENV)
    python = os.environ.get(WAV2LIP_PYTHON_ENV, "").strip()
    return [
        f"1. code: git clone {WAV2LIP_REPO} && git -C Wav2Lip checkout {WAV2LIP_COMMIT}, "
        f"then set {WAV2LIP_DIR_ENV} to that folder (now: {checkout or 'not set'})",
        f"2. interpreter: a Python with Wav2Lip's requirements (torch, opencv-python, "
        f"librosa<0.10, scipy, tqdm, numba) in {WAV2LIP_PYTHON_ENV} (now: "
        f"{python or 'not set: this interpreter'})",
        f"3. checkpoint: Wav2Lip + GAN (wav2lip_gan.pth) from {WAV2LIP_GAN_URL} (or Wav2Lip, "
        f"wav2lip.pth, from {WAV2LIP_PLAIN_URL}; both listed at {WAV2LIP_CHECKPOINT_URL}), "
        f"saved as {Path(root) / WAV2LIP_CHECKPOINT} (another file under the models root: "
        "name it in a step's opts.checkpoint_path)",
        f"4. face detector: {WAV2LIP_S3FD_URL}, saved as {where / WAV2LIP_FACE_DETECTOR}",
        "licence: research and non-commercial use only (Wav2Lip's README); weights are never "
        "committed and nothing downloads on its own",
    ]


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


def _closest(built: list[str]) -> str:
    """The profile to suggest instead: a real one (preview) before the test fixtures."""
    return next((p for p in reversed(built) if p != "fixture"), built[0])


def _available(tool: str, profile: str, weights: list[str | None] | None = None) -> str:
    """The backend module's name, once what it needs is known to be here (nothing is
    imported); MissingDependencyError in one line otherwise. ``weights``: the refs the
    plan's steps name (None: the backend's default), checked for diffusers backends."""
    module = _BACKENDS.get((tool, profile))
    if module is None:
        built = [p for p in PROFILES if (tool, p) in _BACKENDS]
        raise MissingDependencyError(
            f"{tool} has no {profile} provider yet (available: {', '.join(built) or 'none'})",
            hint=f"use --provider {tool}={_closest(built)}" if built else None,
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
    problem = problem or (_weights_missing(tool, profile, weights) if weights else None)
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


def provider_problems(
    providers: dict[str, str], weights: dict[str, list[str | None]] | None = None
) -> list[MissingDependencyError]:
    """What keeps each chosen provider from running here (packages, weights, a backend not
    built), one error per tool; nothing is imported or loaded. ``weights``: per tool, the
    weights the plan's steps name (None: the default); a tool absent there is not asked
    about weights (its steps are not in the plan)."""
    problems = []
    for tool, profile in providers.items():
        if tool == "assemble_ffmpeg":
            continue
        try:
            _available(tool, profile, (weights or {}).get(tool))
        except MissingDependencyError as exc:
            problems.append(exc)
    return problems


def check_providers(
    providers: dict[str, str], weights: dict[str, list[str | None]] | None = None
) -> None:
    """Fail before any work when a chosen provider cannot run: one error naming everything
    that is missing (a line per tool: what to install, where weights go)."""
    problems = provider_problems(providers, weights)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise MissingDependencyError(
            f"{len(problems)} of the chosen providers cannot run here",
            hint="weights go under SPARKLE_MODELS_DIR or into the Hugging Face cache",
            details={"missing": [str(p) for p in problems]},
        )
