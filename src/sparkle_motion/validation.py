"""Plan validation in the spec's five stages.

1. parse      JSON or YAML, with caps on size, YAML aliases and nodes (a YAML "billion
              laughs" is refused before it expands)          -> PlanParseError
2. schema     fields present and of the right type            -> PlanSchemaError(stage="schema")
3. step       allowed types, numeric ranges, step references, cycles, duplicate ids, paths
              confined to the plan's folder, model weights by hub id or under the models
              root, custom handlers registered                -> PlanSchemaError(stage="step")
4. policy     disallowed content and free-text length         -> PlanPolicyViolation
5. resources  total video frames and step count against the caps, plus a runtime and
              GPU-memory estimate per step (the dry run reuses them) -> PlanResourceError
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yaml.events import AliasEvent

from sparkle_motion import estimates
from sparkle_motion.config import Settings, get_settings
from sparkle_motion.errors import PlanParseError, PlanResourceError, PlanSchemaError
from sparkle_motion.handlers import handler_names
from sparkle_motion.policy import check_plan_policy
from sparkle_motion.scenes import plan_scenes, untitled_narrations
from sparkle_motion.types import (
    HUB_ID_RE,
    STEP_LEVEL_ERROR_TYPES,
    STEP_TYPES,
    MoviePlan,
    PolicyDecision,
    ResourceEstimate,
    Step,
    is_step_ref,
)

# ----------------------------------------------------------------------- stage 1: parse


class _CappedYamlLoader(yaml.SafeLoader):
    """SafeLoader that counts nodes and aliases while composing, before anything expands."""

    def __init__(self, stream: str, max_aliases: int, max_nodes: int) -> None:
        super().__init__(stream)
        self._max_aliases, self._max_nodes = max_aliases, max_nodes
        self._aliases = self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self._max_aliases:
                raise PlanParseError(
                    f"YAML uses more than {self._max_aliases} aliases (*name); refusing to expand"
                )
        else:
            self._nodes += 1
            if self._nodes > self._max_nodes:
                raise PlanParseError(f"YAML has more than {self._max_nodes:,} nodes")
        return super().compose_node(parent, index)


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Number of nodes once aliases are expanded (memoised, so linear in the YAML)."""
    memo: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        if children_done:
            total = 1 + sum(memo[id(c)] for c in children)
            memo[id(node)] = total
            if total > limit:
                return total
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in memo)
    return memo[id(root)]


def _yaml_error_line(exc: yaml.YAMLError, text: str = "") -> str:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"line {line}, column {column}: character #x{char:04x} is not allowed in YAML"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    hint = ""
    if "mapping values are not allowed" in problem:
        hint = " (a value containing ': ' must be quoted)"
    return f"{where}{problem}{hint}"


