"""The QA team's month at a glance on the App Home (issue 17), through the real app and the local
workspace: the figures, the preview and report buttons opening modals, a forged click refused and
logged, a paused month, ``/audit mine``, and the 100-block limit with a huge waiting list."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select

from bot.ids import ActionId
from store.models import Allocation, AllocationState, AuditLog, AuditMonth, ExemptionRequest, Person, RequestKind, RequestState
from tests.simulation import Simulation
from tests.test_scenario_alerts import raise_concern, urgent
from tests.test_scenario_exemptions import AMY, QUINN, D, allocate_december
from tests.test_scenario_home import buttons, home, opened, pending_extensions, words


def glance(view: dict[str, Any]) -> str:
    """The glance's fields, one string."""
    block = next(b for b in view["blocks"] if b.get("block_id") == "home_glance_figures")
    return " | ".join(f["text"] for f in block["fields"])


def december_with_everything(sim: Simulation) -> tuple[str, str]:
    """December's 4 allocations: 1 completed late, 1 overdue, 1 on time, 1 exemption agreed; 1 concern open. The team
    manager's and the auditor's emails. Today is 20 December."""
    allocations = allocate_december(sim)
    assert len(allocations) == 4
    late, overdue, on_time, exempted = allocations[:1], allocations[1:2], allocations[2], allocations[3]
    with sim.sessions() as session, session.begin():
        for a in [*late, *overdue]:
            session.get_one(Allocation, a.id).due_date = D(2026, 12, 10)
        for a in late:
            row = session.get_one(Allocation, a.id)
            row.state, row.completed_at = AllocationState.COMPLETED, dt.datetime(2026, 12, 15, 12, tzinfo=dt.UTC)
        row = session.get_one(Allocation, on_time.id)
        row.state, row.completed_at = AllocationState.COMPLETED, dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
        row = session.get_one(Allocation, exempted.id)
        amy = session.scalars(select(Person.id).where(Person.email == AMY)).one()
        session.add(ExemptionRequest(
            allocation_id=row.id, auditor_id=row.auditor_id, kind=RequestKind.EXEMPTION, reason="Knew the family.",
            due_date=row.due_date, state=RequestState.APPROVED, approver_id=amy, routed_to_id=amy, decided_by_id=amy,
            decided_at=sim.clock.now, created_at=sim.clock.now))
        row.state = AllocationState.EXEMPTED
        concerned = session.get_one(Allocation, allocations[1].id)
        assert concerned.case.team_manager is not None
        tm, auditor, reference = concerned.case.team_manager.email, concerned.auditor.email, concerned.case.reference
    sim.at(D(2026, 12, 20), 10)
    raise_concern(sim, auditor, reference)
    urgent(sim)
    return tm, auditor


def test_a_qa_coordinator_sees_the_month_at_a_glance_and_opens_the_preview_and_the_report(sim: Simulation) -> None:
    tm, _ = december_with_everything(sim)
    allocated = 4
    view = opened(sim, QUINN)
    assert view["blocks"][0]["text"]["text"] == "This month at a glance: December 2026"
    figures = glance(view)
    assert f"*Allocated*\n{allocated} ({allocated - 1} owed)" in figures
    assert "*Submitted*\n2 · completion 67%" in figures and "*Late*\n1 submitted after" in figures
    assert "*Overdue*\n1 past the deadline" in figures and "*Exemptions*\n1 asked, 1 agreed" in figures
    assert "*Open safeguarding concerns*\n1 (" in figures and "*Moderation*\n0 done of a target of" in figures
    assert {(ActionId.PREVIEW_ALLOCATION, "2026-12-01"), (ActionId.MONTH_REPORT, "2026-12-01")} <= buttons(view)
    assert len(view["blocks"]) <= 100

    assert sim.workspace.click_view(QUINN, view, ActionId.PREVIEW_ALLOCATION, value="2026-12-01")["status"] == 200
    preview = sim.workspace.view_stack(QUINN)[-1]
    assert preview["type"] == "modal" and "Allocation preview for January 2027" in json.dumps(preview)
    with sim.sessions() as session:
        assert not session.scalar(select(func.count()).select_from(Allocation).where(Allocation.month_start == D(2027, 1, 1)))
        assert session.scalar(select(AuditMonth.id).where(AuditMonth.month == D(2027, 1, 1))) is None, "read-only: rolled back"

    assert sim.workspace.click_view(QUINN, view, ActionId.MONTH_REPORT, value="2026-12-01")["status"] == 200
    report = json.dumps(sim.workspace.view_stack(QUINN)[-1], ensure_ascii=False)
    assert "December 2026 so far" in report and f"2 of {allocated - 1} submitted (67%)" in report
    assert "1 on time, 1 late, 1 overdue" in report and "1 asked, 1 agreed" in report and "1 open now" in report

    assert "at a glance" not in words(opened(sim, tm)), "a team manager sees no glance"
    mine = json.dumps(sim.workspace.slash_command(QUINN, "/audit", "mine")["body"], ensure_ascii=False)
    assert "This month at a glance: December 2026" in mine and "1 past the deadline" in mine and "1 asked, 1 agreed" in mine
    assert "at a glance" not in json.dumps(sim.workspace.slash_command(tm, "/audit", "mine")["body"])


