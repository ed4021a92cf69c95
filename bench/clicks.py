"""Benchmark: how fast Slack's "Mark audit complete" clicks are acknowledged, under load and a slow Slack.

Run (an empty PostgreSQL database of your own)::

    createdb -h 127.0.0.1 -U postgres bench_clicks
    .venv/bin/python bench/clicks.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_clicks \\
        [--seconds 30] [--rate 20] [--sweep 50,100,200,300,400] [--sweep-seconds 5] [--latency 0.3]
    dropdb -h 127.0.0.1 -U postgres bench_clicks

Builds the council of ``bench/council.py`` (9,902 staff, 100,000 cases) with one December allocation per
click to come, every auditor known by Slack id. The real bot (``create_app`` behind ``make_wsgi`` with its
follow-ups, gate and click lane, on waitress via ``serve_in_thread``) answers; a local workspace is its Slack, served from
a process of its own, as in local mode (``--workspace in-process``: on a thread beside the bot, as in the tests). A load
generator in a separate process (threads with keep-alive ``http.client`` connections) sends signed
``block_actions`` clicks at a fixed rate and times each answer. The floor is a bare Bolt app (one ``ack()``
listener) on the same waitress setup in the same run; the generator's own lag (how late it sends against
its schedule) is printed beside it. Scenarios: the rate for ``--seconds``; the same with every Web API and
response_url call taking ``--latency`` (and whether every click's respond() reached Slack); a sweep of
rates (p99, share acknowledged within 3 s, share shed "busy", share timed out, share of the clicks' audits
completed, and how long the listeners ran on after the last click). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import json
import multiprocessing
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from council import populate_council  # bench/council.py: this script's own folder is on the path
from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.delivery.clicks import ClickLane
from bot.delivery.followups import FollowUps
from bot.handlers.deps import Deps
from bot.ids import ActionId, BlockId
from bot.settings import load_settings
from bot.web import SLACK_PATH, Gate, make_wsgi, serve_in_thread
from bot.workspace import LocalWorkspace
from bot.workspace.actor import sign
from bot.workspace.process import WorkspaceProcess, click_context
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import Allocation, AllocationState, AuditMonth, AuditType, Person

TOKEN, SECRET = "xoxb-bench", "bench-signing-secret"
SLACK_TIMEOUT = 3.0
MONTH = dt.date(2026, 12, 1)


def row(label: str, figure: str, floor: str = "", ratio: float | None = None) -> None:
    print(f"  {label:<46} {figure:>22}  {floor:>22}  {'' if ratio is None else f'x{ratio:.2f}':>8}")


# --- the store and the workspace -----------------------------------------------------------------------------------


def prepare(sessions: sessionmaker[Session], workspace: LocalWorkspace | WorkspaceProcess, clicks: int) -> list[tuple[int, str]]:
    """The council, ``clicks`` open allocations, and each auditor's Slack account: (allocation id, Slack id)."""
    council = populate_council(sessions)
    slack_ids: dict[int, str] = {}
    with sessions() as session, session.begin():
        for person_id, email, name in session.execute(
            select(Person.id, Person.email, Person.display_name).where(Person.id.in_(council.auditor_ids))
        ):
            slack_ids[person_id] = workspace.add_user(email, name)
        session.execute(update(Person), [{"id": k, "slack_user_id": v} for k, v in slack_ids.items()])
        month_id = session.scalar(insert(AuditMonth).values(month=MONTH).returning(AuditMonth.id))
        now = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
        auditors = council.auditor_ids
        rows = [{"month_id": month_id, "month_start": MONTH, "case_id": k + 1, "auditor_id": auditors[k % len(auditors)],
                 "audit_type": AuditType.CONTROL, "due_date": dt.date(2026, 12, 31), "state": AllocationState.ALLOCATED,
                 "reason": "bench", "created_at": now} for k in range(clicks)]
        ids = list(session.scalars(insert(Allocation).returning(Allocation.id, sort_by_parameter_order=True), rows))
    return [(allocation_id, slack_ids[r["auditor_id"]]) for allocation_id, r in zip(ids, rows, strict=True)]


