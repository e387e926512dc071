"""ADK entry: ``root_agent`` for ``adk run`` / ``adk web`` / ``adk api_server``.

The root agent is an ADK workflow of two agents: script_agent (an LlmAgent that writes and
validates the plan into session state) and production_agent as an ADK custom agent
(``BaseAgent``) that executes the plan from session state and reports the movie. State keys
it reads: ``plan`` (a MoviePlan as data or JSON/YAML text), ``mode`` ("run" or "dry"),
``profile`` and ``output``; it writes ``run_id``, ``run_status``, ``movie_uri`` or
``dry_report``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import BaseAgent
from google.adk.events import Event, EventActions
from google.adk.workflow import START, Workflow
from google.genai import types

from sparkle_motion.adk_factory import get_agent


class ProductionAgent(BaseAgent):
    """Runs the MoviePlan found in session state (``production_agent.execute_plan``)."""

    async def _run_async_impl(self, ctx: Any) -> AsyncGenerator[Event, None]:
        from sparkle_motion import production_agent

        state = ctx.session.state
        plan = state.get("plan")
        if not plan:
            yield self._say(ctx, "No plan in session state: plan a movie first.")
            return
        mode = state.get("mode", "run")
        kwargs = {"profile": state.get("profile"), "output": state.get("output")}
        if mode == "dry":
            report = await asyncio.to_thread(
                production_agent.execute_plan, plan, mode="dry", profile=kwargs["profile"]
            )
            text = (
                f"Dry run: {len(report.steps)} steps, about "
                f"{report.resource_summary['total_estimated_runtime_s']:.0f} s of work."
            )
            yield self._say(ctx, text, {"dry_report": report.model_dump(mode="json")})
            return
        result = await asyncio.to_thread(production_agent.run_plan, plan, **kwargs)
        delta = {"run_id": result.run_id, "run_status": result.status}
        if result.movie:
            delta["movie_uri"] = result.movie.artifact_uri
        text = (
            f"Movie ready: {result.output_path or result.movie.artifact_uri} (run {result.run_id})"
            if result.movie
            else f"Run {result.run_id} failed: {result.summary}"
        )
        yield self._say(ctx, text, delta)

    def _say(self, ctx: Any, text: str, delta: dict[str, Any] | None = None) -> Event:
        return Event(
            invocation_id=ctx.invocation_id,
            author=self.name,
            content=types.Content(role="model", parts=[types.Part(text=text)]),
            actions=EventActions(state_delta=delta or {}),
        )


def build_root_agent(model_spec: Any = None) -> Workflow:
    """script_agent then production_agent, as one ADK workflow."""
    script = get_agent("script_agent", model_spec)
    production = ProductionAgent(name="production_agent", description="Executes the MoviePlan.")
    return Workflow(
        name="sparkle_motion",
        description="Turns one sentence into a finished short movie.",
        edges=[(START, script, production)],
    )


root_agent = build_root_agent()
