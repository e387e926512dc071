"""Every data shape Sparkle Motion passes around, as pydantic v2 models.

The MoviePlan is a graph: wherever a step accepts a path it also accepts ``step:<id>``, the
output of another step. A plan model is always normalised (every step has an id, the plan
has a content-derived id, ``assemble_opts`` has its defaults) and its references are checked
(known, acyclic, of a fitting type); what was filled in is listed in ``plan.warnings``.

Checks that need the outside world (paths on disk, the models root, registered handlers,
policy terms, resource caps) live in :mod:`sparkle_motion.validation`.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sparkle_motion.utils.terminal import one_line, strip_control

STEP_REF_PREFIX = "step:"
STEP_TYPES = ("image", "tts", "video", "lipsync", "custom")
VISUAL_STEP_TYPES = ("image", "video", "lipsync")
PLAN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://sparkle-motion.dev/movieplan")

_STEP_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")

# pydantic error types that come from our own range and step checks (validation stage 3)
STEP_LEVEL_ERROR_TYPES = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "finite_number",
        "multiple_of",
        "union_tag_invalid",
        "literal_error",
        "unsafe_path",
        "bad_model_ref",
        "bad_step_id",
        "bad_handler",
        "duplicate_step_id",
        "unknown_step_reference",
        "step_reference_cycle",
        "step_reference_type",
        "count_mismatch",
        "size_mismatch",
        "chunk_mismatch",
        "unknown_speaker",
    }
)


def _err(kind: str, message: str, field: str | None = None) -> PydanticCustomError:
    return PydanticCustomError(kind, message, {"field": field} if field else None)


# ------------------------------------------------------------------------ value types


def _check_plan_path(value: str) -> str:
    """A path in a plan: ``step:<id>`` or a relative path that cannot escape its folder."""
    if not isinstance(value, str) or not value.strip():
        raise _err("unsafe_path", "must be a non-empty path or step:<id>")
    if value.startswith(STEP_REF_PREFIX):
        ref = value[len(STEP_REF_PREFIX) :]
        if not _STEP_ID_RE.match(ref):
            raise _err("unsafe_path", f"{value!r} does not name a step id")
        return value
    if value.startswith("-"):
        raise _err(
            "unsafe_path", f"{value!r} starts with '-', which a tool would read as an option"
        )
    if any(ch in value for ch in "\x00\n\r"):
        raise _err("unsafe_path", "contains a control character")
    if "://" in value:
        raise _err("unsafe_path", f"{value!r} is a URL; give a path relative to the plan file")
    pure = Path(value)
    if pure.is_absolute() or value.startswith("~"):
        raise _err(
            "unsafe_path", f"{value!r} is absolute; paths are relative to the plan file's folder"
        )
    if ".." in pure.parts:
        raise _err("unsafe_path", f"{value!r} leaves the plan file's folder ('..')")
    return value


def _check_model_ref(value: str) -> str:
    """Model weights: a Hugging Face id (``org/name``) or a folder under the models root."""
    if not isinstance(value, str) or not value.strip():
        raise _err("bad_model_ref", "must be a Hugging Face id or a folder under the models root")
    if value.startswith("-") or any(ch in value for ch in "\x00\n\r"):
        raise _err("bad_model_ref", f"{value!r} is not a model id")
    if "://" in value:
        raise _err("bad_model_ref", f"{value!r} is a URL; give a Hugging Face id instead")
    if ".." in Path(value).parts:
        raise _err("bad_model_ref", f"{value!r} leaves the models root ('..')")
    return value


def _check_step_id(value: str) -> str:
    if not _STEP_ID_RE.match(value):
        raise _err(
            "bad_step_id",
            f"{value!r} is not a valid step id (letters, digits, '_', '-', '.'; at most 64)",
        )
    return value


def _check_handler(value: str) -> str:
    if not _HANDLER_RE.match(value):
        raise _err("bad_handler", f"{value!r} is not a handler name")
    return value


PlanPath = Annotated[str, AfterValidator(_check_plan_path)]
"""``step:<id>`` or a path relative to the plan file's folder."""
ModelRef = Annotated[str, AfterValidator(_check_model_ref)]
"""A Hugging Face id or a path under the models root (``SPARKLE_MODELS_DIR``)."""
StepId = Annotated[str, AfterValidator(_check_step_id)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


def _multiple_of_8(value: int) -> int:
    # Checked after the range so that -5 reads "must be >= 64", not "multiple of 8".
    if value % 8:
        raise _err("multiple_of", f"{value} is not a multiple of 8 (try {round(value / 8) * 8})")
    return value


Dimension = Annotated[int, Field(ge=64, le=4096), AfterValidator(_multiple_of_8)]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


def _title_text(value: str) -> str:
    """A title is one line of display text: no escape sequences, no control characters."""
    cleaned = one_line(value)
    if value and not cleaned:
        raise _err("bad_title", "has nothing but control characters")
    return cleaned


def _free_text(value: str) -> str:
    """Narration, prompts, descriptions: line breaks and tabs kept, escape sequences not."""
    return strip_control(value, keep="\t\n")


ShortText = Annotated[str, Field(max_length=200), AfterValidator(_title_text)]
FreeText = Annotated[str, AfterValidator(_free_text)]


def is_step_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(STEP_REF_PREFIX)


def step_ref_id(value: str) -> str:
    return value[len(STEP_REF_PREFIX) :]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


# ------------------------------------------------------------------------------ opts


ASPECT_SIZES = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)}
# The defaults every layer falls back on, stated once. A step inherits the movie's size and
# frame rate (production fills them in); a backend called without them uses these.
DEFAULT_WIDTH, DEFAULT_HEIGHT = ASPECT_SIZES["16:9"]
DEFAULT_FPS = 24
DEFAULT_NUM_FRAMES = 48  # a clip's length when a video step does not say
DEFAULT_IMAGE_SIZE = 1024  # a picture with no movie around it: SDXL's native square


