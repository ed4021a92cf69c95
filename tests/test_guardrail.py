"""The privacy guardrail: typed text that could identify a child is refused by kind, never echoed;
ordinary notes pass (shared/domain.md, Data protection)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.services.guardrail import Finding, findings
from bot.settings import GuardrailLevel
from tests.simulation import Simulation
from tests.test_scenario_alerts import REF, WENDY, raise_concern

TODAY = dt.date(2026, 11, 30)
STAFF = frozenset({"wendy", "tara", "teamlead", "sam", "patel"})


def found(text: str, level: GuardrailLevel = GuardrailLevel.STRICT) -> list[Finding]:
    return findings(text, today=TODAY, staff_names=STAFF, level=level)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("child (DOB 12/03/2015) seen today", [Finding.DATE_OF_BIRTH]),
        ("born 3 March 2019, lives with gran", [Finding.DATE_OF_BIRTH]),
        ("d.o.b. 2012-07-01", [Finding.DATE_OF_BIRTH]),
        ("the boy is 01/02/2016", [Finding.DATE_OF_BIRTH]),  # a full date in the last 25 years
        ("NHS 943 476 5919 on file", [Finding.NHS_NUMBER]),
        ("ref 9434765919", [Finding.NHS_NUMBER]),
        ("moved to LS1 4AP last week", [Finding.POSTCODE]),
        ("visit at sw1a 1aa", [Finding.POSTCODE]),
        ("mum Sarah says the child is safe", [Finding.NAME]),
        ("Mrs Okafor was not at home", [Finding.NAME]),
        ("child called Jayden was at school", [Finding.NAME]),
        ("DOB 12/03/2015, mum Sarah, BD1 1AA", [Finding.DATE_OF_BIRTH, Finding.POSTCODE, Finding.NAME]),
    ],
)
def test_what_could_identify_a_child_is_found(text: str, kinds: list[Finding]) -> None:
    assert found(text) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "Home visit today: check who is now living at the address.",
        "Visit booked for 02/12/2026 with the team manager",  # this year: an appointment, not a birth date
        "Review on 3 January 2027",
        "Mrs Patel (team manager) agreed the plan",  # staff are named freely
        "child is safe; mum said the school has been told",
        "Call 0113 496 0000 for the duty desk",  # not a valid NHS number
        "CMS-104233 needs a strategy discussion",
        "Ask Tara about 10 working days",
    ],
)
def test_ordinary_notes_pass(text: str) -> None:
    assert found(text) == []


def test_standard_turns_the_name_check_down_not_the_rest_off() -> None:
    assert found("mum Sarah, DOB 12/03/2015", GuardrailLevel.STANDARD) == [Finding.DATE_OF_BIRTH]
    assert found("mum Sarah", GuardrailLevel.STANDARD) == []
    assert [level.value for level in GuardrailLevel] == ["strict", "standard"], "there is no 'off'"


def test_an_invalid_nhs_check_digit_is_not_an_nhs_number() -> None:
    assert found("9434765918") == []  # check digit should be 9


def test_a_concern_with_a_date_of_birth_is_refused_by_kind_and_never_stored_or_echoed(sim: Simulation) -> None:
    from sqlalchemy import func, select

    from store.models import SafeguardingAlert

    sim.at(dt.date(2026, 12, 2), 10)
    answer = raise_concern(sim, WENDY, note="child (DOB 12/03/2015) seen today")
    assert answer["status"] == 200 and answer["body"]["response_action"] == "errors"
    error = answer["body"]["errors"]["note"]
    assert error == (
        "Please remove what could identify a child (a date that looks like a date of birth). "
        "Chat is not the case record: the detail belongs there."
    )
    assert "12/03/2015" not in json.dumps(answer["body"])
    with sim.sessions() as session:
        assert session.scalar(select(func.count(SafeguardingAlert.id))) == 0
    fixed = sim.workspace.submit_view(WENDY, sim.workspace.view_stack(WENDY)[-1], {
        "case": {"case": {"type": "plain_text_input", "value": REF}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "immediate"}}},
        "note": {"note": {"type": "plain_text_input", "value": "Child seen today; see the case record."}},
    })
    assert fixed["status"] == 200 and not fixed["body"]
    with sim.sessions() as session:
        assert session.scalar(select(func.count(SafeguardingAlert.id))) == 1
