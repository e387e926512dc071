"""One table of step kinds: what a plan step calls, on which slots, with which defaults.

Everything production does that depends on a step's type reads this table: the FunctionTool
a step runs on (and so its provider), the resource slots it holds, the options it inherits
from the movie, how it is called, and the suffix of its simulated artifact in a dry run.
Adding a step kind, or pointing one at another tool, is one entry here.

``call`` runs where the executor puts it (a thread, another process, a Ray worker): it gets
only serialisable data (the step, its effective options, its input artifacts) and the run
context, never the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkle_motion import cache
from sparkle_motion.providers import provider_version
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import (
    ArtifactRef,
    CustomStep,
    ImageStep,
    LipsyncStep,
    MoviePlan,
    Step,
    TTSStep,
    VideoStep,
)

# An input artifact per input field (``start_frames[0]``, ``audio``, ``opts.audio_prompt_path``)
Inputs = dict[str, ArtifactRef]
# (step, effective options, input artifacts, what was resolved for it) -> its artifacts
Call = Callable[[Step, dict[str, Any], Inputs, dict[str, Any]], list[ArtifactRef]]


@dataclass(frozen=True)
class Frame:
    """The movie's picture: what steps inherit (renderers want multiples of 8)."""

    width: int
    height: int
    fps: int

    @classmethod
    def of(cls, plan: MoviePlan) -> Frame:
        # the assembler fits pictures to the movie's exact size
        width, height = (max(64, -(-d // 8) * 8) for d in plan.assemble_opts.size())
        return cls(width, height, plan.assemble_opts.fps)


@dataclass(frozen=True)
class StepKind:
    type: str
    tool: str | None  # the FunctionTool behind it (None: a registered custom handler)
    call: Call
    suffix: str = ".bin"  # of a dry run's simulated artifact
    slots: frozenset[str] = field(default_factory=frozenset)  # besides the cpu/gpu slot
    defaults: Callable[[Step, dict[str, Any], Frame], None] | None = None

    def provider(self, providers: dict[str, str]) -> str:
        """The backend a step of this kind runs on, as ``id@version``."""
        if self.tool is None:
            return "handler@1"
        return provider_version(self.tool, providers.get(self.tool, "fixture"))

    def resources(self, providers: dict[str, str]) -> frozenset[str]:
        """The executor slots a step holds: gpu on the full profile, else cpu, plus its own."""
        device = "gpu" if self.tool and providers.get(self.tool) == "full" else "cpu"
        return frozenset({device, *self.slots})


# ------------------------------------------------------------------- option defaults


def _image_defaults(step: ImageStep, opts: dict[str, Any], frame: Frame) -> None:
    opts.setdefault("width", frame.width)
    opts.setdefault("height", frame.height)
    opts["num_images"] = step.count


def _video_defaults(step: VideoStep, opts: dict[str, Any], frame: Frame) -> None:
    opts.setdefault("width", frame.width)
    opts.setdefault("height", frame.height)
    opts.setdefault("fps", frame.fps)


def _lipsync_defaults(step: LipsyncStep, opts: dict[str, Any], frame: Frame) -> None:
    opts.setdefault("fps", frame.fps)
    opts["size"] = [frame.width, frame.height]


# ---------------------------------------------------------------------------- calls


def _call_image(
    step: ImageStep, opts: dict[str, Any], inputs: Inputs, resolved: dict[str, Any]
) -> list[ArtifactRef]:
    from sparkle_motion import images_agent
    from sparkle_motion.types import ImagesOpts

    return images_agent.render(step.prompt, ImagesOpts.model_validate(opts))


def _call_tts(
    step: TTSStep, opts: dict[str, Any], inputs: Inputs, resolved: dict[str, Any]
) -> list[ArtifactRef]:
    from sparkle_motion import tts_agent
    from sparkle_motion.types import TTSOpts

    if step.lines:  # dialogue: line by line, each in its speaker's voice
        from sparkle_motion.production import dialogue

        return dialogue.speak(step, resolved["lines"], inputs)
    opts = dict(opts)
    opts.pop("audio_prompt_path", None)
    prompt = inputs.get("opts.audio_prompt_path")
    voice = resolved.get("voice")
    ref = tts_agent.synthesize(
        step.text,
        step.voice,
        TTSOpts.model_validate(opts),
        audio_prompt=prompt.path if prompt else None,
        resolved=tts_agent.ResolvedVoice.model_validate(voice) if voice else None,
    )
    from sparkle_motion.production.dialogue import plain_line_record

    ref.metadata["line_artifacts"] = plain_line_record(ref)
    return [ref]


def _call_video(
    step: VideoStep, opts: dict[str, Any], inputs: Inputs, resolved: dict[str, Any]
) -> list[ArtifactRef]:
    from sparkle_motion import videos_agent
    from sparkle_motion.types import VideoOpts

    opts = dict(opts)
    proxy = bool(opts.pop("proxy", False))
    starts = [inputs[f"start_frames[{i}]"].path for i in range(len(step.start_frames))]
    ends = [inputs[f"end_frames[{i}]"].path for i in range(len(step.end_frames))]
    return [videos_agent.render_video(starts, ends, step.prompt, VideoOpts(**opts), proxy=proxy)]


def _call_lipsync(
    step: LipsyncStep, opts: dict[str, Any], inputs: Inputs, resolved: dict[str, Any]
) -> list[ArtifactRef]:
    from sparkle_motion import videos_agent
    from sparkle_motion.types import Wav2LipOpts

    opts = dict(opts)
    size = tuple(opts.pop("size"))
    face, audio = inputs["face_video"].path, inputs["audio"].path
    return [videos_agent.lipsync(face, audio, Wav2LipOpts(**opts), size=size)]


def _call_custom(
    step: CustomStep, opts: dict[str, Any], inputs: Inputs, resolved: dict[str, Any]
) -> list[ArtifactRef]:
    from sparkle_motion.handlers import get_handler

    handler = get_handler(step.handler)
    paths = {name: ref.path for name, ref in inputs.items()}
    work_dir = Path(current_run_context().work_dir or ".")
    result = handler(step=step, opts=opts, inputs=paths, work_dir=work_dir)
    if result is None:
        return []
    refs = result if isinstance(result, list) else [result]
    return [r if isinstance(r, ArtifactRef) else ArtifactRef.model_validate(r) for r in refs]


KINDS: dict[str, StepKind] = {
    k.type: k
    for k in (
        StepKind(
            "image", "images_sdxl", _call_image, ".png", frozenset({"image"}), _image_defaults
        ),
        StepKind("tts", "tts_chatterbox", _call_tts, ".wav"),
        StepKind("video", "videos_wan", _call_video, ".mp4", frozenset({"video"}), _video_defaults),
        StepKind("lipsync", "lipsync_wav2lip", _call_lipsync, ".mp4", defaults=_lipsync_defaults),
        StepKind("custom", None, _call_custom),
    )
}


def kind_of(step: Step | str) -> StepKind:
    return KINDS[step if isinstance(step, str) else step.type]


_USED: dict[int, tuple[MoviePlan, frozenset[str]]] = {}


def _used_outputs(plan: MoviePlan) -> frozenset[str]:
    """Ids of the steps whose output another step uses (once per plan, not once per step)."""
    hit = _USED.get(id(plan))
    if hit is None or hit[0] is not plan:
        if len(_USED) >= 8:
            _USED.clear()
        hit = (plan, frozenset(d for deps in plan.dependencies().values() for d in deps))
        _USED[id(plan)] = hit
    return hit[1]


def _moves(tool: str, profile: str) -> bool:
    """Whether the backend can give a shot as a camera move and a proxy (``MOVES``)."""
    from sparkle_motion.providers import backend

    try:
        return bool(getattr(backend(tool, profile), "MOVES", False))
    except Exception:  # not installed: the step says so when it runs
        return False


def effective_data(
    step: Step, frame: Frame, providers: dict[str, str], plan: MoviePlan | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The step with its options after defaults and inheritance from the movie, and what
    was resolved for it once, here, to be carried to the worker that runs it.

    A narration's voice is resolved by tts_agent (provider, backend profile, the catalog's
    settings); the settings join the step's data (``voice_settings``), so retuning a voice in
    tts_providers.yaml re-renders its lines, and the worker speaks with exactly those. A
    dialogue's lines are resolved each with its speaker's voice from the ``plan``'s cast
    (production/dialogue.py); their voices and settings join the data (``line_voices``).
    """
    kind = kind_of(step)
    data = step.model_dump(mode="json", exclude_none=True)
    opts = data.setdefault("opts", {})
    if kind.defaults is not None:
        kind.defaults(step, opts, frame)
    if kind.tool is not None:
        opts.setdefault("seed", cache.derived_seed(data))
    if (
        step.type == "video"
        and plan is not None
        and step.id not in _used_outputs(plan)
        and _moves("videos_wan", providers.get("videos_wan", "fixture"))
    ):  # only the movie shows it: the assembler renders the move at full size
        opts["proxy"] = True
    resolved: dict[str, Any] = {}
    if step.type == "tts" and step.lines:
        from sparkle_motion.production import dialogue

        profile = providers.get("tts_chatterbox", "fixture")
        lines = dialogue.resolve_lines(step, plan or _no_plan(step), opts, profile)
        data["line_voices"] = [
            {k: ln[k] for k in ("voice", "voice_settings", "name", "reference")} for ln in lines
        ]
        resolved["lines"] = lines
    elif step.type == "tts":
        from sparkle_motion import tts_agent

        profile = providers.get("tts_chatterbox", "fixture")
        voice = tts_agent.resolve_voice(
            step.voice, step.opts.provider, profile, opts=step.opts, text=step.text
        )
        data["voice_settings"] = voice.settings
        resolved["voice"] = voice.model_dump(mode="json")
    return data, resolved


def _no_plan(step: Step) -> MoviePlan:
    """A plan around a lone step (a caller without a plan: no cast)."""
    return MoviePlan(title="step", steps=[step])