class StepOpts(_Model):
    """Options every step accepts."""

    scene: ShortText | None = Field(
        None, description="Scene this step belongs to; steps sharing it play together."
    )
    seed: Seed | None = Field(None, description="Random seed; derived from content when unset.")


Sampler = Literal[
    "euler",
    "euler_a",
    "heun",
    "lms",
    "ddim",
    "ddpm",
    "pndm",
    "dpm2",
    "dpmpp_2m",
    "dpmpp_2m_karras",
    "dpmpp_sde",
    "unipc",
]


class ImagesOpts(StepOpts):
    """Options for images_agent / images_sdxl (the spec's ImagesOpts)."""

    num_images: Annotated[int, Field(ge=1, le=64)] | None = Field(
        None, description="Must equal the step's count when given."
    )
    width: Dimension | None = Field(None, description="Pixels; default: the movie's width.")
    height: Dimension | None = Field(None, description="Pixels; default: the movie's height.")
    sampler: Sampler | None = None
    steps: Annotated[int, Field(ge=1, le=200)] | None = Field(None, description="Inference steps.")
    cfg_scale: Annotated[float, Field(ge=0.0, le=30.0)] | None = None
    denoising_start: Unit | None = Field(None, description="Refiner start (base+refiner).")
    denoising_end: Unit | None = Field(None, description="Base end (base+refiner).")
    negative_prompt: str | None = None
    prompt_2: str | None = Field(None, description="Prompt for SDXL's second text encoder.")
    negative_prompt_2: str | None = None
    original_size: tuple[Dimension, Dimension] | None = Field(None, description="Micro-cond.")
    target_size: tuple[Dimension, Dimension] | None = Field(None, description="Micro-cond.")
    crop_conditioning: (
        tuple[Annotated[int, Field(ge=0, le=4096)], Annotated[int, Field(ge=0, le=4096)]] | None
    ) = Field(None, description="SDXL crops_coords_top_left.")
    max_images_per_call: Annotated[int, Field(ge=1, le=64)] | None = Field(
        None, description="Batch size per adapter call (default 8)."
    )
    per_batch_timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None
    dedupe: bool = Field(False, description="Replace near-duplicate images within a plan.")
    queue_allowed: bool = Field(True, description="Wait for the rate limiter instead of failing.")
    priority: Literal["low", "normal", "high"] = "normal"
    model_id: ModelRef | None = Field(None, description="SDXL base weights.")
    refiner_model_id: ModelRef | None = Field(None, description="Optional SDXL refiner weights.")


