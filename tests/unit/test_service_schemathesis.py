"""Schemathesis against the service's own OpenAPI: no generated request gets a 500.

Every route of ``/openapi.json`` is called with requests hypothesis generates from the
declared schema (valid ones and ones that break it). Runs are accepted through the real
admission and store, but their launcher finishes them at once, so nothing renders; the
token bucket is wide open so that a bug never hides behind a 429. What the checks hold:
no 5xx other than a declared 503, every error is the project's typed error JSON, and a
2xx answer conforms to what the route declares. Bounded and derandomized, so CI sees the
same examples each time."""

from __future__ import annotations

import json
import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from sparkle_motion.config import get_settings
from sparkle_motion.db.store import get_store
from sparkle_motion.service.app import create_app
from sparkle_motion.service.events import record_status
from sparkle_motion.service.pool import RunPool
from sparkle_motion.workspace import get_workspace

# 503 is a declared answer (a full backlog, a planner model without its credentials); a
# 500 never is.
EXAMPLES = 25
OK_5XX = {503: {"backlog_full", "adk_unavailable", "missing_dependency"}}


class Done:
    """A launcher whose runs end at once (the pool records them; nothing renders)."""

    def __call__(self, run_id: str) -> Done:
        return self

    def wait(self) -> int:
        return 0

    def kill(self) -> None:
        pass


def build_app(**env: object):
    settings = get_settings(api_burst=100_000, api_rate_per_min=1_000_000, **env)
    pool = RunPool(get_store(settings), settings, get_workspace(settings).ensure(),
                   workers=1, launcher=Done())  # fmt: skip
    return create_app(settings, pool=pool, token=None)


