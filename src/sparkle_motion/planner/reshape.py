"""A plan given the movie's shape, music or subtitles from the command line (``--aspect``,
``--music``, ``--subtitles``).

The planners write a plan for the default landscape frame; a short for a phone is the same
story in another frame. Every step inherits its size from ``assemble_opts`` (production
Frame), so changing the shape is an edit of ``assemble_opts`` alone: an explicit width and
height give way to the new aspect. A plan named by its content is named again.
"""

from __future__ import annotations

from pathlib import Path

from sparkle_motion.errors import PlanSchemaError
from sparkle_motion.types import MoviePlan


def music_in_plan_folder(music: Path, plan_dir: Path) -> str:
    """``music`` as a path relative to the plan's folder, refused when it lies outside it
    (a plan's files are confined to its folder, like a cast's reference clip)."""
    root = plan_dir.resolve()
    resolved = music.expanduser().resolve()
    try:
        relative = resolved.relative_to(root)
    except ValueError:
        raise PlanSchemaError(
            f"{music} is outside the plan's folder {root}",
            field="assemble_opts.music",
            stage="step",
            hint="copy it into the plan's folder (for an idea: the movie's folder)",
        ) from None
    if not resolved.is_file():
        raise PlanSchemaError(f"{music} does not exist", field="assemble_opts.music")
    return relative.as_posix()


def reshape(
    plan: MoviePlan,
    *,
    aspect: str | None = None,
    music: str | None = None,
    subtitles: str | None = None,
) -> MoviePlan:
    """``plan`` with its movie's aspect, music or subtitles (``soft``, ``burned`` in the
    default style, or ``none``) replaced; unchanged when none is given."""
    if aspect is None and music is None and subtitles is None:
        return plan
    data = plan.to_json_dict()
    opts = dict(data.get("assemble_opts") or {})
    if aspect is not None:
        opts["aspect"] = aspect
        opts.pop("width", None)
        opts.pop("height", None)
    if music is not None:
        opts["music"] = music
    if subtitles == "none":
        opts["subtitles"] = False
    elif subtitles == "soft":
        opts["subtitles"] = True
    elif subtitles == "burned":
        style = opts.get("subtitles")
        opts["subtitles"] = {**(style if isinstance(style, dict) else {}), "mode": "burned"}
    data["assemble_opts"] = opts
    named_by_content = plan.id == plan.content_id()
    changed = MoviePlan.model_validate(data)
    if named_by_content:
        changed = changed.model_copy(update={"id": changed.content_id()})
    return changed