class VoiceConfig(_Model):
    """A tts step's voice: a logical voice id from configs/tts_providers.yaml."""

    id: Annotated[str, Field(min_length=1, max_length=64)] = "narrator"
    style: ShortText | None = None
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")] | None = None
    speed: Annotated[float, Field(ge=0.5, le=2.0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        # `voice: emma` is the natural way to write it by hand.
        return {"id": data} if isinstance(data, str) else data


class TTSOpts(StepOpts):
    """Options for tts_agent / tts_chatterbox."""

    sample_rate: Annotated[int, Field(ge=8000, le=48000)] | None = None
    format: Literal["wav"] = "wav"
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")] | None = None
    provider: ShortText | None = Field(None, description="Force a provider id.")
    priority_profile: Literal["cost", "latency", "quality", "balanced"] = "balanced"
    max_latency_s: PositiveFloat | None = None
    max_cost_usd: Annotated[float, Field(ge=0)] | None = None
    required_features: list[ShortText] = Field(default_factory=list)
    audio_prompt_path: PlanPath | None = Field(None, description="Reference clip for cloning.")
    reference_language: (
        Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")] | None
    ) = Field(None, description="The reference clip's language (default: the text's).")
    exaggeration: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    cfg_weight: Unit | None = None
    model_id: ModelRef | None = None


class VideoOpts(StepOpts):
    """Options for videos_agent / videos_wan."""

    num_frames: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_NUM_FRAMES
    fps: Annotated[int, Field(ge=1, le=120)] | None = Field(None, description="Default: movie's.")
    width: Dimension | None = None
    height: Dimension | None = None
    steps: Annotated[int, Field(ge=1, le=200)] | None = None
    guidance_scale: Annotated[float, Field(ge=0.0, le=30.0)] | None = None
    negative_prompt: str | None = None
    motion: Literal[
        "auto", "zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down"
    ] = Field("auto", description="Camera move where the provider animates a still.")
    chunk_length_frames: Annotated[int, Field(ge=1, le=10_000)] = 64
    chunk_overlap_frames: Annotated[int, Field(ge=0, le=64)] = 4
    min_chunk_frames: Annotated[int, Field(ge=1, le=10_000)] = 8
    max_retries_per_chunk: Annotated[int, Field(ge=0, le=10)] = 2
    adaptive_shrink_factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    reassembly_mode: Literal["trim", "crossfade"] = "trim"
    allow_cpu_fallback: bool = True
    model_id: ModelRef | None = None
    device_map: Literal["auto", "balanced", "sequential", "cpu"] | None = None
    max_memory: dict[str, Annotated[str, Field(pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")]] | None = None

    @model_validator(mode="after")
    def _chunks_fit(self) -> VideoOpts:
        if self.chunk_overlap_frames >= self.chunk_length_frames:
            raise _err("chunk_mismatch", "chunk_overlap_frames must be < chunk_length_frames")
        if self.min_chunk_frames > self.chunk_length_frames:
            raise _err("chunk_mismatch", "min_chunk_frames must be <= chunk_length_frames")
        return self


class Wav2LipOpts(StepOpts):
    """Options for lipsync_wav2lip (Wav2Lip's inference.py flags)."""

    checkpoint_path: ModelRef | None = Field(None, description="Under the models root.")
    face_det_checkpoint: ModelRef | None = Field(None, description="s3fd.pth, models root.")
    pads: tuple[
        Annotated[int, Field(ge=0, le=512)],
        Annotated[int, Field(ge=0, le=512)],
        Annotated[int, Field(ge=0, le=512)],
        Annotated[int, Field(ge=0, le=512)],
    ] = (0, 10, 0, 0)
    resize_factor: Annotated[int, Field(ge=1, le=8)] = 1
    nosmooth: bool = False
    crop: tuple[int, int, int, int] | None = Field(
        None, description="top, bottom, left, right in pixels (Wav2Lip's); -1: to the edge."
    )
    fps: Annotated[float, Field(gt=0, le=120)] | None = None
    gpu: Annotated[int, Field(ge=0)] | None = None
    verbose: bool = False
    box: tuple[int, int, int, int] | None = Field(
        None, description="A fixed face box (top, bottom, left, right): no face detection."
    )
    static: bool = False
    rotate: bool = False
    face_det_batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None
    wav2lip_batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None


class CustomOpts(StepOpts):
    """Arguments for a registered custom handler: any keys, plus scene and seed."""

    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------- steps


class _StepBase(_Model):
    id: StepId | None = Field(None, description="Unique in the plan; s1, s2... when omitted.")
    title: ShortText = ""

    def input_refs(self) -> list[tuple[str, str]]:
        """(field, value) for every path-like input, step references included."""
        return []

    def step_refs(self) -> list[tuple[str, str]]:
        """(field, referenced step id) for every ``step:`` input."""
        return [(f, step_ref_id(v)) for f, v in self.input_refs() if is_step_ref(v)]

    @property
    def scene(self) -> str | None:
        return getattr(self.opts, "scene", None)  # type: ignore[attr-defined]


class ImageStep(_StepBase):
    type: Literal["image"]
    prompt: Annotated[FreeText, Field(min_length=1)]
    count: Annotated[int, Field(ge=1, le=64)] = 1
    opts: ImagesOpts = Field(default_factory=ImagesOpts)

    @model_validator(mode="after")
    def _count_is_canonical(self) -> ImageStep:
        n = self.opts.num_images
        if n is None:
            return self
        if "count" not in self.model_fields_set:
            self.count = n
        elif n != self.count:
            raise _err(
                "count_mismatch", f"opts.num_images ({n}) disagrees with count ({self.count})"
            )
        return self


class DialogueLine(_Model):
    """One spoken line of a tts step: who says it and what. Its voice is the line's own,
    else its speaker's in the plan's cast, else the step's; no speaker is the narrator."""

    speaker: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="A key of the plan's cast; omitted: the narrator (the step's voice)."
    )
    text: Annotated[FreeText, Field(min_length=1)]
    voice: VoiceConfig | None = Field(None, description="Overrides the speaker's voice.")


class TTSStep(_StepBase):
    type: Literal["tts"]
    text: Annotated[FreeText, Field(min_length=1)] | None = Field(
        None, description="What the narrator says (or give lines)."
    )
    lines: Annotated[list[DialogueLine], Field(min_length=1, max_length=500)] | None = Field(
        None, description="Dialogue: lines spoken in order, each by its speaker."
    )
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    opts: TTSOpts = Field(default_factory=TTSOpts)

    def spoken_lines(self) -> list[DialogueLine]:
        """What is said, line by line (a plain ``text`` is one narrator line)."""
        return list(self.lines) or [DialogueLine(text=self.text or "")]

    @property
    def spoken_text(self) -> str:
        """Everything the step says, lines in order."""
        return self.text if self.text is not None else " ".join(ln.text for ln in self.lines)

    def input_refs(self) -> list[tuple[str, str]]:
        p = self.opts.audio_prompt_path
        return [("opts.audio_prompt_path", p)] if p else []


class VideoStep(_StepBase):
    type: Literal["video"]
    prompt: FreeText = ""
    start_frames: list[PlanPath] = Field(default_factory=list)
    end_frames: list[PlanPath] = Field(default_factory=list)
    opts: VideoOpts = Field(default_factory=VideoOpts)

    def input_refs(self) -> list[tuple[str, str]]:
        return [(f"start_frames[{i}]", v) for i, v in enumerate(self.start_frames)] + [
            (f"end_frames[{i}]", v) for i, v in enumerate(self.end_frames)
        ]


class LipsyncStep(_StepBase):
    type: Literal["lipsync"]
    face_video: PlanPath
    audio: PlanPath
    out_path: PlanPath | None = Field(None, description="Also copy the result here.")
    opts: Wav2LipOpts = Field(default_factory=Wav2LipOpts)

    def input_refs(self) -> list[tuple[str, str]]:
        return [("face_video", self.face_video), ("audio", self.audio)]


class CustomStep(_StepBase):
    type: Literal["custom"]
    handler: Annotated[str, AfterValidator(_check_handler)]
    opts: CustomOpts = Field(default_factory=CustomOpts)

    def input_refs(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []

        def walk(value: Any, where: str) -> None:
            if is_step_ref(value):
                found.append((where, value))
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(v, f"{where}.{k}")
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, f"{where}[{i}]")

        walk(self.opts.model_extra or {}, "opts")
        return found


Step = Annotated[
    ImageStep | TTSStep | VideoStep | LipsyncStep | CustomStep, Field(discriminator="type")
]

# which step types may feed which inputs
_REF_TARGETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("video", "start_frames"): ("image", "video", "custom"),
    ("video", "end_frames"): ("image", "video", "custom"),
    ("lipsync", "face_video"): ("image", "video", "lipsync", "custom"),
    ("lipsync", "audio"): ("tts", "custom"),
    ("tts", "opts.audio_prompt_path"): ("tts", "custom"),
}


# ---------------------------------------------------------------------------- assembly


MUSIC_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg")


def _music_file(value: str) -> str:
    if is_step_ref(value):
        raise _err("unsafe_path", "the music is a file in the plan's folder, not a step's output")
    if not value.lower().endswith(MUSIC_SUFFIXES):
        raise _err("bad_music", f"{value!r} is not a {', '.join(MUSIC_SUFFIXES)} file")
    return value


class SubtitleStyle(_Model):
    """How subtitles look. ``soft``: a track the player shows (as ``subtitles: true``);
    ``burned``: drawn into the picture (libass), wrapped at a readable width for the
    frame's shape, two lines at most."""

    mode: Literal["soft", "burned"] = "soft"
    font: ShortText | None = Field(
        None, description="Font family; default: one that draws the text's script."
    )
    size: Annotated[int, Field(ge=8, le=200)] | None = Field(
        None, description="Text height in pixels of the movie's frame; default: by shape."
    )
    colour: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] = "#FFFFFF"
    outline: Annotated[float, Field(ge=0, le=20)] | None = Field(
        None, description="Black outline in pixels; default: by size (about 8 % of it)."
    )
    bold: bool = True
    position: Literal["bottom", "top", "middle"] = "bottom"
    max_chars_per_line: Annotated[int, Field(ge=8, le=120)] | None = Field(
        None, description="Line width in characters (a CJK one counts two); default: by shape."
    )


class AssembleOpts(_Model):
    """How assemble_ffmpeg encodes the movie. Defaults: 1280x720, 24 fps, x264 crf 20."""

    codec: Literal["libx264", "libx265"] = "libx264"
    preset: Literal[
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
        "slow",
        "slower",
        "veryslow",
    ] = "medium"
    crf: Annotated[int, Field(ge=0, le=51)] = 20
    fps: Annotated[int, Field(ge=1, le=120)] = DEFAULT_FPS
    width: Annotated[int, Field(ge=16, le=7680, multiple_of=2)] | None = None
    height: Annotated[int, Field(ge=16, le=4320, multiple_of=2)] | None = None
    aspect: Literal["16:9", "9:16", "1:1"] | None = None
    pix_fmt: Literal["yuv420p"] = "yuv420p"
    audio_codec: Literal["aac"] = "aac"
    audio_bitrate_kbps: Annotated[int, Field(ge=32, le=512)] = 192
    audio_sample_rate: Literal[44100, 48000] = 48000
    loudness_lufs: Annotated[float, Field(ge=-40, le=-5)] = -16.0
    subtitles: bool | SubtitleStyle = Field(
        True,
        description="Soft subtitles (mov_text) plus an .srt beside it; false: none; or a "
        "style (soft, or burned into the picture).",
    )
    music: Annotated[PlanPath, AfterValidator(_music_file)] | None = Field(
        None, description="A music file in the plan's folder, mixed under the voice."
    )
    transition: Literal["fade", "dissolve", "wipeleft", "wiperight", "slideleft", "none"] = "fade"
    transition_duration_s: Annotated[float, Field(ge=0.0, le=3.0)] = 0.5
    scene_pad_s: Annotated[float, Field(ge=0.0, le=5.0)] = 0.6

    @model_validator(mode="after")
    def _size_is_consistent(self) -> AssembleOpts:
        if (self.width is None) != (self.height is None):
            raise _err("size_mismatch", "give both width and height, or neither")
        if self.width and self.height and self.aspect:
            aw, ah = ASPECT_SIZES[self.aspect]
            if self.width * ah != self.height * aw:
                raise _err(
                    "size_mismatch",
                    f"{self.width}x{self.height} is not {self.aspect}",
                )
        return self

    def size(self) -> tuple[int, int]:
        """The movie's (width, height)."""
        if self.width and self.height:
            return self.width, self.height
        return ASPECT_SIZES[self.aspect or "16:9"]

    def soft_subtitles(self) -> bool:
        """A subtitle track (and the .srt beside the movie)."""
        if isinstance(self.subtitles, SubtitleStyle):
            return self.subtitles.mode == "soft"
        return self.subtitles

    def burned_subtitles(self) -> SubtitleStyle | None:
        """The style subtitles are drawn into the picture with (None: not drawn)."""
        style = self.subtitles
        return style if isinstance(style, SubtitleStyle) and style.mode == "burned" else None


# ------------------------------------------------------------------------------- cast


def _file_only(value: str) -> str:
    if is_step_ref(value):
        raise _err("unsafe_path", "a cast's reference clip is a file in the plan's folder")
    return value


class CastMember(_Model):
    """A character: the voice it speaks with in every scene, and optionally a reference clip
    (a file in the plan's folder) that a cloning provider speaks like."""

    voice: VoiceConfig
    name: ShortText | None = Field(None, description="Shown in subtitles; default: the key.")
    reference_audio: Annotated[PlanPath, AfterValidator(_file_only)] | None = None
    reference_language: (
        Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")] | None
    ) = Field(None, description="The reference clip's language (default: the line's).")


# ------------------------------------------------------------------------------- plan


class MoviePlan(_Model):
    """A movie as an ordered list of steps (the spec's MoviePlan)."""

    id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="Plan id; derived from the content (uuid5) when omitted."
    )
    title: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_title_text)]
    description: FreeText | None = None
    created_by: ShortText | None = None
    created_at: datetime | None = Field(None, description="ISO 8601; filled in when omitted.")
    cast: dict[Annotated[str, Field(min_length=1, max_length=64)], CastMember] | None = Field(
        None, description="Characters by key: the voice each speaks with."
    )
    steps: Annotated[list[Step], Field(min_length=1)]
    assemble_opts: AssembleOpts | None = None

    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """What normalisation filled in or found suspicious."""
        return self._warnings

    @model_validator(mode="after")
    def _normalise_and_check_graph(self) -> MoviePlan:
        warnings: list[str] = []
        self._assign_step_ids(warnings)
        self._check_references()
        self._check_speakers()
        if self.assemble_opts is None:
            self.assemble_opts = AssembleOpts()
            warnings.append("assemble_opts missing: using defaults (1280x720, 24 fps, libx264)")
        if self.created_at is None:
            self.created_at = datetime.now(UTC).replace(microsecond=0)
            warnings.append("created_at missing: set to now")
        elif self.created_at.tzinfo is None:
            self.created_at = self.created_at.replace(tzinfo=UTC)
        if self.id is None:
            self.id = self.content_id()
            warnings.append(f"id missing: derived from the content ({self.id})")
        self._warnings = warnings
        return self

    def _assign_step_ids(self, warnings: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id is None:
                continue
            if step.id in seen:
                raise _err(
                    "duplicate_step_id",
                    f"step id {step.id!r} is used by steps[{seen[step.id]}] and steps[{i}]",
                    f"steps[{i}].id",
                )
            seen[step.id] = i
        missing = [i for i, s in enumerate(self.steps) if s.id is None]
        for i in missing:
            candidate, n = f"s{i + 1}", 1
            while candidate in seen:
                n += 1
                candidate = f"s{i + 1}_{n}"
            self.steps[i].id = candidate
            seen[candidate] = i
        if missing:
            warnings.append(f"{len(missing)} step(s) had no id: named by position (s1, s2, ...)")

    def _check_references(self) -> None:
        index = {s.id: i for i, s in enumerate(self.steps)}
        graph: dict[str, list[str]] = {}
        for i, step in enumerate(self.steps):
            deps: list[str] = []
            for field, ref in step.step_refs():
                where = f"steps[{i}].{field}"
                if ref not in index:
                    raise _err(
                        "unknown_step_reference", f"step:{ref} names no step in this plan", where
                    )
                if ref == step.id:
                    raise _err("step_reference_cycle", "a step cannot use its own output", where)
                base_field = field.split("[")[0]
                allowed = _REF_TARGETS.get((step.type, base_field))
                target_type = self.steps[index[ref]].type
                if allowed and target_type not in allowed:
                    raise _err(
                        "step_reference_type",
                        f"step:{ref} is a {target_type} step; {base_field} needs "
                        + " or ".join(allowed),
                        where,
                    )
                deps.append(ref)
            graph[step.id] = deps  # type: ignore[index]
        cycle = _find_cycle(graph)
        if cycle:
            raise _err(
                "step_reference_cycle",
                "steps depend on each other in a cycle: " + " -> ".join(cycle),
                f"steps[{index[cycle[0]]}]",
            )

    def _check_speakers(self) -> None:
        """A tts step says ``text`` or ``lines`` (one of them); a line's speaker is cast."""
        for i, step in enumerate(self.steps):
            if step.type == "tts" and (step.text is None) == (not step.lines):
                raise _err(
                    "text_or_lines",
                    "give text or lines, not both" if step.lines else "is required (or lines)",
                    f"steps[{i}].text",
                )
            for j, line in enumerate(getattr(step, "lines", None) or []):
                if line.speaker is not None and line.speaker not in (self.cast or {}):
                    known = ", ".join(sorted(self.cast or {})) or "the plan has no cast"
                    raise _err(
                        "unknown_speaker",
                        f"speaker {line.speaker!r} is not in the cast ({known}); add it to "
                        "cast or omit speaker for the narrator",
                        f"steps[{i}].lines[{j}].speaker",
                    )

    def speaker_name(self, speaker: str | None) -> str | None:
        """How subtitles name a speaker (None: the narrator, never named)."""
        if speaker is None:
            return None
        member = (self.cast or {}).get(speaker)
        if member is not None and member.name:
            return member.name
        return speaker[:1].upper() + speaker[1:]

    # ---------------------------------------------------------------- helpers

    def content_id(self) -> str:
        """uuid5 of the plan's content (never its id or created_at): same plan, same id."""
        body = self.model_dump(mode="json", exclude={"id", "created_at"}, exclude_none=True)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return str(uuid.uuid5(PLAN_ID_NAMESPACE, canonical))

    def step(self, step_id: str) -> ImageStep | TTSStep | VideoStep | LipsyncStep | CustomStep:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def dependencies(self) -> dict[str, list[str]]:
        """step id -> ids of the steps whose output it uses, in plan order."""
        return {s.id: [ref for _, ref in s.step_refs()] for s in self.steps}  # type: ignore[misc]

    def topological_order(self) -> list[str]:
        """Step ids so that every step comes after what it uses; plan order breaks ties."""
        import heapq

        position = {s.id: i for i, s in enumerate(self.steps)}
        deps = self.dependencies()
        waiting = {sid: len(set(d)) for sid, d in deps.items()}
        users: dict[str, list[str]] = {sid: [] for sid in deps}
        for sid, ds in deps.items():
            for d in set(ds):
                users[d].append(sid)
        ready = [(position[sid], sid) for sid, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, sid = heapq.heappop(ready)
            order.append(sid)
            for user in users[sid]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (position[user], user))
        return order

    def to_json_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data: what was written or normalised, not every default."""
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in ``graph`` as a closed path of ids, or None (iterative DFS)."""
    state: dict[str, int] = {}
    for root in graph:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            children = graph.get(node, [])
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if state.get(child) == 1:
                    return [*path[path.index(child) :], child]
                if not state.get(child):
                    stack.append((child, 0))
            else:
                state[node] = 2
                path.pop()
    return None


# ------------------------------------------------------------------------- artifacts


class ArtifactRef(_Model):
    """A published artifact: a stable file:// URI plus what it is."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    artifact_uri: str
    media_type: str
    sha256: str | None = None
    size_bytes: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    plan_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None

    @property
    def path(self) -> Path:
        """Local path of a file:// URI."""
        return uri_to_path(self.artifact_uri)


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a file:// URI: {uri}")
    return Path(unquote(parsed.path))


# -------------------------------------------------------------------------- assembly


class SentenceTiming(_Model):
    """Where one sentence of a narration WAV is spoken (seconds from the WAV's start)."""

    text: str
    start_s: Annotated[float, Field(ge=0)]
    end_s: Annotated[float, Field(ge=0)]
    language: str | None = None
    speaker: str | None = Field(None, description="Who says it (subtitles); None: narrator.")


class CameraMove(_Model):
    """A clip that is a camera move over one picture (a preview shot only the movie shows):
    the assembler renders its frames from the picture at the movie's size, in the pass that
    encodes the movie, instead of decoding the clip's file (then a small proxy)."""

    keyframe: str = Field(description="The picture's file:// URI.")
    media_type: str = "image/png"
    motion: str
    travel: Annotated[float, Field(ge=0, le=0.5)]
    frames: Annotated[int, Field(ge=1)]
    fps: Annotated[float, Field(gt=0)]


class VisualInput(_Model):
    """A visual step's finished output, as assemble_ffmpeg receives it."""

    step_id: str
    step_type: Literal["image", "video", "lipsync", "custom"]
    uri: str
    media_type: str
    duration_s: float | None = None  # clips only
    fps: float | None = None
    has_audio: bool = False
    audio_step_id: str | None = Field(None, description="lipsync: the tts step it speaks.")
    move: CameraMove | None = Field(None, description="A clip the assembler may render itself.")


class NarrationInput(_Model):
    """A narration (tts) step's finished WAV, with its sentence timings."""

    step_id: str
    uri: str
    text: str
    duration_s: Annotated[float, Field(gt=0)]
    sentences: list[SentenceTiming] = Field(default_factory=list)


# ------------------------------------------------------------------------- telemetry

StepStatus = Literal["queued", "running", "succeeded", "failed", "skipped", "simulated"]


class StepExecutionRecord(_Model):
    """The spec's per-step telemetry record, plus the progress fields."""

    plan_id: str
    step_id: str
    step_type: str
    status: StepStatus
    run_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_s: float | None = None
    model_id: str | None = None
    device: str | None = None
    memory_hint_mb: int | None = None
    attempts: int = 0
    logs_uri: str | None = None
    artifact_uri: str | None = None
    artifact_uris: list[str] = Field(default_factory=list)
    error_type: str | None = None
    error_message: str | None = None
    cache_key: str | None = None
    cache_hit: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
    # progress (videos_agent's callback contract)
    started_at: datetime | None = None
    last_progress_at: datetime | None = None
    progress_percent: Annotated[float, Field(ge=0, le=100)] = 0.0
    current_chunk: int | None = None
    completed_chunks: int = 0


class CallbackEvent(_Model):
    """A progress event from an adapter or agent to ``on_progress``."""

    plan_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    chunk_index: int | None = None
    frame_index: int | None = None
    num_frames: int | None = None
    progress: Unit = 0.0
    eta_s: float | None = None
    device: str | None = None
    phase: Literal["queued", "load", "rendering", "postprocess"] = "rendering"
    message: str | None = None
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))


