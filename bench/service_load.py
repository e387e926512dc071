"""Service load benchmark: many concurrent submissions to a real ``sparkle-motion serve``.

    python bench/service_load.py [--submissions 200] [--workers 2] [--quick]

Starts ``sparkle-motion serve`` as a subprocess on 127.0.0.1 (a free port, a fresh
workspace, ``SPARKLE_PROFILE=fixture``, ``--workers 2``, the default rate limit and backlog)
and, from this process, fires ``--submissions`` small fixture plans at once (2-3 scenes,
160x96 at 8 fps, distinct narration; every tenth repeats an earlier plan, a cache hit).
Then, while the accepted runs render:

- status latency: ``GET /runs/{id}`` round-robin over the accepted runs, continuously,
  until all have ended (p50 / p99 / max; it shares the two cores with the encodes);
- SSE: one ``/runs/{id}/events`` stream per accepted run, its numbered events counted and
  compared with the ``run_events`` rows the workspace's database holds for that run;
- nothing lost: every accepted run ends ``succeeded`` and ``GET /artifacts/{movie id}``
  answers 200 with an mp4.

Reports accepted / 429 / 503 counts. With one client and the default bucket (burst 20,
60 a minute), most of a burst of 200 is refused with 429: that refusal is what is
measured. Traffic goes to 127.0.0.1 only; every loop is bounded in count and time
(``--timeout``), and the server's process group is killed at the end. Prints one table and
writes bench/results/service-load.json (``--quick``: service-load-quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
SRC = ROOT.parent / "src"
TERMINAL = {"succeeded", "failed", "cancelled", "interrupted"}
WORDS = ("fox", "whale", "kite", "lantern", "river", "owl", "comet", "garden", "robot", "bell")


def plan_for(i: int) -> dict:
    """A small fixture plan: 2 or 3 scenes, distinct lines per ``i``."""
    word, other = WORDS[i % len(WORDS)], WORDS[(i // len(WORDS)) % len(WORDS)]
    steps = []
    for s in range(2 + i % 2):
        scene = f"s{s + 1}"
        steps += [
            {"id": f"img{s + 1}", "type": "image", "opts": {"scene": scene},
             "prompt": f"a {word} and a {other}, picture {s + 1}"},
            {"id": f"say{s + 1}", "type": "tts", "opts": {"scene": scene},
             "text": f"Submission {i}: the {word} meets the {other}, part {s + 1}."},
        ]  # fmt: skip
    return {"title": f"Load {i}", "steps": steps,
            "assemble_opts": {"width": 160, "height": 96, "fps": 8}}  # fmt: skip


def plans(n: int) -> list[dict]:
    """``n`` plans; every tenth (i % 10 == 9) is a copy of the one before, to hit the cache."""
    return [plan_for(i - 1 if i % 10 == 9 else i) for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "SPARKLE_HOME": str(home), "SPARKLE_PROFILE": "fixture",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    for name in ("SPARKLE_API_TOKEN", "SPARKLE_API_BURST", "SPARKLE_API_RATE_PER_MIN",
                 "SPARKLE_STEP_QUEUE_BACKLOG_LIMIT", "SPARKLE_EXECUTOR"):  # fmt: skip
        env.pop(name, None)  # the defaults are what is measured
    log = open(home / "serve.log", "ab")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "sparkle_motion.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop_server(proc: subprocess.Popen) -> None:
    """Kill the server's process group (its run children lead groups of their own and die
    with their parent's pool; any left are killed by their recorded group too)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float) -> dict:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            answer = httpx.get(f"{base}/health", timeout=2)
            if answer.status_code == 200:
                return answer.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer /health within {timeout_s:.0f} s")


def submit_all(base: str, bodies: list[dict]) -> list[dict]:
    """All submissions at once (one thread each, released together by a barrier)."""
    import httpx

    gate = threading.Barrier(len(bodies))
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)

    def one(client: httpx.Client, body: dict) -> dict:
        gate.wait()
        started = time.perf_counter()
        try:
            answer = client.post(f"{base}/runs", json={"plan": body, "profile": "fixture"})
        except httpx.HTTPError as exc:
            return {"status": None, "error": type(exc).__name__,
                    "latency_s": time.perf_counter() - started}  # fmt: skip
        data = answer.json()
        return {"status": answer.status_code, "latency_s": time.perf_counter() - started,
                "id": data.get("id"), "code": (data.get("error") or {}).get("code"),
                "retry_after": answer.headers.get("retry-after")}  # fmt: skip

    with httpx.Client(timeout=60, limits=limits) as client, ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: one(client, b), bodies))


