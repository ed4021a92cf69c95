"""Importing audit outcomes from a case system (issue 13): ``auditbot import outcomes FILE.csv``
records each audit exactly as the chat form does, or — any problem — nothing at all."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import Context
from bot.cli.imports import register
from bot.ids import ActionId
from bot.services.audits.outcomes import import_outcomes
from bot.services.staff.importer import ImportFailed, RowProblem
from store.models import Allocation, AllocationState, AuditLog, Base, Case, Notification, Person
from store.records import AuditRecord, RecordSource
from tests.recording import record_audit
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, deliver, with_button
from tests.test_scenario_record import BRADFORD_SECTIONS

HULL_DOMAINS = ("kss1_relationships", "kss2_communication", "kss3_child_development", "kss4_adult_needs",
                "kss5_abuse_and_neglect", "kss6_assessment", "kss7_analysis_and_planning", "kss8_law",
                "kss9_supervision")
IRO = "dee.deputy@council.example"
FINDINGS = {"seen": "worker; team manager", "family_sought": "yes", "family_by": "parent;child", "family_view": "Mixed",
            "child_feedback": "yes", "flags": "organisational_learning"}


def good_row(reference: str, month: str = "2026-12", **more: str) -> dict[str, str]:
    """A Bradford row that passes every rule: all sections Good (by label), overall Good, no actions."""
    return {"case_reference": reference, "month": month, **dict.fromkeys(BRADFORD_SECTIONS, "Good"), "overall": "good",
            "rationale": "Plans are clear and reviewed.", "good_practice": "Timely visits.", **FINDINGS,
            "no_actions_reason": "The plan already covers what is needed.", **more}


def write(tmp_path: Path, rows: list[dict[str, str]], name: str = "outcomes.csv") -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def run(sim: Simulation, path: Path) -> Any:
    return import_outcomes(sim.sessions, path, settings=sim.runtime.settings, calendar=sim.calendar, now=sim.clock.now)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: 'the store is exactly as before'."""
    with sessions() as session:
        return {t.name: sorted(tuple(r) for r in session.execute(select(t))) for t in Base.metadata.sorted_tables}


def audits(sim: Simulation, count: int) -> list[dict[str, Any]]:
    """December's first ``count`` allocations: id, case, auditor, worker and team manager, due date."""
    with sim.sessions() as session:
        found = session.scalars(select(Allocation).order_by(Allocation.id).limit(count)).all()
        return [{"id": a.id, "ref": a.case.reference, "auditor": a.auditor.email, "worker": a.case.allocated_worker.email,
                 "tm": a.case.team_manager.email, "due": a.due_date} for a in found]


def cli(sim: Simulation) -> tuple[click.Group, Context]:
    @click.group()
    def group() -> None:
        """Test group."""

    register(group)
    return group, Context(sim.runtime.settings, clock=lambda: sim.clock.now)


def test_clean_import_records_both_audits_as_chat_would_and_queues_the_findings(sim: Simulation, tmp_path: Path) -> None:
    allocate_december(sim)
    first, second = audits(sim, 2)
    with sim.sessions() as session, session.begin():  # the second case has an IRO: they get the findings too
        case = session.scalars(select(Case).where(Case.reference == second["ref"])).one()
        case.iro_id = session.scalars(select(Person.id).where(Person.email == IRO)).one()
    sim.at(D(2027, 1, 11), 10)
    late_day = first["due"] + dt.timedelta(days=3)
    actions = {f"action_{n}": f"Step {n} of the plan" for n in range(1, 7)}  # more actions than the chat form's five
    actions |= {f"action_{n}_owner_email": second["worker"].upper() for n in range(1, 7)}
    actions |= {f"action_{n}_due": "2027-02-15" if n % 2 else "15/03/2027" for n in range(1, 7)}
    path = write(tmp_path, [
        good_row(first["ref"], submitted_on=late_day.isoformat(), child_name="Zebedee Quxworth"),
        good_row(second["ref"].lower(), submitted_on="2026-12-10", no_actions_reason="", overall="Requires Improvement",
                 risk_and_need="inadequate", **actions),
    ])

    group, ctx = cli(sim)
    result = CliRunner().invoke(group, ["import", "outcomes", str(path)], obj=ctx)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "outcomes.csv: 2 audit(s) recorded (1 on time, 1 late), 6 action(s); findings queued for 5 people",
        "warning: column(s) child_name ignored: the bot does not hold children's personal details",
    ]

    with sim.sessions() as session:
        records = {r.allocation.case.reference: r for r in session.scalars(select(AuditRecord))}
        assert set(records) == {first["ref"], second["ref"]}
        for audit, day in ((first, late_day), (second, D(2026, 12, 10))):
            record = records[audit["ref"]]
            at = sim.calendar.utc(day, dt.time(12))
            assert (record.source, record.submitted_by.email, record.submitted_at) == (RecordSource.IMPORT, audit["auditor"], at)  # type: ignore[union-attr]
            assert (record.allocation.state, record.allocation.completed_at) == (AllocationState.COMPLETED, at)
            family = {"sought": "yes", "by_role": ["parent", "child"], "view": "mixed", "child_feedback": True}
            assert record.family_views == family
            assert record.seen_roles == ["worker", "team_manager"] and record.flags == ["organisational_learning"]
        ri = records[second["ref"]]
        assert ri.overall_grade == "requires_improvement" and ri.no_actions_reason is None
        assert {s.section_key: s.grade for s in ri.sections}["risk_and_need"] == "inadequate"
        assert [(a.text, a.owner.email, a.due_date) for a in ri.actions][4:] == [
            ("Step 5 of the plan", second["worker"], D(2027, 2, 15)), ("Step 6 of the plan", second["worker"], D(2027, 3, 15))]
        assert records[first["ref"]].no_actions_reason == "The plan already covers what is needed."
        sent = session.scalars(select(Notification).where(Notification.template.in_(["audit_findings", "audit_recorded"])))
        assert sorted((n.template, n.recipient.email) for n in sent) == sorted(
            [("audit_findings", e) for a in (first, second) for e in (a["worker"], a["tm"])]
            + [("audit_findings", IRO)] + [("audit_recorded", a["auditor"]) for a in (first, second)])
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "import.outcomes")).one()
        assert entry.detail == {"file": "outcomes.csv", "rows": 2, "recorded": 2, "on_time": 1, "late": 1, "actions": 6,
                                "told": 5, "warnings": 1}
    assert "Zebedee" not in json.dumps(snapshot(sim.sessions), default=str)

    deliver(sim)
    for email in (second["worker"], second["tm"], IRO):
        (findings,) = [m for m in sim.workspace.messages(user_email=email) if m["text"].startswith("Audit findings")]
        assert findings["text"].startswith(f"Audit findings for case {second['ref']}: overall Requires Improvement")
        assert "Step 6 of the plan" in json.dumps(findings["blocks"])