def test_a_forged_click_by_someone_outside_the_qa_team_is_refused_and_logged(sim: Simulation) -> None:
    tm, _ = december_with_everything(sim)
    qa_buttons = next(b for b in opened(sim, QUINN)["blocks"] if b.get("block_id") == "home_glance_actions")
    opened(sim, tm)
    sim.runtime.client.views_publish(user_id=sim.workspace.user_id(tm), view={"type": "home", "blocks": [qa_buttons]})
    forged = home(sim, tm)
    with sim.sessions() as session:
        last = session.scalar(select(func.max(AuditLog.id))) or 0
        tm_id = session.scalars(select(Person.id).where(Person.email == tm)).one()
    for action in (ActionId.PREVIEW_ALLOCATION, ActionId.MONTH_REPORT):
        assert sim.workspace.click_view(tm, forged, action, value="2026-12-01")["status"] == 200
    assert not sim.workspace.view_stack(tm), "no modal"
    with sim.sessions() as session:
        logged = [(e.action, e.outcome, e.actor_id, e.detail["reason"])
                  for e in session.scalars(select(AuditLog).where(AuditLog.id > last).order_by(AuditLog.id))]
    assert logged == [("view_programme", "refused", tm_id, "qa_only")] * 2
    assert sim.runtime.homes is not None
    sim.runtime.homes.flush()
    notice = next(b for b in sim.workspace.home(tm)["blocks"] if b.get("block_id") == "home_notice")["text"]["text"]
    assert notice == "Only the QA team can see that."


def test_a_paused_month_says_paused_and_a_paused_next_month_has_no_preview(sim: Simulation) -> None:
    december_with_everything(sim)
    with sim.sessions() as session, session.begin():
        session.execute(AuditMonth.__table__.update().where(AuditMonth.month == D(2026, 12, 1)).values(paused=True))
        session.add(AuditMonth(month=D(2027, 1, 1), paused=True))
    view = opened(sim, QUINN)
    assert view["blocks"][0]["text"]["text"] == "This month at a glance: December 2026 (paused)"
    assert "*Overdue*\npaused: nothing is chased" in glance(view) and "completion paused" in glance(view)
    sim.workspace.click_view(QUINN, view, ActionId.PREVIEW_ALLOCATION, value="2026-12-01")
    assert "The programme is paused for January 2027" in json.dumps(sim.workspace.view_stack(QUINN)[-1])
    sim.workspace.click_view(QUINN, view, ActionId.MONTH_REPORT, value="2026-12-01")
    report = json.dumps(sim.workspace.view_stack(QUINN)[-1], ensure_ascii=False)
    assert "December 2026 so far (paused)" in report and "paused: nothing is allocated or chased" in report and "0%" not in report


def test_a_qa_coordinator_with_a_huge_waiting_list_still_gets_at_most_one_hundred_blocks(sim: Simulation) -> None:
    pending_extensions(sim, allocate_december(sim), QUINN, 150)
    view = opened(sim, QUINN)
    assert view["blocks"][0]["block_id"] == "home_glance" and len(view["blocks"]) <= 100
    assert "…and 130 more" in words(view)
