"""Shared test set-up: every test gets its own workspace and a clean environment."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest

_ENV = (
    "SPARKLE_HOME",
    "SPARKLE_CONFIG_DIR",
    "SPARKLE_MODELS_DIR",
    "SPARKLE_PLANNER_MODEL",
    "SPARKLE_PROFILE",
    "SPARKLE_MAX_STEPS",
    "SPARKLE_MAX_TOTAL_FRAMES",
    "SPARKLE_MAX_TEXT_LENGTH",
    "SPARKLE_MAX_PLAN_BYTES",
    "SPARKLE_EXECUTOR",
    "SPARKLE_API_TOKEN",
    "SPARKLE_STEP_QUEUE_BACKLOG_LIMIT",
    "SPARKLE_API_RATE_PER_MIN",
    "SPARKLE_API_BURST",
    "SMOKE_ADK",
    "SMOKE_ADAPTERS",
    "SMOKE_TTS",
    "SMOKE_QA",
    "SMOKE_LIPSYNC",
    "SPARKLE_CHATTERBOX_PYTHON",
    "SPARKLE_WAV2LIP_DIR",
    "SPARKLE_WAV2LIP_PYTHON",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
)


@pytest.fixture(autouse=True)
def sparkle_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "sparkle-home"
    monkeypatch.setenv("SPARKLE_HOME", str(home))
    return home


class CannedLlm:
    """Builds an ADK BaseLlm that answers with canned replies, in order (the spec's LLM stub)."""

    @staticmethod
    def make(*replies: str):  # -> BaseLlm
        from google.adk.models import BaseLlm, LlmRequest, LlmResponse
        from google.genai import types

        queue = list(replies)

        class _Canned(BaseLlm):
            model: str = "canned-stub"
            calls: int = 0

            @classmethod
            def supported_models(cls) -> list[str]:
                return []

            async def generate_content_async(
                self, llm_request: LlmRequest, stream: bool = False
            ) -> AsyncGenerator[LlmResponse, None]:
                self.calls += 1
                text = queue.pop(0) if len(queue) > 1 else queue[0]
                yield LlmResponse(
                    content=types.Content(role="model", parts=[types.Part(text=text)])
                )

        return _Canned()


@pytest.fixture
def canned_llm() -> type[CannedLlm]:
    return CannedLlm


# ------------------------------------------------------------------------ executors

EXECUTORS = ("local", "process", "ray")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "executors(*names): run only over these executors (default: local, process and ray)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses the ``executor`` fixture runs once per executor (see EXECUTORS)."""
    if "executor" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("executors")
    names = marker.args if marker and marker.args else EXECUTORS
    metafunc.parametrize("executor", names, indirect=True)


@pytest.fixture
def executor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs in this test (and the CLI processes it starts) use this executor."""
    if request.param == "ray":
        monkeypatch.setenv("RAY_ADDRESS", request.getfixturevalue("ray_cluster"))
    monkeypatch.setenv("SPARKLE_EXECUTOR", request.param)
    return request.param


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """One local Ray instance for the whole session (2 CPUs, 2 fake GPUs); its address.

    Runs in this process reuse it and the CLI processes a test starts join it through
    ``RAY_ADDRESS``, so the seconds Ray takes to start are paid once. Skipped where the
    ``ray`` extra is not installed."""
    ray = pytest.importorskip("ray")
    from sparkle_motion.executors.ray import runtime_env

    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
            runtime_env=runtime_env(),
        )  # fmt: skip
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()