class QAScores(_Model):
    """Per-category confidences in [0, 1] (the spec's ``nsfw_confidence`` and its kin)."""

    model_config = ConfigDict(extra="allow")

    nsfw_confidence: Unit = 0.0
    violence_confidence: Unit = 0.0
    minors_confidence: Unit = 0.0
    hate_confidence: Unit = 0.0
    self_harm_confidence: Unit = 0.0

    def max_confidence(self) -> float:
        values = [v for v in self.model_dump().values() if isinstance(v, int | float)]
        return max(values, default=0.0)


# The spec's post-render thresholds (images_agent policy): one place for the QA backends that
# fill ``QAReport.decision`` and the agents that act on a frame's worst confidence.
QA_REJECT_AT = 0.70
QA_ESCALATE_AT = 0.40
QADecision = Literal["approve", "escalate", "reject"]


def qa_decision(confidence: float) -> QADecision:
    """The spec's thresholds applied to one confidence: >= 0.70 reject, >= 0.40 escalate."""
    if confidence >= QA_REJECT_AT:
        return "reject"
    if confidence >= QA_ESCALATE_AT:
        return "escalate"
    return "approve"


class QAFrameResult(_Model):
    frame_index: int
    timestamp_s: float | None = None
    scores: QAScores = Field(default_factory=QAScores)
    flags: list[str] = Field(default_factory=list)
    annotations: list[str] = Field(default_factory=list)