def typed_errors(ctx, response, case) -> bool | None:
    """Every 4xx/5xx is ``{"error": {"code", "message", "field", ...}}``; a 5xx only a
    declared 503."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert "field" in error, body
    if response.status_code >= 500:
        assert error["code"] in OK_5XX.get(response.status_code, set()), body
    return None


MODES = {"positive": GenerationMode.POSITIVE, "negative": GenerationMode.NEGATIVE}
CHECKS = [typed_errors, content_type_conformance, response_schema_conformance]


def small_plan(line: str = "A fox paints the sea.") -> dict:
    return {
        "title": "Small fox",
        "steps": [
            {"id": "img1", "type": "image", "prompt": "a fox", "opts": {"scene": "s1"}},
            {"id": "say1", "type": "tts", "text": line, "opts": {"scene": "s1"}},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8},
    }


def run_call(operation, settings_: dict, strategy):
    """One bounded, derandomized hypothesis test calling ``operation`` with ``strategy``'s
    cases and holding CHECKS; returns the statuses seen."""
    seen: set[int] = set()

    @given(case=strategy)
    @settings(
        **{
            "max_examples": EXAMPLES,
            "deadline": None,
            "derandomize": True,
            "database": None,
            "suppress_health_check": list(HealthCheck),
            **settings_,
        }
    )
    def call(case) -> None:
        response = case.call()
        seen.add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    call()
    return seen


@pytest.mark.parametrize("mode", MODES)
def test_no_generated_request_gets_a_500(mode: str) -> None:
    """Every route, from its declared schema. Valid requests name an existing run (so the
    run routes go past their 404); invalid ones whatever they generate."""
    app = build_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seeded = schema["/runs"]["POST"].Case(body={"plan": small_plan(), "profile": "fixture"})
    run_id = seeded.call().json()["id"]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12  # every route of the contract is declared
    tried: dict[str, set[int]] = {}
    for operation in operations:
        fixed = {}
        if mode == "positive" and "{run_id}" in operation.path:
            fixed = {"path_parameters": {"run_id": run_id}}
        strategy = operation.as_strategy(generation_mode=MODES[mode], **fixed)
        try:
            tried[operation.label] = run_call(operation, {}, strategy)
        except Unsatisfiable:
            # nothing to break (no input, or only free-form strings): no negative case
            assert mode == "negative", operation.label
    if mode == "positive":
        assert set(tried) == {op.label for op in operations}
        # the run routes answered about the run, not "no such run"
        assert tried["GET /runs/{run_id}"] == {200} and 200 in tried["GET /runs/{run_id}/plan"]
    else:
        assert {"POST /runs", "GET /artifacts/{artifact_id}", "POST /reviews/{review_id}",
                "GET /runs/{run_id}/events"} <= set(tried)  # fmt: skip


def texts() -> st.SearchStrategy[str]:
    return st.text(max_size=120)


def json_values() -> st.SearchStrategy:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | texts()
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(texts(), inner, max_size=3), max_leaves=6)  # fmt: skip


@st.composite
def submissions(draw) -> dict:
    """POST /runs bodies the request schema accepts, so they reach the planner, the plan
    validator, the providers and the queue: an idea, or a small plan with one field
    replaced by anything JSON."""
    body: dict = {"profile": draw(st.sampled_from([None, "fixture", "preview", "full"])),
                  "dry": draw(st.booleans())}  # fmt: skip
    if draw(st.booleans()):
        body["idea"] = draw(texts())
        body["model"] = draw(st.sampled_from([None, "offline-planner"]) | texts())
    else:
        plan = small_plan(draw(texts()))
        where = draw(st.sampled_from(["top", "step", "opts", "assemble"]))
        key = draw(st.sampled_from(["title", "steps", "id", "type", "prompt", "text",
                                    "scene", "width", "fps", "voice", "duration_s"]) | texts())  # fmt: skip
        target = {"top": plan, "step": plan["steps"][0], "opts": plan["steps"][1]["opts"],
                  "assemble": plan["assemble_opts"]}[where]  # fmt: skip
        target[key] = draw(json_values())
        body["plan"] = plan
    if draw(st.booleans()):
        body["providers"] = draw(st.dictionaries(
            st.sampled_from(["images_sdxl", "tts_chatterbox", "videos_wan", "qa"]) | texts(),
            st.sampled_from(["fixture", "preview", "full"]) | texts(), max_size=2))  # fmt: skip
    return body


def test_submissions_that_pass_the_request_schema_get_no_500() -> None:
    """Bodies built to go past the request schema, into the planner and the validator."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", build_app())
    operation = schema["/runs"]["POST"]
    cases = submissions().map(lambda body: operation.Case(body=body))
    seen = run_call(operation, {"max_examples": 3 * EXAMPLES}, cases)
    assert {200, 202} <= seen  # some were accepted: the deep paths ran


# ------------------------------------------------ what schemathesis found, pinned down


@pytest.fixture
def api():
    from fastapi.testclient import TestClient

    with TestClient(build_app()) as client:  # a 500 raises here
        yield client


def test_an_unknown_planner_model_is_the_callers_422(api) -> None:
    answer = api.post("/runs", json={"idea": "a fox", "model": "CSafeLoader", "dry": True})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "model" and "CSafeLoader" in error["message"]


def test_an_unknown_provider_override_is_the_callers_422(api) -> None:
    answer = api.post("/runs", json={"plan": small_plan(), "providers": {"Î": "3"}})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "providers.Î"
    assert api.get("/runs").json() == {"runs": []}  # nothing was queued
    good = api.post("/runs", json={"plan": small_plan(), "providers": {"images_sdxl": "fixture"},
                                   "dry": True})  # fmt: skip
    assert good.status_code == 200


def test_ids_beyond_sqlite_integers_are_422_not_500(api) -> None:
    big = 2**63
    for url in (f"/artifacts/{big}", f"/artifacts/{big - 1}"):
        answer = api.get(url)
        assert answer.status_code in (404, 422) and answer.json()["error"]["code"], url
    assert api.get(f"/artifacts/{big}").status_code == 422
    assert api.post(f"/reviews/{big}", json={"decision": "approve"}).status_code == 422
    assert api.post(f"/reviews/{big - 1}", json={"decision": "approve"}).status_code == 404