def click_bodies(workspace: LocalWorkspace | WorkspaceProcess, targets: list[tuple[int, str]]) -> list[bytes]:
    """A signed-to-be ``block_actions`` body per allocation, with a live response_url."""
    bodies = []
    for allocation_id, user_id in targets:
        own = isinstance(workspace, WorkspaceProcess)
        c = workspace.click_context(user_id) if own else click_context(workspace, user_id)
        payload = {
            "type": "block_actions", "user": {"id": user_id, "username": c["username"], "team_id": c["team_id"]},
            "api_app_id": c["app_id"], "token": "verification", "trigger_id": c["trigger_id"],
            "team": {"id": c["team_id"], "domain": c["team_domain"]}, "channel": {"id": c["channel"]},
            "container": {"type": "message", "message_ts": "1.000001", "channel_id": c["channel"]},
            "response_url": c["response_url"],
            "actions": [{"type": "button", "action_id": ActionId.MARK_COMPLETE, "block_id": BlockId.AUDIT_ACTIONS,
                         "value": str(allocation_id), "action_ts": f"{time.time():.6f}"}],
        }
        bodies.append(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
    return bodies


# --- the load generator (its own process: it competes with the bot for the cores, not for the GIL) ----------------


@dataclass
class Result:
    lag: float  # how late the generator sent it against its schedule
    latency: float | None  # None: no answer within Slack's 3 s
    status: int
    shed: bool


def _generate(url: str, bodies: list[bytes], rate: float, out: Any) -> None:
    parsed = urllib.parse.urlsplit(url)
    counter, lock, results = itertools.count(), threading.Lock(), []
    start = time.monotonic() + 0.2

    def worker() -> None:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=SLACK_TIMEOUT)
        while (i := next(counter)) < len(bodies):
            due = start + i / rate
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            body, stamp = bodies[i], str(int(time.time()))
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                       "X-Slack-Signature": sign(SECRET, int(stamp), body)}
            sent = time.monotonic()
            try:
                connection.request("POST", parsed.path, body, headers)
                response = connection.getresponse()
                response.read()
                shed = response.getheader("X-Auditbot-Shed") is not None
                result = Result(sent - due, time.monotonic() - sent, response.status, shed)
            except (TimeoutError, OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=SLACK_TIMEOUT)
                result = Result(sent - due, None, 0, False)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker) for _ in range(min(128, max(8, int(rate)) // 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send([(r.lag, r.latency, r.status, r.shed) for r in results])


def load(url: str, bodies: list[bytes], rate: float) -> list[Result]:
    """Send ``bodies`` at ``rate`` per second from another process; each one's result."""
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_generate, args=(url, bodies, rate, send))
    process.start()
    results = [Result(*r) for r in receive.recv()]
    process.join()
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def answered(results: list[Result]) -> list[float]:
    return [r.latency for r in results if r.latency is not None and r.latency <= SLACK_TIMEOUT]


# --- the bots ------------------------------------------------------------------------------------------------------


def arrivals(workspace: LocalWorkspace | WorkspaceProcess) -> int:
    """How many response_url posts have reached the workspace."""
    if isinstance(workspace, WorkspaceProcess):
        return workspace.arrivals("response_url")
    return workspace.arrivals.count("response_url")


def bare_app(base_url: str) -> App:
    client = WebClient(token=TOKEN, base_url=base_url)
    app = App(signing_secret=SECRET, client=client, process_before_response=True)

    @app.action(ActionId.MARK_COMPLETE)
    def _ack(ack: Ack) -> None:
        ack()

    return app


def main() -> None:
    """Run the scenarios and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds every Web API / response_url call takes")
    parser.add_argument("--sweep", default="50,100,200,300,400")
    parser.add_argument("--sweep-seconds", type=float, default=5.0)
    parser.add_argument("--workspace", choices=("own-process", "in-process"), default="own-process")
    args = parser.parse_args()
    sweep = [float(r) for r in args.sweep.split(",") if r]
    per_run = int(args.rate * args.seconds)
    needed = per_run * 3 + sum(int(r * args.sweep_seconds) for r in sweep)

    engine = make_engine(args.database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    options = {"bot_token": TOKEN, "signing_secret": SECRET, "channel_rate_per_sec": None}
    own = args.workspace == "own-process"
    workspace: LocalWorkspace | WorkspaceProcess = WorkspaceProcess(**options) if own else LocalWorkspace(**options)
    workspace.start()
    settings = load_settings(database_url=args.database_url, slack_signing_secret=SECRET, slack_bot_token=TOKEN)
    print(f"building the council and {needed} allocations ...", flush=True)
    targets = iter(prepare(sessions, workspace, needed))
    followups = FollowUps(threads=settings.followup_threads).start()
    app = create_app(Deps(sessions=sessions, settings=settings), client=WebClient(token=TOKEN, base_url=workspace.base_url))
    gate = Gate(settings.slack_gate, settings.slack_gate_wait_seconds, settings.view_gate_wait_seconds)
    clicks = ClickLane(followups, threads=settings.click_threads, max_wait=gate.wait).start()
    bot = serve_in_thread(make_wsgi(app, sessions, signing_secret=SECRET, followups=followups, gate=gate, clicks=clicks),
                          threads=settings.http_threads)
    bare_wsgi = make_wsgi(bare_app(workspace.base_url), sessions, signing_secret=SECRET)
    bare = serve_in_thread(bare_wsgi, threads=settings.http_threads)
    try:
        def run(server_url: str, rate: float, seconds: float) -> list[Result]:
            taken = [next(targets) for _ in range(int(rate * seconds))]
            sent[:] = [allocation_id for allocation_id, _ in taken]
            return load(server_url + SLACK_PATH, click_bodies(workspace, taken), rate)

        def settle() -> tuple[float, float]:
            """Wait for the clicks' listeners and calls: (seconds it took, share of the last run's audits completed)."""
            started = time.monotonic()
            followups.wait_idle(300)
            with sessions() as session:
                done = session.scalar(select(func.count()).where(Allocation.id.in_(sent),
                                                                 Allocation.state == AllocationState.COMPLETED))
            return time.monotonic() - started, (done or 0) / len(sent) if sent else 0.0

        sent: list[int] = []

        print(f"\nclicks at {args.rate:g}/s for {args.seconds:g} s (ack latency; floor: bare Bolt, same waitress)")
        row("", "bot", "floor", None)
        floor = run(bare.url, args.rate, args.seconds)
        real = run(bot.url, args.rate, args.seconds)
        _, done = settle()
        row("audits completed / clicks sent", f"{done:.0%}", "")
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            f, r = pct(answered(floor), q), pct(answered(real), q)
            row(f"ack {name}", ms(r), ms(f), r / f if f else None)
        row("generator lag p99 (sends late against schedule)", ms(pct([x.lag for x in real], 0.99)),
            ms(pct([x.lag for x in floor], 0.99)))

        print(f"\nthe same, every Slack Web API and response_url call taking {args.latency:g} s")
        workspace.set_api_latency(args.latency)
        before = arrivals(workspace)
        slow = run(bot.url, args.rate, args.seconds)
        followups.wait_idle(120)
        arrived = arrivals(workspace) - before
        acked = sum(1 for r in slow if r.latency is not None and r.status == 200)
        row("ack p50", ms(pct(answered(slow), 0.5)), ms(pct(answered(floor), 0.5)))
        row("ack p99", ms(pct(answered(slow), 0.99)), ms(pct(answered(floor), 0.99)),
            pct(answered(slow), 0.99) / pct(answered(floor), 0.99))
        row("respond() reached Slack / clicks acked", f"{arrived} / {acked}", "", arrived / acked if acked else None)
        workspace.set_api_latency(0.0)

        print(f"\nrate sweep ({args.sweep_seconds:g} s each): the knee is where ack p99 passes 1 s")
        print("  (done: audits completed of the clicks sent; drain: how long the listeners ran on after the last click)")
        print(f"  {'rate':>6} {'p50':>10} {'p99':>10} {'acked<3s':>9} {'shed':>7} {'timeout':>8} {'done':>6} {'drain':>7}"
              f" {'gen lag p99':>12}")
        for rate in sweep:
            results = run(bot.url, rate, args.sweep_seconds)
            n = len(results)
            ok = [r for r in results if r.latency is not None and r.latency <= SLACK_TIMEOUT and r.status == 200 and not r.shed]
            shed = sum(1 for r in results if r.shed or r.status == 503)
            timeouts = sum(1 for r in results if r.latency is None or r.latency > SLACK_TIMEOUT)
            lat = answered(results)
            drain, done = settle()
            print(f"  {rate:>6g} {ms(pct(lat, 0.5)):>10} {ms(pct(lat, 0.99)):>10} {len(ok) / n:>9.0%} {shed / n:>7.0%} "
                  f"{timeouts / n:>8.0%} {done:>6.0%} {drain:>6.1f}s {ms(pct([r.lag for r in results], 0.99)):>12}", flush=True)
    finally:
        bot.stop()
        bare.stop()
        clicks.stop()
        followups.stop()
        workspace.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