class Poller(threading.Thread):
    """``GET /runs/{id}`` round-robin over ``run_ids`` until every run has ended (or the
    deadline); each call's latency recorded."""

    def __init__(self, base: str, run_ids: list[str], deadline: float) -> None:
        super().__init__(name="status-poller", daemon=True)
        self.base, self.run_ids, self.deadline = base, run_ids, deadline
        self.latencies: list[float] = []
        self.errors = Counter[str]()
        self.final: dict[str, dict] = {}

    def run(self) -> None:
        import httpx

        live = list(self.run_ids)
        with httpx.Client(timeout=30) as client:
            while live and time.monotonic() < self.deadline:
                for run_id in list(live):
                    started = time.perf_counter()
                    try:
                        answer = client.get(f"{self.base}/runs/{run_id}")
                    except httpx.HTTPError as exc:
                        self.errors[type(exc).__name__] += 1
                        continue
                    self.latencies.append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        self.errors[str(answer.status_code)] += 1
                        continue
                    run = answer.json()
                    if run["status"] in TERMINAL:
                        self.final[run_id] = run
                        live.remove(run_id)
                    time.sleep(0.02)


class Listener(threading.Thread):
    """One run's event stream: the numbered events it delivers, until a terminal status."""

    def __init__(self, base: str, run_id: str, deadline: float) -> None:
        super().__init__(name=f"sse-{run_id}", daemon=True)
        self.base, self.run_id, self.deadline = base, run_id, deadline
        self.seqs: list[int] = []
        self.ended: str | None = None
        self.error: str | None = None

    def run(self) -> None:
        import httpx

        timeout = httpx.Timeout(30, read=max(1.0, self.deadline - time.monotonic()))
        try:
            with httpx.stream("GET", f"{self.base}/runs/{self.run_id}/events",
                              timeout=timeout) as stream:  # fmt: skip
                event: dict[str, str] = {}
                for line in stream.iter_lines():
                    if time.monotonic() > self.deadline:
                        self.error = "deadline"
                        return
                    if line:
                        name, _, value = line.partition(":")
                        event[name] = value.strip()
                        continue
                    if "id" in event:
                        self.seqs.append(int(event["id"]))
                    if event.get("event") == "status":
                        status = json.loads(event.get("data") or "{}").get("status")
                        if status in TERMINAL:
                            self.ended = status
                            return
                    event = {}
        except httpx.HTTPError as exc:
            self.error = type(exc).__name__


