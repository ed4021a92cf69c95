"""The local workspace in a real browser (bot/workspace/browser.py, page.html): Chromium, driven by Playwright,
picks a person and does what they would do in Slack; each step is asserted on what the page shows. Clicks and
submissions reach the bot as signed requests by the terminal's own code path.

Needs Playwright for Python (the test extras) and a Chromium (Debian's ``chromium``; ``AUDITBOT_CHROMIUM`` names
another); without them these tests skip, saying which is missing, except under CI, where they fail."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from store.models import AlertRecipient, Allocation, ExemptionRequest, RequestState
from tests.simulation import Simulation
from tests.support import TOKEN, running_workspace
from tests.test_scenario_exemptions import AMY, allocate_december, email_of

D = dt.date
#: How long the page may take to show something (it asks the workspace every second).
SHOWN = 10_000


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


def _chromium() -> str | None:
    named = os.environ.get("AUDITBOT_CHROMIUM")
    return named or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite only: the page draws what the workspace holds; the store behind the bot is the scenario tests' to try
    on both (and a browser on each is a minute of the suite's ten)."""
    return str(request.param)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[test]')")
    path = _chromium()
    if path is None:
        _missing("no Chromium found: apt-get install chromium, or set AUDITBOT_CHROMIUM to a Chromium binary")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, sim: Simulation) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())  # a button's confirm, as a person agreeing
    opened.goto(sim.workspace.root_url)
    yield opened
    context.close()


def as_person(page: Any, email: str) -> None:
    page.select_option("#person", email)


def first_allocation(sim: Simulation) -> tuple[str, str, str, str]:
    """December's first allocation: its auditor's email, the case reference, its social worker's name and its team
    manager's email."""
    first = allocate_december(sim)[0]
    with sim.sessions() as session:
        allocation = session.get(Allocation, first.id)
        assert allocation is not None
        case = allocation.case
        return allocation.auditor.email, case.reference, case.allocated_worker.display_name, case.team_manager.email


def newest(page: Any, text: str) -> Any:
    """The newest message on the page that mentions ``text`` (the page shows them newest first)."""
    found = page.locator("article.message", has_text=text).first
    found.wait_for(timeout=SHOWN)
    return found


def test_an_auditor_sees_their_allocation_and_a_new_message_arrives_without_a_reload(sim: Simulation, page: Any) -> None:
    auditor, ref, worker, _ = first_allocation(sim)

    as_person(page, auditor)
    message = newest(page, "You have a case file audit")

    assert ref in message.inner_text()
    assert message.locator(".mention", has_text=f"@{worker}").count() >= 1, "mentions show names, not ids"
    assert message.locator("button.btn", has_text="Raise a safeguarding concern").is_visible()
    assert message.locator("h3.header").count() >= 1 and message.locator("b").count() >= 1

    WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=sim.workspace.user_id(auditor), text="A *new* note", blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "A *new* note with <https://example.org|a link> & ~no~ more"}},
            {"type": "actions", "elements": [{"type": "button", "action_id": "x", "style": "danger",
                                              "text": {"type": "plain_text", "text": "Careful"}}]}])
    arrived = newest(page, "A new note")  # no reload: the page asked the workspace
    assert arrived.locator("b", has_text="new").count() == 1 and arrived.locator("s", has_text="no").count() == 1
    assert arrived.locator("a[href='https://example.org']", has_text="a link").count() == 1
    assert arrived.locator("button.btn.danger", has_text="Careful").count() == 1
    assert "A new note" in page.locator("article.message").first.inner_text(), "newest first"

    homes = sim.runtime.homes
    assert homes is not None
    homes.start()  # the publisher's thread, as in the running bot (the simulation flushes by hand otherwise)
    try:
        page.locator("#tab-home").click()  # Slack's app_home_opened: the bot publishes the Home
        page.locator("#home", has_text="Your audits").wait_for(timeout=SHOWN)
    finally:
        homes.stop()
    assert ref in page.locator("#home").inner_text() and not page.locator("#messages").is_visible()