class QAReport(_Model):
    """One QA result shape, reconciling the spec's two.

    ``ok``/``reason``/``report`` are the images_agent stub's shape; ``per_frame``,
    ``global_flags``, ``top_responses``, ``confidence_summary``, ``artifact_uri``,
    ``logs_uri`` and ``opts_snapshot`` are qa_qwen2vl's; ``scores`` holds the worst
    per-category confidence and ``decision`` what the thresholds made of it.
    """

    ok: bool = True
    reason: str | None = None
    decision: Literal["approve", "escalate", "reject"] = "approve"
    scores: QAScores = Field(default_factory=QAScores)
    per_frame: list[QAFrameResult] = Field(default_factory=list)
    global_flags: list[str] = Field(default_factory=list)
    top_responses: list[str] = Field(default_factory=list)
    confidence_summary: dict[str, float] = Field(default_factory=dict)
    artifact_uri: str | None = None
    logs_uri: str | None = None
    opts_snapshot: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict)


class VoiceMetadata(_Model):
    """A logical voice and how a provider speaks it."""

    voice_id: str
    provider: str
    display_name: str
    provider_voice_id: str | None = None
    language_codes: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    sample_rate: int = 24000
    bit_depth: int = 16
    watermarked: bool = False
    cost_estimate_usd_per_1s: float | None = None
    quality_score: Unit | None = None


# ---------------------------------------------------------------- validation outputs


class PolicyDecision(_Model):
    """One policy finding on a plan field."""

    field: str
    action: Literal["reject", "warn"]
    category: str
    term: str | None = None
    message: str


class SimulatedStep(_Model):
    """One step of a dry run: what would run, with what, and what it would publish."""

    step_id: str
    step_type: str
    provider: str
    depends_on: list[str] = Field(default_factory=list)
    estimated_runtime_s: float
    estimated_gpu_memory_mb: int
    simulated_artifact_uri: str


class SimulationReport(_Model):
    """The spec's ``simulate_execution_report``: a dry run's answer."""

    plan_id: str
    steps: list[SimulatedStep]
    invocation_graph: dict[str, list[str]]
    resource_summary: dict[str, float]
    policy_decisions: list[PolicyDecision] = Field(default_factory=list)
    records: list[StepExecutionRecord] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class ResourceEstimate(_Model):
    """Expected cost of one step under a profile (the dry run reuses these)."""

    step_id: str
    step_type: str
    profile: str
    estimated_runtime_s: float
    estimated_gpu_memory_mb: int
    frames: int = 0
