"""Request bodies of the HTTP service (responses are the plain dicts of views.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sparkle_motion.errors import PlanSchemaError


class RunRequest(BaseModel):
    """POST /runs: an idea to plan, or a plan, and how to run it."""

    model_config = ConfigDict(extra="forbid")

    idea: str | None = Field(None, description="One sentence; the planner writes the plan.")
    plan: dict[str, Any] | str | None = Field(
        None,
        description="A MoviePlan (see GET /schema), as JSON, or a plan file's YAML/JSON text.",
    )
    profile: Literal["fixture", "preview", "full"] | None = Field(
        None, description="Providers: fixture, preview (CPU, the default) or full (GPU)."
    )
    providers: dict[str, str] | None = Field(
        None, description="Per-tool profile overrides, e.g. {'images_sdxl': 'full'}."
    )
    dry: bool = Field(False, description="Validate and estimate only; render nothing.")
    model: str | None = Field(None, description="Planner model for an idea.")

    @model_validator(mode="after")
    def _one_source(self) -> RunRequest:
        if (self.idea is None) == (self.plan is None):
            raise PlanSchemaError(
                "give exactly one of 'idea' (a sentence) or 'plan' (a MoviePlan)", field="idea"
            )
        if self.idea is not None and not self.idea.strip():
            raise PlanSchemaError("the idea is empty: describe the movie in a sentence",
                                  field="idea")  # fmt: skip
        return self


class ReviewDecision(BaseModel):
    """POST /reviews/{id}."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    note: str | None = Field(None, max_length=2000, description="Why, for the record.")
