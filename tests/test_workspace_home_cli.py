"""The App Home tab from a terminal: `auditbot workspace home` and `click --home`, through the real CLI
against the running bot and the local workspace, with the Home publisher's thread running as under
`auditbot run` (a click's republish comes from it; the terminal waits for it, never for a fixed time)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from store.models import AlertRecipient, Person, SafeguardingAlert
from tests.simulation import Simulation
from tests.test_scenario_exemptions import QUINN, D
from tests.test_scenario_home_qa import december_with_everything
from tests.test_workspace_terminal import WENDY, commands, run  # noqa: F401 - commands: the autouse fixture

ACK_TITLE = "Safeguarding concern to acknowledge"


@pytest.fixture
def publisher(sim: Simulation) -> Iterator[None]:
    """The Home publisher's thread, as `auditbot run` starts it (the simulation drives it by hand)."""
    assert sim.runtime.homes is not None
    sim.runtime.homes.start()
    yield
    sim.runtime.homes.stop()


def test_a_qa_coordinator_sees_the_month_at_a_glance_and_opens_the_report_from_home(sim: Simulation, publisher: None) -> None:
    december_with_everything(sim)
    shown = run(sim, "home", "--user", QUINN)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"Home tab of {QUINN}"
    assert any(line.startswith("  ") and "at a glance" in line for line in lines[1:3]), shown.output
    assert "  [Preview next month's allocation]  [This month's report]" in lines
    assert "  Waiting for you" in lines
    with sim.sessions() as session:
        assert session.scalars(select(Person.home_opened_at).where(Person.email == QUINN)).one() is not None

    report = run(sim, "click", "--user", QUINN, "This month's report", "--home")
    assert report.exit_code == 0, report.output
    assert f"{QUINN} clicked [This month's report] on their Home tab" in report.output
    assert f"Modal open for {QUINN}: This month's report" in report.output
    assert "Home tab of" not in report.output, "the modal is on top: it is what they see"
    assert f"Modal open for {QUINN}: This month's report" in run(sim, "modal", "--user", QUINN).output


def test_a_team_manager_acknowledges_a_concern_from_home(sim: Simulation, publisher: None) -> None:
    tm, _ = december_with_everything(sim)  # a concern about one of their cases, unacknowledged
    with sim.sessions() as session:
        alert_id = session.scalars(select(SafeguardingAlert.id)).one()
    shown = run(sim, "home", "--user", tm)
    assert shown.exit_code == 0, shown.output
    assert ACK_TITLE in shown.output and "[Acknowledge]" in shown.output
    assert "Nothing is waiting for you" not in shown.output

    acked = run(sim, "click", "--user", tm, "Acknowledge", "--home")
    assert acked.exit_code == 0, acked.output
    clicked, republished = acked.output.split(f"Home tab of {tm} (republished)\n")
    assert ACK_TITLE in shown.output and ACK_TITLE not in republished and "[Acknowledge]" not in republished
    assert "[Corrective action recorded]" in republished, "now the corrective action is waiting"
    assert clicked.startswith(f"{tm} clicked [Acknowledge] on their Home tab\n")
    with sim.sessions() as session:
        alert = session.get_one(SafeguardingAlert, alert_id)
        assert alert.lead_acknowledged_at is not None
        row = session.scalars(select(AlertRecipient).join(Person).where(Person.email == tm,
                                                                        AlertRecipient.alert_id == alert_id)).one()
        assert row.acknowledged_at is not None

    again = run(sim, "home", "--user", tm)
    assert ACK_TITLE not in again.output


def test_nothing_waiting_and_refusals(sim: Simulation, publisher: None) -> None:
    sim.at(D(2026, 12, 2), 10)
    shown = run(sim, "home", "--user", WENDY)
    assert shown.exit_code == 0, shown.output
    assert "  Nothing is waiting for you: no decisions, concerns, sign-offs or meetings to answer." in shown.output
    assert "at a glance" not in shown.output, "only the QA team sees the month at a glance"

    unknown = run(sim, "click", "--user", WENDY, "Acknowledge", "--home")
    assert unknown.exit_code == 1
    assert unknown.output == "Error: their Home has no button 'Acknowledge'; it has no buttons\n"

    nobody = run(sim, "home", "--user", "nobody@council.example")
    assert (nobody.exit_code, nobody.output) == (1, "Error: nobody with that email is in the local workspace\n")
    both = run(sim, "click", "--user", WENDY, "Acknowledge", "--home", "--message", "1")
    assert both.exit_code == 2 and "--message and --home" in both.output


def test_an_unknown_button_lists_the_homes_buttons(sim: Simulation, publisher: None) -> None:
    december_with_everything(sim)
    run(sim, "home", "--user", QUINN)
    wrong = run(sim, "click", "--user", QUINN, "Approve everything", "--home")
    assert wrong.exit_code == 1
    assert wrong.output == (
        "Error: their Home has no button 'Approve everything'; it has "
        "\"Preview next month's allocation\", \"This month's report\"\n"
    ), wrong.output


def test_a_home_never_opened_cannot_be_clicked_and_a_home_not_published_says_so(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    never = run(sim, "click", "--user", WENDY, "Acknowledge", "--home")
    assert never.exit_code == 1
    assert never.output == (f"Error: {WENDY} has no Home tab yet; open it first with `auditbot workspace home --user {WENDY}`\n")

    sim.workspace.publish_wait_seconds = 0.0
    sim.workspace.fail_next(20, "500")  # every call of the bot fails, views.publish too: nothing is published
    silent = run(sim, "home", "--user", WENDY)
    assert silent.exit_code == 1
    assert silent.output == f"Error: the bot published no Home tab for {WENDY} when they opened it (it answered HTTP 200)\n"
    assert sim.workspace.home(WENDY) is None
