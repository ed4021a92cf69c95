"""Benchmark: resident memory of the local workspace across repeated fan-outs.

Run: ``.venv/bin/python bench/workspace_memory.py [--rounds 5] [--messages 3000] [--people 1000] [--clicks 1000]``.

Starts a ``LocalWorkspace`` (Slack's tiers and per-channel limit on, a fake clock) with
``--people`` members and, each round, posts ``--messages`` DMs spread evenly over them through
its HTTP Web API with a real ``slack_sdk`` WebClient: ``chat.postMessage`` with a realistic
Block Kit payload of about 1.5 KB (header, fields, context, buttons, metadata). Each round also
issues ``--clicks`` trigger_ids and response_urls, as clicks would. Between rounds the fake clock
moves on 31 minutes, so every per-channel bucket refills and every response_url expires.

Prints, after each round, the process's resident set (VmRSS), its growth that round, and beside
it the floor: the bytes of that round's messages as JSON (Slack keeps every message, so the
workspace must too), with their ratio. Also prints how many calls, trigger_ids and response_urls
the workspace holds. Nothing here is asserted. Runs on the same code before and after a change
(only ``LocalWorkspace``'s long-standing arguments are used).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.workspace import LocalWorkspace

TOKEN = "xoxb-bench"


class StepClock:
    """A clock the benchmark moves by hand (rate limits and expiry use it; nothing sleeps)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rss_bytes() -> int:
    """This process's resident set size now (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def payload(n: int) -> dict[str, object]:
    """A chat.postMessage body like the bot's allocation DM (no child's details: ids only)."""
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in (
        ("Audit", f"AUD-{n:06d}"), ("Case reference", f"CR-{n * 7919 % 1_000_000:06d}"), ("Due", "Fri 19 December"),
        ("Team", "Children in Need (North)"), ("Scheme", "Monthly case file audit"), ("Moderator", "QA team"))]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "You have a case file audit to complete"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "You have been allocated a case file to audit this month. Please read the file, complete the audit "
            "form and reflect on the practice you see. Your reflections help the service learn.")}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Audits are due within 10 working days. Ask your QA coordinator if you cannot complete it in time.")}]},
        {"type": "actions", "block_id": f"audit:{n}", "elements": [
            {"type": "button", "action_id": "audit_accept", "value": f"audit-{n}", "style": "primary",
             "text": {"type": "plain_text", "text": "Accept"}},
            {"type": "button", "action_id": "audit_decline", "value": f"audit-{n}",
             "text": {"type": "plain_text", "text": "I can't do this one"}},
            {"type": "button", "action_id": "audit_open", "value": f"audit-{n}",
             "text": {"type": "plain_text", "text": "Open the audit form"}}]},
    ]
    metadata = {"event_type": "auditbot_notification", "event_payload": {"key": f"allocation:{n:06d}", "audit": n}}
    return {"text": "You have a case file audit to complete", "blocks": blocks, "metadata": metadata}


def row(label: str, figure: str, floor: str = "", ratio: float | None = None) -> None:
    """One line: the figure, its floor and their ratio (when it has a floor)."""
    tail = f"floor {floor:<22} ratio {ratio:6.2f}" if ratio is not None else floor
    print(f"{label:<22} {figure:<34} {tail}")


def main() -> None:
    """Run the rounds and print RSS after each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=3000, help="DMs posted each round")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--clicks", type=int, default=1000, help="trigger_ids and response_urls issued each round")
    args = parser.parse_args()

    clock = StepClock(1_000.0)
    workspace = LocalWorkspace(bot_token=TOKEN, signing_secret="bench-secret", clock=clock,
                               wall_clock=lambda: 1_700_000_000.0 + clock())
    workspace.start()
    try:
        people = [workspace.add_user(f"person{n:04d}@council.example", f"Person {n}") for n in range(args.people)]
        web = WebClient(token=TOKEN, base_url=workspace.base_url, retry_handlers=[])
        gc.collect()
        start = rss_bytes()
        print(f"workspace memory: {args.rounds} rounds of {args.messages} DMs to {args.people} people, "
              f"{args.clicks} clicks a round; RSS before the first round {start / 2**20:.1f} MiB")
        previous, limited, n = start, 0, 0
        for round_no in range(1, args.rounds + 1):
            began, json_bytes = time.perf_counter(), 0
            for i in range(args.messages):
                body = payload(n)
                n += 1
                json_bytes += len(json.dumps(body, separators=(",", ":")))
                try:
                    web.api_call("chat.postMessage", json={"channel": people[i % len(people)], **body})
                except SlackApiError as exc:
                    limited += exc.response.status_code == 429
            with workspace.state.lock:
                for i in range(args.clicks):
                    user = people[i % len(people)]
                    workspace.state.issue_trigger(user)
                    workspace.state.issue_response_url(user, workspace.state.users[user].im_channel, None)
            took = time.perf_counter() - began
            gc.collect()
            now = rss_bytes()
            growth = now - previous
            row(f"round {round_no} RSS", f"{now / 2**20:7.1f} MiB ({took:4.1f} s)")
            row(f"round {round_no} growth", f"{growth / 2**20:7.1f} MiB",
                f"{json_bytes / 2**20:.1f} MiB msg JSON", growth / json_bytes)
            previous = now
            clock.now += 31 * 60
        with workspace.state.lock:
            state = workspace.state
            held = (len(state.calls), len(state.call_log), len(state.triggers), len(state.responses), len(state.messages))
        total = (previous - start) / 2**20
        print(f"  kept: {held[0]} calls, {held[1]} call records, {held[2]} trigger_ids, {held[3]} response_urls, "
              f"{held[4]} messages; 429s met: {limited}; growth over all rounds {total:.1f} MiB")
    finally:
        workspace.stop()


if __name__ == "__main__":
    main()
