"""What the service shows of a run, a review and an artifact: plain dicts built from the
store, the run's plan and its ``result.json``. No HTTP here, so the shapes are tested
without a server and the page, the API and a script all read the same thing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sparkle_motion.config import Settings
from sparkle_motion.db.store import Store
from sparkle_motion.production import runs
from sparkle_motion.service.child import RESULT_FILE
from sparkle_motion.service.events import STEP_STATES
from sparkle_motion.types import uri_to_path
from sparkle_motion.workspace import Workspace

# a run whose process died without saying so is shown as what it is to a user: interrupted
_SHOWN = {"dead": "interrupted"}


def saved_plan(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["plan_json"])["plan"]


def run_summary(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    shown = runs.shown_run(row, settings)
    plan = saved_plan(row)
    return {
        "id": row["run_id"],
        "title": plan.get("title") or plan.get("id") or row["run_id"],
        "status": _SHOWN.get(shown["status"], shown["status"]),
        "summary": shown.get("summary") or "",
        "profile": row.get("profile"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def artifact_link(store: Store, uri: str | None) -> dict[str, Any] | None:
    """An artifact as the page fetches it: its store id and URL (never a path)."""
    if not uri:
        return None
    rows = store.artifacts(uri=uri)
    if not rows:
        return None
    row = rows[0]
    return {"id": row["id"], "url": f"/artifacts/{row['id']}", "media_type": row["media_type"]}


def read_result(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    path = ws.run_dir(run_id) / RESULT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _steps(store: Store, row: dict[str, Any]) -> list[dict[str, Any]]:
    records = {r.step_id: r for r in store.step_records(run_id=row["run_id"])}
    shown = []
    for step in saved_plan(row).get("steps") or []:
        rec = records.get(step["id"])
        opts = step.get("opts") or {}
        shown.append(
            {
                "step_id": step["id"],
                "type": step.get("type"),
                "scene": opts.get("scene"),
                "text": step.get("text") or _spoken(step.get("lines")),
                "prompt": step.get("prompt"),
                "status": rec.status if rec else "pending",
                "attempts": rec.attempts if rec else 0,
                "duration_s": rec.duration_s if rec else None,
                "cache_hit": rec.cache_hit if rec else False,
                "error": rec.error_message if rec else None,
                "artifact": artifact_link(store, rec.artifact_uri) if rec else None,
            }
        )
    return shown


def _spoken(lines: list[dict[str, Any]] | None) -> str | None:
    """A dialogue step's lines as one text, as they are heard; None without lines (who
    says each is in the plan's ``lines``)."""
    return " ".join(ln["text"] for ln in lines) if lines else None


def _current(store: Store, run_id: str) -> dict[str, Any] | None:
    """The latest progress of a step still at work (what the page names as happening)."""
    events = store.run_events(run_id, limit=300, newest=True)
    at_work: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["kind"] != "progress" or not e.get("step_id"):
            continue
        if e["message"] in STEP_STATES - {"running"}:
            at_work.pop(e["step_id"], None)
        else:
            at_work[e["step_id"]] = e
    if not at_work:
        return None
    latest = max(at_work.values(), key=lambda e: e["seq"])
    return {"step_id": latest["step_id"], "message": latest["message"]}


def _error(steps: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any] | None:
    if summary["status"] not in ("failed", "interrupted", "cancelled"):
        return None
    for step in steps:
        if step["status"] == "failed":
            why = step["error"] or "it failed"
            return {"step_id": step["step_id"], "message": f"{step['step_id']} failed: {why}"}
    return {"step_id": None, "message": summary["summary"] or summary["status"]}


def _movie(
    store: Store, result: dict[str, Any] | None, row: dict[str, Any]
) -> dict[str, Any] | None:
    run_id = row["run_id"]
    movie = (result or {}).get("movie") or {}
    # a run made by the CLI has no result.json: its row still names the movie
    link = artifact_link(store, movie.get("artifact_uri") or row.get("output_uri"))
    if link is None:
        return None
    has_srt = subtitles_path(result) is not None
    return {
        **link,
        "subtitles_url": f"/runs/{run_id}/subtitles.vtt" if has_srt else None,
        "duration_s": (movie.get("metadata") or {}).get("duration_s")
        or (store.artifacts(id=link["id"])[0]["metadata"] or {}).get("duration_s"),
    }


def run_detail(
    store: Store, settings: Settings, ws: Workspace, row: dict[str, Any]
) -> dict[str, Any]:
    """GET /runs/{id}: the run, each step in plan order, what is happening, and what it
    made (movie, warnings, QA scorecard, manifest, reviews)."""
    summary = run_summary(row, settings)
    steps = _steps(store, row)
    result = read_result(ws, row["run_id"])
    running = summary["status"] == "running"
    return {
        **summary,
        "steps": steps,
        "current": _current(store, row["run_id"]) if running else None,
        "warnings": (result or {}).get("warnings") or [],
        "scorecard": (result or {}).get("scorecard"),
        "manifest": (result or {}).get("manifest"),
        "movie": _movie(store, result, row),
        "reviews": [review(store, r) for r in store.review_requests(run_id=row["run_id"])],
        "error": _error(steps, summary),
    }


def review(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "run_id": row.get("run_id"),
        "step_id": row.get("step_id"),
        "reason": row.get("reason"),
        "status": row.get("status"),
        "note": row.get("note"),
        "created_at": row.get("created_at"),
        "artifact": artifact_link(store, row.get("artifact_uri")),
        "report": row.get("report") or {},
    }


def subtitles_path(result: dict[str, Any] | None) -> Path | None:
    srt = (result or {}).get("subtitles")
    return uri_to_path(srt["artifact_uri"]) if srt else None


_SRT_TIME = re.compile(r"(\d\d:\d\d:\d\d),(\d\d\d)")


def srt_to_vtt(srt: str) -> str:
    """WebVTT from SubRip (what a browser's <track> reads): a header and dots for commas
    in the cue times; cue numbers are allowed as identifiers."""
    body = _SRT_TIME.sub(r"\1.\2", srt.replace("\r\n", "\n").lstrip("\ufeff"))
    return "WEBVTT\n\n" + body


def artifact_file(store: Store, ws: Workspace, artifact_id: int) -> tuple[Path, str] | None:
    """The file of artifact ``artifact_id`` and its media type, only when it is a file
    inside the workspace (an id never reaches anything else)."""
    rows = store.artifacts(id=artifact_id)
    if not rows:
        return None
    try:
        path = uri_to_path(rows[0]["uri"]).resolve()
    except ValueError:
        return None
    root = ws.root.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path, rows[0]["media_type"]
