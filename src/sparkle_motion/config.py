"""Settings: workspace, caps, planner model, profiles and the spec's SMOKE_* flags.

Precedence, highest first: explicit overrides (the command line), environment variables
(``SPARKLE_*``), the config file ``sparkle.yaml`` in ``SPARKLE_CONFIG_DIR``, then defaults.
Package data under ``sparkle_motion/configs`` (policy terms, TTS providers) can be replaced
file by file by putting a file of the same name in ``SPARKLE_CONFIG_DIR``.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sparkle_motion.errors import ConfigError

SMOKE_FLAGS = ("SMOKE_ADK", "SMOKE_ADAPTERS", "SMOKE_TTS", "SMOKE_QA", "SMOKE_LIPSYNC")

# env var -> settings field
_ENV_FIELDS = {
    "SPARKLE_HOME": "home",
    "SPARKLE_MODELS_DIR": "models_dir",
    "SPARKLE_CONFIG_DIR": "config_dir",
    "SPARKLE_MAX_STEPS": "max_steps",
    "SPARKLE_MAX_TOTAL_FRAMES": "max_total_frames",
    "SPARKLE_MAX_TEXT_LENGTH": "max_text_length",
    "SPARKLE_MAX_PLAN_BYTES": "max_plan_bytes",
    "SPARKLE_PLANNER_MODEL": "planner_model",
    "SPARKLE_PROFILE": "profile",
    "SPARKLE_RETRY_BACKOFF_BASE_S": "retry_backoff_base_s",
    "SPARKLE_GPU_SLOTS": "gpu_slots",
    "SPARKLE_CPU_SLOTS": "cpu_slots",
    "SPARKLE_EXECUTOR": "executor",
    "SPARKLE_STEP_QUEUE_BACKLOG_LIMIT": "step_queue_backlog_limit",
    "SPARKLE_API_RATE_PER_MIN": "api_rate_per_min",
    "SPARKLE_API_BURST": "api_burst",
}


def _default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("sparkle-motion", appauthor=False))


class QASettings(BaseModel):
    """The QA loop's knobs (``qa:`` in sparkle.yaml): how often a shot rejected for quality
    is rendered again, per step and across a whole run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_regenerations: int = Field(2, ge=0, description="New renders of one rejected step.")
    run_budget: int = Field(12, ge=0, description="New renders of rejected steps, whole run.")


class Settings(BaseModel):
    """Every tunable the runtime reads. Build with :func:`get_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(default_factory=_default_home, description="Workspace root.")
    models_dir: Path | None = Field(
        None, description="Root for local model weights; default <home>/models."
    )
    config_dir: Path | None = Field(None, description="Folder whose files override configs/.")
    max_steps: int = Field(1000, ge=1, description="Most steps one plan may have.")
    max_total_frames: int = Field(10_000, ge=1, description="Most video frames one plan may ask.")
    max_text_length: int = Field(2000, ge=16, description="Longest prompt/text/idea accepted.")
    max_plan_bytes: int = Field(2_000_000, ge=1024, description="Largest plan file accepted.")
    max_yaml_aliases: int = Field(64, ge=0, description="Most YAML aliases in one plan.")
    max_yaml_nodes: int = Field(200_000, ge=100, description="Most YAML nodes in one plan.")
    planner_model: str = Field(
        "offline-planner",
        description="gemini-*, a LiteLLM string (openai/..., ollama_chat/...) or offline-*.",
    )
    profile: str = Field("preview", description="Default provider profile.")
    providers: dict[str, str] = Field(
        default_factory=dict, description="Per-tool profile overrides (tool: profile)."
    )
    max_concurrent_image_renders: int = Field(4, ge=1)
    max_concurrent_video_chunk_renders: int = Field(2, ge=1)
    gpu_slots: int = Field(1, ge=1, description="Steps that may use the GPU at once.")
    cpu_slots: int = Field(0, ge=0, description="CPU-bound steps at once; 0 = CPU count.")
    executor: str = Field(
        "local",
        description="Where steps run: local (threads), process (worker processes) or ray.",
    )
    step_queue_backlog_limit: int = Field(100, ge=1)
    api_rate_per_min: float = Field(
        60.0, gt=0, description="The service's submissions per client per minute."
    )
    api_burst: int = Field(20, ge=1, description="The service's largest burst per client.")
    retry_max_attempts: int = Field(3, ge=1)
    retry_backoff_base_s: float = Field(1.0, ge=0)
    retry_backoff_multiplier: float = Field(2.0, ge=1)
    retry_jitter: float = Field(0.2, ge=0, le=1)
    heartbeat_interval_s: float = Field(2.0, gt=0)
    stale_heartbeat_s: float = Field(
        30.0, gt=0, description="A run owned on another host and silent this long is dead."
    )
    smoke: dict[str, bool] = Field(default_factory=dict, description="SMOKE_* flags.")
    qa: QASettings = Field(default_factory=QASettings, description="The QA loop (qa_loop.py).")

    @property
    def effective_cpu_slots(self) -> int:
        return self.cpu_slots or max(1, os.cpu_count() or 1)

    @property
    def models_root(self) -> Path:
        return (self.models_dir or self.home / "models").expanduser()

    def smoke_enabled(self, flag: str) -> bool:
        """True when ``flag`` (e.g. ``SMOKE_TTS``) or the catch-all ``SMOKE_ADAPTERS`` is on."""
        return bool(self.smoke.get(flag) or self.smoke.get("SMOKE_ADAPTERS"))


def load_yaml(text: Any) -> Any:
    """A trusted YAML config file's data (ours or the operator's): libyaml's C parser where
    it is installed, ten times faster than the pure-Python one. Plans, which come from users,
    go through validation's capped loader instead."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _read_config_file(config_dir: Path | None) -> dict[str, Any]:
    if config_dir is None:
        return {}
    path = Path(config_dir).expanduser() / "sparkle.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of setting: value")
    return data


def _env_snapshot() -> tuple[tuple[str, str], ...]:
    keys = (*_ENV_FIELDS, *SMOKE_FLAGS)
    return tuple((k, os.environ[k]) for k in keys if k in os.environ)


@functools.lru_cache(maxsize=32)
def _settings_for(
    env: tuple[tuple[str, str], ...], overrides: tuple[tuple[str, Any], ...]
) -> Settings:
    envd = dict(env)
    values: dict[str, Any] = {}
    config_dir = envd.get("SPARKLE_CONFIG_DIR") or dict(overrides).get("config_dir")
    values.update(_read_config_file(Path(config_dir) if config_dir else None))
    for var, field in _ENV_FIELDS.items():
        if var in envd and envd[var] != "":
            values[field] = envd[var]
    values["smoke"] = {flag: _truthy(envd[flag]) for flag in SMOKE_FLAGS if flag in envd}
    values.update(dict(overrides))
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"setting {where}: {err['msg']}") from None


def get_settings(**overrides: Any) -> Settings:
    """The current settings (env and config file are re-read when they change).

    Args:
        **overrides: field values that win over everything else (command-line options).
    """
    return _settings_for(_env_snapshot(), tuple(sorted(overrides.items())))


def config_path(name: str, settings: Settings | None = None) -> Path:
    """Path of a config file: ``SPARKLE_CONFIG_DIR/name`` if present, else the packaged one."""
    settings = settings or get_settings()
    if settings.config_dir is not None:
        candidate = Path(settings.config_dir).expanduser() / name
        if candidate.is_file():
            return candidate
    return Path(str(resources.files("sparkle_motion") / "configs" / name))
