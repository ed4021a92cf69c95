"""``/audit delegate WHO FROM TO``: WHO as an @mention, a name from the staff list or an email,
signed slash commands against the real app (issue 12, item 10)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.handlers.payloads import DelegateArgs, PersonRef
from store.models import Delegation, Person
from tests.simulation import Simulation
from tests.test_scenario_exemptions import AMY, DEE, D, deliver, texts

DONE = ("Done: Dee Deputy will decide exemption and extension requests for you from Wednesday 2 December 2026 to "
        "Friday 4 December 2026. They have been told.")
USAGE = ("Nothing was changed. Use `/audit delegate @person YYYY-MM-DD YYYY-MM-DD` (the first and last day); name the "
         "person with an @mention, their name as it is in the staff list, or their email.")
UNKNOWN = ("Nothing was changed. I can't find that person in the programme's staff list. Name them with an @mention, "
           "their name as it is in the staff list, or their email.")


def delegations(sim: Simulation) -> list[tuple[str, str]]:
    with sim.sessions() as session:
        rows = session.scalars(select(Delegation).order_by(Delegation.id))
        return [(row.delegate.email, row.starts_on.isoformat()) for row in rows]


@pytest.mark.parametrize(
    "who",
    ["Dee Deputy", "@dee deputy", "@Dee   Deputy", "DEE.DEPUTY@council.example",
     "<mailto:dee.deputy@council.example|dee.deputy@council.example>", "@dee.deputy", "mention"],
)
def test_a_delegate_is_named_by_mention_name_or_email(sim: Simulation, who: str) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False  # Dee is a Head of Service
    sim.at(D(2026, 12, 1), 15)
    if who == "mention":
        who = f"<@{sim.workspace.user_id(DEE)}|dee>"
    answer = sim.workspace.slash_command(AMY, "/audit", f"delegate {who} 2026-12-02 2026-12-04")
    assert answer["status"] == 200
    assert texts(sim, AMY)[-1] == DONE  # the fallback names her; never a raw <@U…>
    assert delegations(sim) == [(DEE, "2026-12-02")]
    deliver(sim)
    assert texts(sim, DEE)[-1].startswith("Amy Director has named you as their delegate")


def test_a_name_two_people_share_is_refused_listing_them(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False
    with sim.sessions() as session, session.begin():
        session.add(Person(email="dee.deputy2@council.example", display_name="Dee Deputy"))
        session.add(Person(email="dee.gone@council.example", display_name="Dee Deputy", active=False))  # left: no clash
    sim.at(D(2026, 12, 1), 15)
    sim.workspace.slash_command(AMY, "/audit", "delegate @Dee Deputy 2026-12-02 2026-12-04")
    assert texts(sim, AMY)[-1] == (
        "Nothing was changed. More than one person in the staff list goes by that name: Dee Deputy "
        "(dee.deputy@council.example), Dee Deputy (dee.deputy2@council.example). Name the one you mean with an "
        "@mention or their email."
    )
    assert delegations(sim) == []
    sim.workspace.slash_command(AMY, "/audit", "delegate dee.deputy2@council.example 2026-12-02 2026-12-04")
    assert delegations(sim) == [("dee.deputy2@council.example", "2026-12-02")]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("delegate Nobody Here 2026-12-02 2026-12-04", UNKNOWN),
        ("delegate nobody@council.example 2026-12-02 2026-12-04", UNKNOWN),
        ("delegate Dee 2026-12-02 2026-12-04", UNKNOWN),  # part of a name is not enough
        ("delegate 2026-12-02 2026-12-04", USAGE),
        ("delegate Dee Deputy 2026-12-02", USAGE),
        ("delegate Dee Deputy 2026-12-02 next-week", USAGE),
        ("delegate", USAGE),
    ],
)
def test_nobody_or_no_dates_is_answered_and_nothing_recorded(sim: Simulation, text: str, answer: str) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False
    sim.at(D(2026, 12, 1), 15)
    assert sim.workspace.slash_command(AMY, "/audit", text)["status"] == 200
    assert texts(sim, AMY)[-1] == answer
    assert delegations(sim) == []


def test_delegate_arguments_are_parsed_in_one_place() -> None:
    args = DelegateArgs.parse(("@Dee", "Deputy", "2026-12-02", "04/12/2026"))
    assert (args.who, args.starts_on, args.ends_on) == (PersonRef(name="Dee Deputy"), D(2026, 12, 2), D(2026, 12, 4))
    assert DelegateArgs.parse(("<@U12345|dee>", "2026-12-02", "2026-12-04")).who == PersonRef(user_id="U12345")
    assert DelegateArgs.parse(("A@B.example", "2026-12-02", "2026-12-04")).who == PersonRef(email="a@b.example")
    assert DelegateArgs.parse(("2026-12-02", "2026-12-04")) == DelegateArgs(PersonRef(), None, None)
    assert DelegateArgs.parse(("@", "2026-12-02", "2026-12-04")) == DelegateArgs(PersonRef(), None, None)


def test_the_same_delegation_typed_twice_is_recorded_and_told_once(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False
    sim.at(D(2026, 12, 1), 15)
    for _ in range(2):  # two separate commands (a replay of one request is caught earlier, by its receipt)
        assert sim.workspace.slash_command(AMY, "/audit", "delegate Dee Deputy 2026-12-02 2026-12-04")["status"] == 200
    deliver(sim)

    assert texts(sim, AMY)[-2:] == [DONE, DONE.replace("Done: ", "Already done: ").replace(
        "They have been told.", "That was already set: nothing changed.")]
    assert delegations(sim) == [(DEE, "2026-12-02")]
    assert len([t for t in texts(sim, DEE) if t.startswith("Amy Director has named you as their delegate")]) == 1
    other_dates = sim.workspace.slash_command(AMY, "/audit", "delegate Dee Deputy 2026-12-07 2026-12-08")
    assert other_dates["status"] == 200 and delegations(sim) == [(DEE, "2026-12-02"), (DEE, "2026-12-07")]
