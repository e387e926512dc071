"""The ADK root agent: script_agent then production_agent, driven by an ADK runner."""

from __future__ import annotations

import asyncio

from google.adk.runners import InMemoryRunner
from google.genai import types

from sparkle_motion.agent import build_root_agent, root_agent


def run_agent(agent, text: str, state: dict) -> tuple[dict, list[str]]:
    runner = InMemoryRunner(agent=agent, app_name="sparkle_motion")

    async def go() -> tuple[dict, list[str]]:
        session = await runner.session_service.create_session(
            app_name="sparkle_motion", user_id="u", state=state
        )
        said = []
        message = types.Content(role="user", parts=[types.Part(text=text)])
        async for event in runner.run_async(
            user_id="u", session_id=session.id, new_message=message
        ):
            if event.author == "production_agent" and event.content:
                said.append(event.content.parts[0].text)
        final = await runner.session_service.get_session(
            app_name="sparkle_motion", user_id="u", session_id=session.id
        )
        return final.state, said

    return asyncio.run(go())


def test_root_agent_is_the_two_step_pipeline() -> None:
    names = [(e.from_node.name, e.to_node.name) for e in root_agent.graph.edges]
    assert names == [("__START__", "script_agent"), ("script_agent", "production_agent")]


def test_idea_to_dry_run_through_an_adk_runner() -> None:
    state, said = run_agent(
        build_root_agent("offline-planner"),
        "a lighthouse keeper befriends a whale",
        {"mode": "dry", "profile": "fixture"},
    )
    assert "whale" in state["plan"]["title"].lower()
    report = state["dry_report"]
    assert len(report["steps"]) == len(state["plan"]["steps"])
    assert said and said[0].startswith("Dry run:")
