#!/usr/bin/env python
"""Load test of the Slack bot over HTTP: N questions from U concurrent simulated users.

The real bot (serve(http=True)) runs on a random local port with the real engine over an index
(--index, default: the configured one), against the local Slack Web API stand-in of the tests.
Every question is a signed request (app_mention, DM or /ask; some re-sent as Slack retries);
we measure the time to Slack's acknowledgement (HTTP response) and to the answer (the stand-in
receiving chat.postMessage / chat.postEphemeral), and check every question is answered exactly once.

    .venv/bin/python scripts/bench_slack.py --index DIR [--questions 200 --users 20 --out bench-out/slack.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "slack"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from standin import SlackStandIn, command_form, event_body, mention, message, post  # noqa: E402

SECRET = "bench-signing-secret"
DEFAULT_QUESTIONS = REPO.parent / "shared" / "dev-questions.jsonl"
FALLBACK_QUESTIONS = [
    ("What did Lavrov say about a truce?", "en"), ("Vad sa Lavrov om vapenvila?", "sv"),
    ("Что сказал Лавров о перемирии?", "ru"), ("Was sagte Lavrov über einen Waffenstillstand?", "de"),
]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def load_questions(path: Path | None) -> list[str]:
    if path and path.is_file():
        return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q, _ in FALLBACK_QUESTIONS]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None, help="index folder (default: ONRECORD_INDEX or HOME/index)")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--question-file", type=Path, default=DEFAULT_QUESTIONS)
    ap.add_argument("--retry-every", type=int, default=7, help="re-send every Nth event as a Slack retry")
    ap.add_argument("--out", type=Path, default=Path("bench-out/slack.json"))
    ap.add_argument("--plot", type=Path, default=None, help="PNG path (default: --out with .png)")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    from bot.answer import Engine
    from bot.slack.serve import serve
    from index.settings import SlackSettings
    from index.settings import Settings

    index_dir = args.index or Settings().index_dir
    t0 = time.perf_counter()
    engine = Engine.open(index_dir)
    open_s = time.perf_counter() - t0
    questions = load_questions(args.question_file)

    standin = SlackStandIn(locales={f"UB{i:03d}": ["en-US", "sv-SE", "de-DE", "ru-RU"][i % 4] for i in range(999)})
    settings = SlackSettings(bot_token="xoxb-bench", signing_secret=SECRET, api_url=standin.api_url,
                             feedback_db=Path(os.environ.get("TMPDIR", "/tmp")) / "onrecord-bench-feedback.sqlite3")
    ready = threading.Event()
    box: dict = {}

    def on_ready(runner):
        box["runner"] = runner
        ready.set()

    threading.Thread(target=serve, kwargs=dict(http=True, port=0, answerer=engine, settings=settings,
                                               on_ready=on_ready), daemon=True).start()
    if not ready.wait(60):
        print("the bot did not start", file=sys.stderr)
        return 1
    runner = box["runner"]
    url = f"http://127.0.0.1:{runner.port}/slack/events"

    results: list[dict] = []
    lock = threading.Lock()
    per_user = [list(range(u, args.questions, args.users)) for u in range(args.users)]

    def replies_in(channel: str):
        return [c for c in standin.replies() if c.args.get("channel") == channel]

    def user_loop(u: int):
        user = f"UB{u:03d}"
        for n in per_user[u]:
            q = questions[n % len(questions)]
            channel = f"CQ{n:05d}"
            kind = ["mention", "mention", "mention", "dm", "ask"][n % 5]
            retried = n % args.retry_every == 0
            t_sent = time.perf_counter()
            if kind == "ask":
                body = command_form("/ask", q, user=user, channel=channel)
                status, _, ack_s = post(url, body, "application/x-www-form-urlencoded", SECRET)
            else:
                ev = mention(q, user=user, channel=channel) if kind == "mention" else \
                    message(q, user=user, channel="D" + channel[1:])
                if kind == "dm":
                    channel = ev["channel"]
                body_d = event_body(ev)
                body = json.dumps(body_d)
                status, _, ack_s = post(url, body, "application/json", SECRET)
                if retried:  # Slack's retry of the same event
                    post(url, body, "application/json", SECRET,
                         extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
            answered = None
            deadline = time.perf_counter() + 120
            while time.perf_counter() < deadline:
                got = replies_in(channel)
                if got:
                    answered = time.perf_counter() - t_sent
                    break
                time.sleep(0.005)
            with lock:
                results.append({"n": n, "user": user, "kind": kind, "retried": retried, "status": status,
                                "ack_s": ack_s, "answer_s": answered, "channel": channel,
                                "done_at": time.perf_counter()})

    start = time.perf_counter()
    threads = [threading.Thread(target=user_loop, args=(u,)) for u in range(args.users)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    wall = time.perf_counter() - start
    runner.app.onrecord.idle(30)
    time.sleep(1.0)  # late duplicates would show up here

    from bot.messages import t as msg

    apologies = {msg(lang, "error") for lang in ("en", "sv", "de", "ru")}
    counts = [len(replies_in(r["channel"])) for r in results]
    errors = sum(1 for r in results for c in replies_in(r["channel"]) if c.args.get("text") in apologies)
    acks = [r["ack_s"] for r in results]
    answers = [r["answer_s"] for r in results if r["answer_s"] is not None]
    summary = {
        "questions": len(results), "users": args.users, "index": str(index_dir),
        "engine_open_s": round(open_s, 3), "wall_s": round(wall, 3),
        "throughput_qps": round(len(results) / wall, 2),
        "http_non_200": sum(1 for r in results if r["status"] != 200),
        "answered_exactly_once": sum(1 for c in counts if c == 1),
        "unanswered": sum(1 for c in counts if c == 0),
        "answered_more_than_once": sum(1 for c in counts if c > 1),
        "retried_events": sum(1 for r in results if r["retried"]),
        "apologies": errors,
        "ack_s": {"p50": round(pct(acks, 50), 4), "p95": round(pct(acks, 95), 4), "p99": round(pct(acks, 99), 4),
                  "max": round(max(acks), 4)},
        "answer_s": {"p50": round(pct(answers, 50), 3), "p95": round(pct(answers, 95), 3),
                     "max": round(max(answers), 3) if answers else None,
                     "mean": round(statistics.mean(answers), 3) if answers else None},
        "engine_threads": settings.engine_threads, "workers": settings.workers,
        "ok": len(results) == args.questions and all(c == 1 for c in counts) and pct(acks, 99) < 3.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "results": sorted(results, key=lambda r: r["n"])}, indent=1))
    plot = args.plot or args.out.with_suffix(".png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        a1.hist([x * 1000 for x in acks], bins=30, color="#4a7")
        a1.axvline(3000, color="r", ls="--", label="Slack's 3 s")
        a1.set_xlabel("acknowledgement (ms)")
        a1.set_ylabel("requests")
        a1.set_title(f"ack p99 {summary['ack_s']['p99'] * 1000:.0f} ms")
        a1.legend()
        done = sorted((r["done_at"] - start, r["answer_s"]) for r in results if r["answer_s"] is not None)
        a2.scatter([d for d, _ in done], [a for _, a in done], s=8)
        a2.set_xlabel("time into the run (s)")
        a2.set_ylabel("answer time (s)")
        a2.set_title(f"answer p50 {summary['answer_s']['p50']} s, p95 {summary['answer_s']['p95']} s "
                     f"({args.users} users)")
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
    except Exception as e:  # the numbers matter more than the picture
        print(f"no plot: {e}", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    runner.stop_event.set()
    standin.close()
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