def test_an_imported_audit_is_already_recorded_for_the_chat_form(sim: Simulation, tmp_path: Path) -> None:
    allocate_december(sim)
    (audit,) = audits(sim, 1)
    x = audit["auditor"]
    button = with_button(sim, x, ActionId.RECORD_AUDIT)
    sim.at(D(2026, 12, 10), 10)
    report = run(sim, write(tmp_path, [good_row(audit["ref"])]))
    assert report.summary() == "outcomes.csv: 1 audit(s) recorded (1 on time, 0 late), 0 action(s); findings queued for 2 people"

    sim.workspace.click(x, button, ActionId.RECORD_AUDIT)  # the message as it was before the import
    told = sim.workspace.messages(user_email=x)[-1]
    with sim.sessions() as session:
        name = session.scalars(select(Person.display_name).where(Person.email == x)).one()
    assert told["ephemeral"] and told["text"] == (
        f"The audit of {audit['ref']} was already recorded by {name} at 10:00 on Thursday 10 December 2026. Nothing was changed.")
    assert sim.workspace.view_stack(x) == [], "no form opened"
    with sim.sessions() as session:
        assert session.scalars(select(AuditRecord)).one().submitted_at == sim.clock.now  # today: the import's moment

    deliver(sim)  # the allocation message now says it was recorded, with no button left
    with pytest.raises(AssertionError):
        with_button(sim, x, ActionId.RECORD_AUDIT, audit["ref"])


def test_every_problem_is_named_by_row_and_column_and_nothing_is_written(sim: Simulation, tmp_path: Path) -> None:
    allocate_december(sim)
    a, b, c, d = audits(sim, 4)
    sim.at(D(2026, 12, 10), 10)
    record_audit(sim, a["auditor"], with_button(sim, a["auditor"], ActionId.RECORD_AUDIT, a["ref"]))  # in chat
    eight_good = dict.fromkeys(BRADFORD_SECTIONS[:8], "good")
    path = write(tmp_path, [
        good_row("CMS-999"),
        good_row(b["ref"], overall="Excellent"),
        good_row(c["ref"], **eight_good, impact="requires_improvement", overall="outstanding"),
        good_row(d["ref"], no_actions_reason="", action_1="Update the plan", action_1_owner_email="nobody@council.example",
                 action_1_due="next week", action_2="Supervise", action_2_owner_email=d["worker"], action_2_due="2026-12-10"),
        good_row(b["ref"]),
        good_row(a["ref"]),
        good_row(d["ref"], month="2026-13", seen="worker; neighbour", family_sought="", rationale=""),
    ])
    before = snapshot(sim.sessions)
    with pytest.raises(ImportFailed) as failure:
        run(sim, path)
    rule = ("Outstanding is more than 1 grade above the lowest section (Requires Improvement): an overall grade is not "
            "usually that far above it. Say why, or change the grade.")
    assert failure.value.problems == [
        RowProblem("outcomes.csv", 2, "case_reference", 'unknown case "CMS-999" (import the cases file first)'),
        RowProblem("outcomes.csv", 3, "overall", "not a grade on this scheme (expected one of: Outstanding, Good, "
                                                 "Requires Improvement, Inadequate)"),
        RowProblem("outcomes.csv", 4, "reason", rule),
        RowProblem("outcomes.csv", 5, "action_1_owner_email", '"nobody@council.example" is not a known member of staff'),
        RowProblem("outcomes.csv", 5, "action_1_due", '"next week" is not a date (use YYYY-MM-DD or DD/MM/YYYY)'),
        RowProblem("outcomes.csv", 5, "action_2_due",
                   "Action 2: the due date must be after the day it was submitted (2026-12-10)."),
        RowProblem("outcomes.csv", 6, "case_reference", f"the audit of {b['ref']} in 2026-12 is also on row 3"),
        RowProblem("outcomes.csv", 7, "case_reference", f"the audit of {a['ref']} in 2026-12 was already recorded on 2026-12-10"),
        RowProblem("outcomes.csv", 8, "month", '"2026-13" is not a month (use YYYY-MM)'),
        RowProblem("outcomes.csv", 8, "seen", "expected one or more of child, parent, carer, worker, team_manager, iro, "
                                              "other_professional, separated by ;"),
        RowProblem("outcomes.csv", 8, "rationale", "Say briefly why you gave this grade."),
        RowProblem("outcomes.csv", 8, "family_sought", "Say whether the family's views were sought."),
    ]
    assert snapshot(sim.sessions) == before

    group, ctx = cli(sim)
    result = CliRunner().invoke(group, ["import", "outcomes", str(path)], obj=ctx)
    assert result.exit_code == 1
    assert "outcomes.csv: 12 problem(s) found; nothing was imported" in result.output
    assert f"outcomes.csv row 4, column reason: {rule}" in result.output
    assert snapshot(sim.sessions) == before