def parse_plan_text(
    text: str | bytes,
    *,
    fmt: str | None = None,
    source: str = "plan",
    settings: Settings | None = None,
) -> Any:
    """Stage 1: JSON or YAML text to data, within the configured caps.

    Args:
        text: the document.
        fmt: "json" or "yaml"; guessed from the first character when None.
        source: what to call the document in errors (a file name).
    """
    settings = settings or get_settings()
    size = len(text)
    if size > settings.max_plan_bytes:
        raise PlanParseError(
            f"{source} is {size:,} bytes; the limit is {settings.max_plan_bytes:,}",
            hint="SPARKLE_MAX_PLAN_BYTES",
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PlanParseError(f"{source} is not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise PlanParseError(f"{source} is empty")
    if fmt is None:
        fmt = "json" if text.lstrip().startswith(("{", "[")) else "yaml"
    try:
        if fmt == "json":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise PlanParseError(
                    f"{source} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
                ) from None
        try:
            # The reader checks every character as it is built: a NUL byte or another
            # character YAML does not allow raises here, a parse error like any other.
            loader = _CappedYamlLoader(text, settings.max_yaml_aliases, settings.max_yaml_nodes)
        except yaml.YAMLError as exc:
            message = _yaml_error_line(exc, text)
            raise PlanParseError(f"{source} is not valid YAML: {message}") from None
        try:
            node = loader.get_single_node()
            if node is None:
                raise PlanParseError(f"{source} is empty")
            if _expanded_size(node, settings.max_yaml_nodes) > settings.max_yaml_nodes:
                raise PlanParseError(
                    f"{source} would expand to more than {settings.max_yaml_nodes:,} YAML nodes"
                    " through its aliases; refusing to expand"
                )
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise PlanParseError(f"{source} is not valid YAML: {_yaml_error_line(exc)}") from None
        finally:
            loader.dispose()
    except RecursionError:
        raise PlanParseError(f"{source} is nested too deeply") from None


# ------------------------------------------------------------------ stages 2-3: schema


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
            continue
        # drop the discriminated union's tag (steps.0.image.opts -> steps[0].opts)
        if item in STEP_TYPES and i > 0 and isinstance(loc[i - 1], int):
            continue
        parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "plan"


def _error_message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "type must be one of " + ", ".join(STEP_TYPES)
    ctx = err.get("ctx") or {}
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "less_than_equal": ("<=", "le"),
        "greater_than": (">", "gt"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        msg = f"must be {op} {ctx.get(key)}"
    elif kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        msg = "must not be empty"
    elif kind == "literal_error":
        msg = f"must be one of {ctx.get('expected')}"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
        msg = msg[:1].lower() + msg[1:]
    value = err.get("input")
    shows_value = kind in bounds or kind.startswith(("finite", "int_", "float_", "literal"))
    if shows_value and isinstance(value, int | float | str) and len(repr(value)) < 60:
        msg += f" (got {value!r})"
    return msg


def schema_error(exc: ValidationError) -> PlanSchemaError:
    """A pydantic ValidationError as one PlanSchemaError naming the first field at fault."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    ctx = first.get("ctx") or {}
    field = ctx.get("field") or _loc_to_field(tuple(first["loc"]))
    stage = "step" if first["type"] in STEP_LEVEL_ERROR_TYPES else "schema"
    message = _error_message(first)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    details = {
        "errors": [
            {
                "field": (e.get("ctx") or {}).get("field") or _loc_to_field(tuple(e["loc"])),
                "type": e["type"],
                "message": _error_message(e),
            }
            for e in errors
        ]
    }
    return PlanSchemaError(message, field=field, stage=stage, details=details)


def build_plan(data: Any) -> MoviePlan:
    """Stages 2-3 (in-plan): data to a normalised MoviePlan, or PlanSchemaError."""
    if isinstance(data, MoviePlan):
        return data
    if not isinstance(data, dict):
        raise PlanSchemaError(
            f"a plan must be a mapping of fields, not {type(data).__name__}", field="plan"
        )
    try:
        return MoviePlan.model_validate(data)
    except ValidationError as exc:
        raise schema_error(exc) from None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def resolve_plan_path(value: str, base_dir: Path) -> Path:
    """A plan path resolved against the plan's folder, refusing escapes (also via symlinks)."""
    root = base_dir.resolve()
    resolved = (root / value).resolve()
    if not _inside(resolved, root):
        raise PlanSchemaError(
            f"{value!r} resolves outside the plan's folder", stage="step", field=value
        )
    return resolved


def resolve_model_ref(value: str, settings: Settings) -> str | Path:
    """A model reference as a local folder under the models root, or a hub id string."""
    return resolve_model_path(value, settings.models_root)


def resolve_model_path(value: str, models_root: Path | str) -> str | Path:
    """:func:`resolve_model_ref` with the models root given (FunctionTools read no config:
    their agent passes the root)."""
    root = Path(models_root).expanduser().resolve()
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        resolved = candidate.resolve()
        if not _inside(resolved, root):
            raise PlanSchemaError(
                f"{value!r} is outside the models root {root}",
                stage="step",
                hint="put weights under SPARKLE_MODELS_DIR or use a Hugging Face id",
            )
        return resolved
    local = (root / value).resolve()
    if local.exists() and _inside(local, root):
        return local
    if HUB_ID_RE.match(value):
        return value
    raise PlanSchemaError(
        f"{value!r} is neither a Hugging Face id (org/name) nor a folder under the models "
        f"root {root}",
        stage="step",
    )


_MODEL_FIELDS = ("model_id", "refiner_model_id", "checkpoint_path", "face_det_checkpoint")


def check_plan_environment(
    plan: MoviePlan, *, base_dir: Path | None, settings: Settings
) -> list[str]:
    """Stage 3 (outside the plan): files, model weights, handlers. Returns warnings."""
    handlers: set[str] | None = None
    for name, member in (plan.cast or {}).items():
        where = f"cast.{name}"
        _check_voice(member.voice.id, f"{where}.voice.id", settings)
        if member.reference_audio and base_dir is not None:
            value = member.reference_audio
            resolved = resolve_plan_path_checked(value, base_dir, f"{where}.reference_audio")
            if not resolved.is_file():
                raise PlanSchemaError(
                    f"{value!r} does not exist in {base_dir}",
                    field=f"{where}.reference_audio",
                    stage="step",
                )
    music = plan.assemble_opts.music
    if music and base_dir is not None:
        resolved = resolve_plan_path_checked(music, base_dir, "assemble_opts.music")
        if not resolved.is_file():
            raise PlanSchemaError(
                f"{music!r} does not exist in {base_dir}",
                field="assemble_opts.music",
                stage="step",
            )
    for i, step in enumerate(plan.steps):
        where = f"steps[{i}]"
        paths = list(step.input_refs())
        if step.type == "lipsync" and step.out_path:
            paths.append(("out_path", step.out_path))
        for field, value in paths:
            if is_step_ref(value) or base_dir is None:
                continue
            resolved = resolve_plan_path_checked(value, base_dir, f"{where}.{field}")
            if field != "out_path" and not resolved.is_file():
                raise PlanSchemaError(
                    f"{value!r} does not exist in {base_dir}",
                    field=f"{where}.{field}",
                    stage="step",
                )
        for name in _MODEL_FIELDS:
            value = getattr(step.opts, name, None)
            if value:
                try:
                    resolve_model_ref(value, settings)
                except PlanSchemaError as exc:
                    exc.field = f"{where}.opts.{name}"
                    raise
        if step.type == "tts":
            _check_voice(step.voice.id, f"{where}.voice.id", settings)
            for j, line in enumerate(step.lines or []):
                if line.voice is not None:
                    _check_voice(line.voice.id, f"{where}.lines[{j}].voice.id", settings)
        if step.type == "custom":
            handlers = handler_names() if handlers is None else handlers
            if step.handler not in handlers:
                known = ", ".join(sorted(handlers)) or "none are registered"
                raise PlanSchemaError(
                    f"no custom handler named {step.handler!r} (registered: {known})",
                    field=f"{where}.handler",
                    stage="step",
                    hint="register it in the entry point group sparkle_motion.handlers",
                )
    return _order_warnings(plan)


def _check_voice(voice_id: str, field: str, settings: Settings) -> None:
    """A narration's voice must be one of the catalog's logical voices."""
    from sparkle_motion.voices import load_catalog

    known = load_catalog(settings).voices
    if voice_id not in known:
        raise PlanSchemaError(
            f"no voice named {voice_id!r} (voices: {', '.join(sorted(known))})",
            field=field,
            stage="step",
            hint="see sparkle_motion/configs/tts_providers.yaml",
        )


def resolve_plan_path_checked(value: str, base_dir: Path, field: str) -> Path:
    try:
        return resolve_plan_path(value, base_dir)
    except PlanSchemaError as exc:
        exc.field = field
        raise


def _order_warnings(plan: MoviePlan) -> list[str]:
    """Warn where the scene rule (visuals join the narration after them) looks accidental:
    a narration whose scene would have no picture gets a title card. The scenes are the
    timeline's own (``sparkle_motion.scenes``), so a lipsync that speaks a narration goes
    with that narration, which still plays."""
    if any(s.scene for s in plan.steps):
        return []
    return [
        f"narration {step_id!r} has no picture before it and will get a title card; "
        "scenes take the visuals *before* each narration (set opts.scene to group "
        "steps explicitly)"
        for step_id in untitled_narrations(plan_scenes(plan))
    ]


# -------------------------------------------------------------------- stage 5: resources

# GPU MiB by profile and step type (an 80 GB A100/H100 at default settings); the runtimes
# are estimates.py's, measured on this machine where it has run before.
_GPU_MB: dict[str, dict[str, int]] = {
    "full": {"image": 12_000, "tts": 4_000, "video": 60_000, "lipsync": 3_000},
}
WORDS_PER_SECOND = estimates.WORDS_PER_SECOND
estimate_speech_seconds = estimates.speech_seconds


def step_frames(step: Step) -> int:
    return step.opts.num_frames if step.type == "video" else 0


def estimate_step(
    step: Step, profile: str = "preview", rates: estimates.Rates | None = None
) -> ResourceEstimate:
    """Expected runtime (``rates``, default: the profile's first guess) and GPU memory for
    one step under ``profile``."""
    rates = rates or estimates.Rates.defaults(profile)
    return ResourceEstimate(
        step_id=step.id,
        step_type=step.type,
        profile=profile,
        estimated_runtime_s=round(rates.of(step.type) * estimates.work_units(step), 3),
        estimated_gpu_memory_mb=_GPU_MB.get(profile, {}).get(step.type, 0),
        frames=step_frames(step),
    )


def check_plan_resources(
    plan: MoviePlan, settings: Settings, profile: str | None = None
) -> list[ResourceEstimate]:
    """Stage 5: the caps, then one estimate per step."""
    if len(plan.steps) > settings.max_steps:
        raise PlanResourceError(
            f"plan has {len(plan.steps):,} steps; the cap is {settings.max_steps:,}",
            field="steps",
            hint="SPARKLE_MAX_STEPS",
        )
    total = sum(step_frames(s) for s in plan.steps)
    if total > settings.max_total_frames:
        raise PlanResourceError(
            f"plan asks for {total:,} video frames in all; the cap is "
            f"{settings.max_total_frames:,}",
            field="steps",
            hint="fewer or shorter video steps, or raise SPARKLE_MAX_TOTAL_FRAMES",
            details={"total_frames": total},
        )
    return [estimate_step(s, profile or settings.profile) for s in plan.steps]


# ----------------------------------------------------------------------- all stages


class PlanValidation(BaseModel):
    """A plan that passed all five stages, with what the stages found."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: MoviePlan
    warnings: list[str] = Field(default_factory=list)
    policy: list[PolicyDecision] = Field(default_factory=list)
    estimates: list[ResourceEstimate] = Field(default_factory=list)
    base_dir: Path | None = None


def validate_plan(
    source: str | bytes | dict[str, Any] | MoviePlan,
    *,
    base_dir: Path | str | None = None,
    settings: Settings | None = None,
    profile: str | None = None,
    fmt: str | None = None,
    source_name: str = "plan",
) -> PlanValidation:
    """Run all five stages on a plan given as text, data or a model.

    Args:
        source: JSON/YAML text, parsed data, or a MoviePlan.
        base_dir: the plan file's folder; relative paths resolve (and must stay) inside it.
            None skips the on-disk checks (a plan from the planner has no file paths).
        profile: the provider profile the estimates are for (default from settings).
    """
    settings = settings or get_settings()
    data = (
        parse_plan_text(source, fmt=fmt, source=source_name, settings=settings)
        if isinstance(source, str | bytes)
        else source
    )
    plan = build_plan(data)
    base = Path(base_dir) if base_dir is not None else None
    warnings = [*plan.warnings, *check_plan_environment(plan, base_dir=base, settings=settings)]
    decisions = check_plan_policy(plan, settings)
    warnings += [f"{d.field}: {d.message}" for d in decisions]
    estimates = check_plan_resources(plan, settings, profile)
    return PlanValidation(
        plan=plan, warnings=warnings, policy=decisions, estimates=estimates, base_dir=base
    )


def load_plan_file(
    path: Path | str, *, settings: Settings | None = None, profile: str | None = None
) -> PlanValidation:
    """Read and validate a plan file (.json, .yaml or .yml)."""
    settings = settings or get_settings()
    path = Path(path)
    if not path.is_file():
        raise PlanParseError(f"{path} does not exist or is not a file")
    size = path.stat().st_size
    if size > settings.max_plan_bytes:
        raise PlanParseError(
            f"{path.name} is {size:,} bytes; the limit is {settings.max_plan_bytes:,}"
        )
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return validate_plan(
        path.read_bytes(),
        base_dir=path.parent,
        settings=settings,
        profile=profile,
        fmt=fmt,
        source_name=path.name,
    )


def dump_plan(plan: MoviePlan, fmt: str = "yaml") -> str:
    """A plan as YAML (quoted where needed, unicode kept) or JSON text."""
    data = plan.to_json_dict()
    # id, type and title first in every step: how a person reads a plan
    data["steps"] = [
        {k: step[k] for k in ("id", "type", "title") if k in step}
        | {k: v for k, v in step.items() if k not in ("id", "type", "title")}
        for step in data["steps"]
    ]
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + os.linesep
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
