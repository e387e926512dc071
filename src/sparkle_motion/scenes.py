"""The scene rule, written once: what a plan's steps show, and how they group into scenes.

DESIGN.md ("Scenes and the timeline") states one rule, and several places need it: validation
warns where plan order looks accidental, the assembler's timeline lays the movie out, and the
production agent tells the assembler which narration a lipsync speaks. Each used to carry its
own copy, and the copies disagreed about a lipsync's audio: validation counted that narration
as used up, so its warnings described a movie the timeline does not make. Keeping the rule
here, as pure functions over a MoviePlan (and the outputs its steps produced), makes the
warning and the movie the same reasoning.

The rule:

- **Consumed.** A reference consumes the referenced step's output when it is a video's
  keyframe (``start_frames``, ``end_frames``), a lipsync's ``face_video``, a narration's voice
  reference (``opts.audio_prompt_path``) or any input of a custom step, and the step that uses
  it produced something. A lipsync's ``audio`` does not consume: the narration still plays,
  once, carried by the lipsync.
- **Shown.** Every output of a step that is not consumed is shown on its own.
- **Carried.** A lipsync speaks the narration its ``audio`` references; when that narration is
  shown, the lipsync carries it (in plan-order grouping it goes with that narration).
- **Scenes.** With any ``opts.scene``, items group by scene name in order of first appearance,
  and an item without a name joins the scene of the item before it. Without one, a narration
  joins the visuals just before it (and the lipsyncs that carry it); visuals after the last
  narration form a closing scene; a narration whose scene has no visual gets a title card.

Only ``sparkle_motion.types`` is imported: this is the runtime layer, below agents and tools.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from sparkle_motion.types import VISUAL_STEP_TYPES, MoviePlan, Step, is_step_ref, step_ref_id

CONSUMING_FIELDS = frozenset({"start_frames", "end_frames", "face_video", "opts.audio_prompt_path"})
"""Reference fields (list indices dropped) whose referenced output is used up; a custom
step's references all consume. A lipsync's ``audio`` is deliberately not here."""


def lipsync_audio_step(step: Step) -> str | None:
    """The step id whose output a lipsync speaks (its ``audio: "step:ID"``), else None.

    None for any other step type and for a lipsync whose audio is a file.
    """
    if step.type != "lipsync":
        return None
    audio = step.audio
    return step_ref_id(audio) if is_step_ref(audio) else None


def consumes(step: Step, field_name: str) -> bool:
    """Whether ``step``'s reference in ``field_name`` (as ``step_refs()`` names it) uses up
    the referenced step's output, so that output is not shown on its own."""
    return step.type == "custom" or field_name.split("[")[0] in CONSUMING_FIELDS


def consumed_steps(plan: MoviePlan, produced: Collection[str] | None = None) -> set[str]:
    """Ids of the steps whose output another step has used up.

    Only a step that produced something consumes (a video that failed leaves its keyframes
    to be shown); ``produced`` names those steps, None meaning every step of the plan.
    """
    return {
        ref
        for step in plan.steps
        if produced is None or step.id in produced
        for field_name, ref in step.step_refs()
        if consumes(step, field_name)
    }


OutputKind = Literal["visual", "narration", "other"]


@dataclass(frozen=True)
class Output:
    """One output of a step, as the rule sees it.

    ``kind`` "other" is an output that is never shown on its own but still consumes what its
    step used (a custom step's, before it has run and its media type is known).
    ``speaks`` is, for a lipsync's visual, the step id of the narration it speaks.
    """

    step_id: str
    kind: OutputKind
    speaks: str | None = None


@dataclass(frozen=True)
class Item:
    """An output shown on its own; ``output`` is its index in the outputs it came from."""

    output: int
    position: int
    step_id: str
    scene: str | None
    kind: Literal["visual", "narration"]
    speaks: str | None = None