def test_hull_rules_and_the_guardrail_name_the_cell(sim: Simulation, tmp_path: Path) -> None:
    sim.runtime.settings.grading_scheme = "hull"
    allocate_december(sim)
    a, b, c = audits(sim, 3)
    sim.at(D(2026, 12, 10), 10)
    domains = dict.fromkeys(HULL_DOMAINS, "Met") | {"kss8_law": "N/A"}
    row = {**FINDINGS, **domains, "month": "2026-12", "rationale": "Mixed.", "no_actions_reason": "None needed."}
    path = write(tmp_path, [
        {**row, "case_reference": a["ref"], "overall": "Requires Improvement with elements of good practice"},
        {**row, "case_reference": b["ref"], "overall": "good", "rationale": "Seen at home, ZZ99 9ZZ."},
        {**row, "case_reference": c["ref"], "overall": "requires_improvement_with_elements", "elements": "Direct work."},
    ])
    before = snapshot(sim.sessions)
    with pytest.raises(ImportFailed) as failure:
        run(sim, path)
    assert failure.value.problems == [
        RowProblem("outcomes.csv", 2, "elements", 'Name the elements of good practice: "Requires Improvement with elements '
                                                  'of good practice" needs them.'),
        RowProblem("outcomes.csv", 3, "rationale", "Please remove what could identify a child (a postcode). Chat is not the "
                                                   "case record: the detail belongs there."),
    ]
    assert "ZZ99" not in str(failure.value)
    assert snapshot(sim.sessions) == before

    report = run(sim, write(tmp_path, [{**row, "case_reference": c["ref"], "overall": "requires_improvement_with_elements",
                                        "elements": "Direct work."}]))
    assert report.recorded == 1
    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        assert (record.scheme, record.overall_grade, record.good_elements) == ("hull", "requires_improvement_with_elements",
                                                                                "Direct work.")
        assert {s.section_key: s.grade for s in record.sections}["kss8_law"] == "not_applicable"


def test_file_level_problems(sim: Simulation, tmp_path: Path) -> None:
    allocate_december(sim)
    a, b = audits(sim, 2)
    row = good_row(a["ref"])
    del row["seen"], row["impact"]
    with pytest.raises(ImportFailed) as failure:
        run(sim, write(tmp_path, [row]))
    assert [str(p) for p in failure.value.problems] == [
        "outcomes.csv row 1, column seen: required column is missing",
        "outcomes.csv row 1, column impact: required column is missing",
    ]
    sim.at(D(2026, 12, 10), 10)
    rows = [good_row(a["ref"], submitted_on="2026-11-30"), good_row(a["ref"], month="2027-01"),
            good_row(b["ref"], no_actions_reason="", child_feedback="maybe")]
    with pytest.raises(ImportFailed) as failure:
        run(sim, write(tmp_path, rows))
    assert [str(p) for p in failure.value.problems] == [
        "outcomes.csv row 2, column submitted_on: 2026-11-30 is before the audit was allocated (2026-12-01)",
        f"outcomes.csv row 3, column month: case {a['ref']} has no audit allocated in 2027-01",
        "outcomes.csv row 4, column child_feedback: expected one of yes, no",
        "outcomes.csv row 4, column no_actions_reason: give at least one action (action_1, action_1_owner_email, "
        "action_1_due) or say here why none is needed",
    ]
    report = run(sim, write(tmp_path, [good_row(a["ref"], submitted_on="2026-12-09", colour="blue")]))
    assert report.warnings == ["column(s) colour ignored: not a column of the outcomes file"]