def stored_events(db: Path, run_ids: list[str]) -> dict[str, list[int]]:
    """The numbered events the workspace's database holds, per run (read-only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        out: dict[str, list[int]] = {r: [] for r in run_ids}
        for run_id, seq in con.execute("SELECT run_id, seq FROM run_events ORDER BY seq"):
            if run_id in out:
                out[run_id].append(seq)
        return out
    finally:
        con.close()


def check_movies(base: str, run_ids: list[str]) -> dict[str, str]:
    """Each run, asked again once all have ended: ``ok`` when it succeeded and its movie's
    artifact answers 200 with an mp4."""
    import httpx

    verdicts = {}
    with httpx.Client(timeout=60) as client:
        for run_id in run_ids:
            run = client.get(f"{base}/runs/{run_id}").json()
            movie = run.get("movie") or {}
            if run.get("status") != "succeeded" or not movie.get("id"):
                verdicts[run_id] = f"no movie (status {run.get('status')})"
                continue
            answer = client.get(f"{base}/artifacts/{movie['id']}")
            is_mp4 = answer.content[4:8] == b"ftyp"
            ok = answer.status_code == 200 and is_mp4
            verdicts[run_id] = "ok" if ok else f"artifact {answer.status_code}, mp4={is_mp4}"
    return verdicts


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="overall limit, seconds")
    parser.add_argument("--quick", action="store_true", help="30 submissions, 300 s limit")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (its path)")
    args = parser.parse_args()
    if args.quick:
        args.submissions, args.timeout = 30, min(args.timeout, 300)
    started = time.monotonic()
    deadline = started + args.timeout

    home = Path(tempfile.mkdtemp(prefix="sparkle-load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(home, port, args.workers)
    try:
        health = wait_healthy(base, proc, 60)
        t0 = time.perf_counter()
        answers = submit_all(base, plans(args.submissions))
        submit_wall = time.perf_counter() - t0
        accepted = [a["id"] for a in answers if a["status"] == 202]
        codes = Counter(str(a["status"]) for a in answers)
        listeners = [Listener(base, r, deadline) for r in accepted]
        for listener in listeners:
            listener.start()
        poller = Poller(base, accepted, deadline)
        poller.start()
        poller.join(max(0.0, deadline - time.monotonic()))
        for listener in listeners:
            listener.join(max(0.0, min(30.0, deadline - time.monotonic())))
        all_done_s = time.perf_counter() - t0
        stored = stored_events(home / "sparkle.db", accepted)
        movies = check_movies(base, list(poller.final))
        health_after = wait_healthy(base, proc, 10)
    finally:
        stop_server(proc)

    per_run = []
    for listener in listeners:
        run_id = listener.run_id
        per_run.append({
            "id": run_id,
            "status": (poller.final.get(run_id) or {}).get("status"),
            "movie": movies.get(run_id, "not finished"),
            "events_delivered": len(listener.seqs),
            "events_stored": len(stored[run_id]),
            "events_match": listener.seqs == stored[run_id],
            "missing_seqs": sorted(set(stored[run_id]) - set(listener.seqs)),
            "last_delivered": max(listener.seqs, default=None),
            "stream_ended": listener.ended, "stream_error": listener.error,
            # the first GET that said "succeeded" had no movie yet (result.json not written)
            "succeeded_before_movie": ((poller.final.get(run_id) or {}).get("status")
                                       == "succeeded"
                                       and not (poller.final.get(run_id) or {}).get("movie")),
            "cache_hits": sum(bool(s.get("cache_hit"))
                              for s in (poller.final.get(run_id) or {}).get("steps") or []),
        })  # fmt: skip
    lost = [r["id"] for r in per_run if r["status"] != "succeeded" or r["movie"] != "ok"]
    lat = poller.latencies
    results: dict[str, Any] = {
        "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "server": {"health_before": health, "health_after": health_after},
        "submissions": {
            "sent": len(answers), "accepted": len(accepted),
            "rate_limited_429": codes.get("429", 0), "backlog_full_503": codes.get("503", 0),
            "other": {k: v for k, v in codes.items() if k not in ("202", "429", "503")},
            "wall_s": round(submit_wall, 3),
            "p50_latency_s": pct([a["latency_s"] for a in answers], 0.5),
            "p99_latency_s": pct([a["latency_s"] for a in answers], 0.99),
            "retry_after_429": sorted({a["retry_after"] for a in answers
                                       if a["status"] == 429 and a["retry_after"]}),
            "retry_after_503": sorted({a["retry_after"] for a in answers
                                       if a["status"] == 503 and a["retry_after"]}),
        },
        "status_calls": {
            "count": len(lat), "p50_s": pct(lat, 0.5), "p99_s": pct(lat, 0.99),
            "max_s": max(lat) if lat else None, "errors": dict(poller.errors),
        },
        "sse": {
            "delivered": sum(r["events_delivered"] for r in per_run),
            "stored": sum(r["events_stored"] for r in per_run),
            "runs_all_delivered_in_order": sum(r["events_match"] for r in per_run),
            "stream_errors": sum(bool(r["stream_error"]) for r in per_run),
        },
        "runs": {
            "succeeded_with_movie": len(per_run) - len(lost), "lost": lost,
            "cache_hit_steps": sum(r["cache_hits"] for r in per_run),
            "said_succeeded_before_movie": sum(r["succeeded_before_movie"] for r in per_run),
            "until_all_ended_s": round(all_done_s, 2),
        },
        "per_run": per_run,
        "workspace": str(home) if args.keep else None,
        "wall_s": round(time.monotonic() - started, 2),
    }  # fmt: skip
    name = "service-load-quick.json" if args.quick else "service-load.json"
    out = ROOT / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if not args.keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    print_table(results)
    print(f"wrote {out}")
    return 1 if lost else 0


def print_table(r: dict) -> None:
    s, c, e, runs = r["submissions"], r["status_calls"], r["sse"], r["runs"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{1000 * v:.1f} ms"

    rows = [
        ("submissions sent at once", str(s["sent"]), f"in {s['wall_s']:.2f} s"),
        ("accepted (202)", str(s["accepted"]), ""),
        ("rate limited (429)", str(s["rate_limited_429"]),
         f"Retry-After {','.join(s['retry_after_429']) or '-'}"),
        ("backlog full (503)", str(s["backlog_full_503"]),
         f"Retry-After {','.join(s['retry_after_503']) or '-'}"),
        ("other answers", json.dumps(s["other"]) if s["other"] else "0", ""),
        ("submission latency p50 / p99", f"{ms(s['p50_latency_s'])} / "
         f"{ms(s['p99_latency_s'])}", ""),
        ("GET /runs/{id} under load: calls", str(c["count"]),
         f"errors {json.dumps(c['errors'])}" if c["errors"] else ""),
        ("  p50 / p99 / max", f"{ms(c['p50_s'])} / {ms(c['p99_s'])}", f"max {ms(c['max_s'])}"),
        ("SSE events delivered / stored", f"{e['delivered']} / {e['stored']}",
         f"{e['runs_all_delivered_in_order']} runs exact, {e['stream_errors']} stream errors"),
        ("accepted runs succeeded with their mp4", f"{runs['succeeded_with_movie']} / "
         f"{s['accepted']}", f"lost: {len(runs['lost'])}"),
        ("cache-hit steps (repeated plans)", str(runs["cache_hit_steps"]), ""),
        ("GET said succeeded before its movie", str(runs["said_succeeded_before_movie"]),
         "movie: null until result.json is written"),
        ("submit -> all accepted runs ended", f"{runs['until_all_ended_s']:.1f} s", ""),
    ]  # fmt: skip
    width = max(len(a) for a, _, _ in rows)
    print(f"\nservice load: {r['args']['submissions']} submissions, "
          f"--workers {r['args']['workers']}, {r['machine']['cpus']} CPUs")  # fmt: skip
    for a, b, note in rows:
        print(f"{a:<{width}}  {b:>18}  {note}")


if __name__ == "__main__":
    sys.exit(main())