def expected_outputs(plan: MoviePlan) -> list[Output]:
    """The outputs a plan makes when every step succeeds, before anything has run: a visual
    per image, video and lipsync step, a narration per tts step, and "other" for a custom
    step (what it makes is known only once it has run)."""
    out: list[Output] = []
    for step in plan.steps:
        assert step.id is not None  # ids are filled in when a plan is built
        if step.type in VISUAL_STEP_TYPES:
            out.append(Output(step.id, "visual", lipsync_audio_step(step)))
        elif step.type == "tts":
            out.append(Output(step.id, "narration"))
        else:
            out.append(Output(step.id, "other"))
    return out


def shown_items(plan: MoviePlan, outputs: Sequence[Output]) -> tuple[list[Item], list[str]]:
    """The outputs shown on their own, in plan order (a step's outputs in the order given),
    and the ids of the steps that produced something but were consumed, in plan order.

    Every output must belong to a step of the plan.
    """
    by_step: dict[str, list[int]] = {}  # a step's outputs in the order given (linear time)
    for index, o in enumerate(outputs):
        by_step.setdefault(o.step_id, []).append(index)
    produced = set(by_step)
    consumed = consumed_steps(plan, produced)
    items: list[Item] = []
    for position, step in enumerate(plan.steps):
        if step.id in consumed:
            continue
        for index in by_step.get(step.id or "", []):
            o = outputs[index]
            if o.kind != "other":
                items.append(Item(index, position, o.step_id, step.scene, o.kind, o.speaks))
    hidden = [s.id for s in plan.steps if s.id in consumed and s.id in produced]
    return items, hidden  # type: ignore[return-value]


def carried_narrations(items: Sequence[Item]) -> dict[int, str]:
    """Index of each shown visual that speaks a shown narration -> that narration's step id."""
    narrated = {it.step_id for it in items if it.kind == "narration"}
    return {
        k: it.speaks
        for k, it in enumerate(items)
        if it.kind == "visual" and it.speaks is not None and it.speaks in narrated
    }


def group_scenes(items: Sequence[Item]) -> list[tuple[str | None, list[int]]]:
    """Scenes in movie order: (name, indices into ``items``), each scene's items in plan order.

    With any ``opts.scene`` the name is the scene's; in plan-order grouping it is None.
    """
    if any(it.scene for it in items):
        names: list[str | None] = [it.scene for it in items]
        first = next(n for n in names if n)
        current: str | None = first
        for i, name in enumerate(names):
            current = name or current
            names[i] = current
        groups: dict[str, list[int]] = {}
        for k, name in enumerate(names):
            groups.setdefault(name or first, []).append(k)
        return list(groups.items())

    carried = carried_narrations(items)
    speakers: dict[str, list[int]] = {}  # narration -> the lipsyncs that carry it
    for j, audio in carried.items():
        speakers.setdefault(audio, []).append(j)
    out: list[tuple[str | None, list[int]]] = []
    pending: list[int] = []
    for k, it in enumerate(items):
        if it.kind == "visual":
            if k not in carried:
                pending.append(k)
            continue
        mine = speakers.get(it.step_id, [])
        out.append((None, sorted([*pending, *mine, k], key=lambda j: items[j].position)))
        pending = []
    if pending:
        out.append((None, pending))
    return out


def plan_scenes(plan: MoviePlan) -> list[tuple[str | None, list[Item]]]:
    """The scenes a plan makes when every step succeeds (what validation reasons about)."""
    items, _ = shown_items(plan, expected_outputs(plan))
    return [(name, [items[k] for k in group]) for name, group in group_scenes(items)]


def untitled_narrations(scenes: Sequence[tuple[str | None, Sequence[Item]]]) -> list[str]:
    """Step ids of the narrations whose scene has no visual: each gets a title card."""
    return [
        it.step_id
        for _, group in scenes
        if all(it.kind == "narration" for it in group)
        for it in group
    ]