def test_an_exemption_request_shows_its_field_errors_and_is_approved_by_the_assistant_director(
    sim: Simulation, page: Any
) -> None:
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    sim.at(D(2026, 12, 2), 10)
    as_person(page, auditor)
    newest(page, "You have a case file audit").locator("button", has_text="Ask for an exemption or extension").click()

    modal = page.locator("#overlay.open .modal")
    modal.wait_for(timeout=SHOWN)
    assert "exemption" in modal.locator("h2").inner_text().lower()
    modal.locator("button[data-submit]").click()
    page.locator("#modal .error", has_text="Choose an exemption or an extension.").wait_for(timeout=SHOWN)
    said = modal.locator(".input[data-name='reason'] .error").inner_text()
    assert said == "Say briefly why (not the child's name or case details)."

    modal.locator(".input[data-name='kind'] input[value='exemption']").check()
    modal.locator(".input[data-name='reason'] textarea, .input[data-name='reason'] input").fill(
        "I supervised this family's worker.")
    modal.locator("button[data-submit]").click()
    page.locator("#overlay.open").wait_for(state="detached", timeout=SHOWN)  # the modal closed
    sim.step(sim.clock.now)  # the outbox delivers the request to the Assistant Director

    sim.at(D(2026, 12, 3), 11)
    as_person(page, AMY)
    request = newest(page, "Exemption request:")
    assert "I supervised this family's worker." in request.inner_text()
    with page.expect_response("**/_local/act/press", timeout=SHOWN):  # the bot answered the click ...
        request.locator("button", has_text="Approve").click()
    sim.step(sim.clock.now)  # ... and the outbox edits the request in place
    newest(page, "Exemption approved:").wait_for(timeout=SHOWN)

    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest.state)).one() == RequestState.APPROVED
    assert page.locator("article.message", has_text="Exemption approved:").first.locator("button").count() == 0


def test_a_safeguarding_concern_is_raised_and_the_team_manager_acknowledges_it(sim: Simulation, page: Any) -> None:
    auditor, ref, _, manager = first_allocation(sim)
    sim.at(D(2026, 12, 2), 10)
    as_person(page, auditor)
    newest(page, "You have a case file audit").locator("button", has_text="Raise a safeguarding concern").click()

    modal = page.locator("#overlay.open .modal")
    modal.wait_for(timeout=SHOWN)
    assert modal.locator(".input[data-name='case'] input").input_value() == ref, "the case is filled in"
    modal.locator(".input[data-name='urgency'] input[value='immediate']").check()
    modal.locator(".input[data-name='note'] textarea, .input[data-name='note'] input").fill("Home visit today.")
    modal.locator("button[data-submit]").click()
    page.locator("#overlay.open").wait_for(state="detached", timeout=SHOWN)  # the modal closed
    sim.runtime.senders["urgent"].drain(sim.clock.now)

    sim.at(D(2026, 12, 2), 10, 5)
    as_person(page, manager)
    alert = page.locator("article.message", has=page.locator("button", has_text="Acknowledge")).first
    alert.wait_for(timeout=SHOWN)
    assert f"Safeguarding concern: {ref}" in alert.inner_text()
    assert "Home visit today." in alert.inner_text()
    alert.locator("button", has_text="Acknowledge").click()
    page.locator("article.message", has_text="You acknowledged this at 10:05").first.wait_for(timeout=SHOWN)

    with sim.sessions() as session:
        acknowledged = [r for r in session.scalars(select(AlertRecipient)) if r.person.email == manager]
        assert acknowledged and acknowledged[0].acknowledged_at is not None


def test_what_a_message_says_is_shown_as_text_never_run(sim: Simulation, page: Any) -> None:
    auditor, *_ = first_allocation(sim)
    as_person(page, auditor)
    newest(page, "You have a case file audit")
    hostile = "<script>window.ran = 1</script> <img src=x onerror=\"window.ran = 2\"> &lt;b&gt;"
    WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=sim.workspace.user_id(auditor), text="hostile", blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{hostile} <javascript:window.ran=3|click me>"}},
            {"type": "actions", "elements": [{"type": "button", "action_id": "u", "url": "javascript:window.ran=4",
                                              "text": {"type": "plain_text", "text": "Open"}}]}])

    shown = newest(page, "click me")

    said = shown.inner_text()
    assert 'onerror="window.ran = 2"' in said and "<b>" in said, "markup in a message is shown as its text"
    assert shown.locator("script, img, b").count() == 0 and shown.locator("a").count() == 0, "no element, no javascript: link"
    shown.locator("text=click me").click()
    assert page.evaluate("window.ran") is None


def test_the_page_and_the_members_actions_answer_only_this_machine_and_json() -> None:
    """Another site's page can reach 127.0.0.1 too: a form it posts, or its own name rebound to this address,
    is refused before anything is done."""
    with running_workspace() as workspace:
        answered = _answers(workspace)
    assert answered == [200, 403, 403, 415]


def _answers(workspace: Any) -> list[int]:
    def status(path: str, data: bytes | None = None, **headers: str) -> int:
        request = urllib.request.Request(workspace.root_url.rstrip("/") + path, data=data, headers=headers)
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)

    workspace.add_user("someone@council.example", "Someone")
    form = b'{"user": "someone@council.example", "command": "/audit", "text": "mine"}'
    return [status("/"), status("/", Host="evil.example"), status("/_local/users", Host="evil.example:3001"),
            status("/_local/act/command", form, **{"Content-Type": "text/plain"})]