def test_odd_last_event_ids_start_the_stream_over(api) -> None:
    run_id = api.post("/runs", json={"plan": small_plan(), "profile": "fixture"}).json()["id"]
    whole = api.get(f"/runs/{run_id}/events").text
    assert "event: status" in whole and '"failed"' in whole  # its launcher ends it at once
    for header in ("²".encode("latin-1"), b"99999999999999999999999", b" 1x", b"-1"):
        again = api.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": header})
        assert again.status_code == 200 and again.text.count("id: ") == whole.count("id: ")
    assert api.get(f"/runs/{run_id}/events?last_event_id={2**63}").status_code == 422


def test_non_json_answers_are_declared_as_such(api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    content = {p: paths[p]["get"]["responses"]["200"]["content"] for p in
               ("/runs/{run_id}/events", "/runs/{run_id}/subtitles.vtt", "/artifacts/{artifact_id}")}  # fmt: skip
    assert [list(c) for c in content.values()] == [["text/event-stream"], ["text/vtt"], ["*/*"]]
    assert "200" in paths["/runs"]["post"]["responses"]  # a dry run


def test_429_is_a_typed_answer_too() -> None:
    from fastapi.testclient import TestClient

    settings = get_settings(api_burst=1, api_rate_per_min=1)
    pool = RunPool(get_store(settings), settings, get_workspace(settings).ensure(),
                   launcher=Done())  # fmt: skip
    with TestClient(create_app(settings, pool=pool)) as api:
        codes = [api.post("/runs", json={"plan": small_plan(), "dry": True}) for _ in range(2)]
    assert [c.status_code for c in codes] == [200, 429]
    assert codes[1].json()["error"]["code"] == "rate_limited" and codes[1].headers["Retry-After"]


class EndsLate:
    """A launcher whose run's row says ``succeeded`` before its process has written its
    last events (as a real child does: the runner records the end, then the events are
    flushed); the process finishes when ``release`` is set."""

    def __init__(self, store) -> None:
        self.store, self.release, self.said = store, threading.Event(), threading.Event()

    def __call__(self, run_id: str) -> EndsLate:
        self.run_id = run_id
        return self

    def wait(self) -> int:
        self.store.update_run(self.run_id, status="succeeded", summary="done")
        self.said.set()
        self.release.wait(30)
        data = {"step_id": "assemble", "phase": "done", "progress": 1.0, "message": "succeeded"}
        self.store.add_run_events(self.run_id, [("progress", data)])
        record_status(self.store, self.run_id, "succeeded", "done")
        return 0

    def kill(self) -> None:
        self.release.set()


def test_a_stream_waits_for_the_last_events_of_a_run_that_just_ended() -> None:
    """Found by bench/service_load.py: a stream that looked between the run's row saying
    "succeeded" and its last events being written ended with a made-up status event and
    missed the numbered ones."""
    from fastapi.testclient import TestClient

    settings = get_settings()
    store = get_store(settings)
    late = EndsLate(store)
    pool = RunPool(store, settings, get_workspace(settings).ensure(), launcher=late)
    with TestClient(create_app(settings, pool=pool)) as api:
        run_id = api.post("/runs", json={"plan": small_plan()}).json()["id"]
        assert late.said.wait(10) and api.get(f"/runs/{run_id}").json()["status"] == "succeeded"
        threading.Timer(1.0, late.release.set).start()  # after the stream has looked
        text = api.get(f"/runs/{run_id}/events").text
    ids = [int(line[3:]) for line in text.splitlines() if line.startswith("id:")]
    assert ids == [e["seq"] for e in store.run_events(run_id)]
    assert '"message": "succeeded"' in text and text.count("event: status") == 2
