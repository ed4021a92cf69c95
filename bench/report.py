"""Benchmark: the report over twelve months of a large council (issue 17's scale).

Run: ``.venv/bin/python bench/report.py [--database-url URL] [--cases 100000] [--audits 5000]``
(the URL names an empty database; without one, a SQLite file in a temporary folder).

Inserts, set-based, ``--cases`` cases in 40 teams of 4 services and ``--audits`` allocations over
twelve months, nine in ten of them recorded (an overall grade history, one in ten changed after
reply; two actions each), then times ``figures`` over the twelve months and the text and CSV made
from it, then draws the programme's and each service's charts and plans December's posts (figures,
charts, CSV, outbox rows for a QA coordinator and the four Heads of Service: the planning is timed,
not the sending). Prints each time beside the floor of 5 s and their ratio; nothing here is
asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.services.allocation.rules import add_months
from bot.services.reports.charts import charts
from bot.services.reports.figures import figures
from bot.services.reports.output import as_csv, as_text
from bot.services.reports.publish import post_month
from bot.settings import load_settings
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import (
    Allocation,
    AllocationState,
    AuditMonth,
    AuditType,
    Case,
    CaseType,
    Person,
    PersonRole,
    Role,
    Service,
    Team,
)
from store.records import ActionStatus, AuditAction, AuditGradeEvent, AuditRecord, GradeStage, RecordSource, RecordState

FLOOR = 5.0
FIRST = dt.date(2026, 1, 1)
AT = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
GRADES = ("outstanding", "good", "good", "requires_improvement", "inadequate")


def row(label: str, seconds: float) -> None:
    """One line: the time, the floor and their ratio (floor ÷ time: 1.00 or more is within it)."""
    print(f"{label:<48} {seconds:8.2f} s   floor {FLOOR:.0f} s   ratio {FLOOR / max(seconds, 1e-9):6.2f}")


def populate(sessions: sessionmaker[Session], cases: int, audits: int) -> None:
    """The council and its year of audits, inserted in bulk with explicit ids."""
    months = [add_months(FIRST, k) for k in range(12)]
    with sessions() as s, s.begin():
        s.execute(insert(Service), [{"id": k + 1, "name": f"Service {k + 1}"} for k in range(4)])
        s.execute(insert(Team), [{"id": k + 1, "name": f"Team {k + 1}", "service_id": k % 4 + 1} for k in range(40)])
        s.execute(insert(Person), [{"id": 1, "email": "auditor@council.example", "display_name": "Auditor", "team_id": 1},
                                   {"id": 2, "email": "qa@council.example", "display_name": "QA Coordinator"},
                                   *({"id": 3 + k, "email": f"head{k}@council.example", "display_name": f"Head {k}",
                                      "service_id": k + 1} for k in range(4))])
        s.execute(insert(PersonRole), [{"person_id": 2, "role": Role.QA_COORDINATOR},
                                       *({"person_id": 3 + k, "role": Role.HEAD_OF_SERVICE} for k in range(4))])
        s.execute(insert(Case), [{"id": k + 1, "reference": f"CMS-{k:06d}", "case_type": CaseType.CP, "team_id": k % 40 + 1}
                                 for k in range(cases)])
        s.execute(insert(AuditMonth), [{"id": k + 1, "month": m} for k, m in enumerate(months)])
        allocations, records, events, actions = [], [], [], []
        step = max(cases // audits, 1)
        for n in range(audits):
            k = n % 12
            month, done = months[k], n % 10 != 0
            due = add_months(month, 1) - dt.timedelta(days=1)
            allocations.append({"id": n + 1, "month_id": k + 1, "month_start": month, "case_id": n * step + (n // 12) % step + 1,
                                "auditor_id": 1, "audit_type": AuditType.RE_AUDIT if n % 20 == 0 else AuditType.CONTROL,
                                "due_date": due, "state": AllocationState.COMPLETED if done else AllocationState.ALLOCATED,
                                "created_at": AT, "completed_at": AT if done else None})
            if not done:
                continue
            grade = GRADES[n % len(GRADES)]
            records.append({"id": n + 1, "allocation_id": n + 1, "scheme": "bradford", "scheme_version": 1,
                            "overall_grade": grade,
                            "source": RecordSource.IMPORT, "submitted_at": AT, "state": RecordState.FINALISED,
                            "family_views": {"sought": "yes" if n % 3 else "no"}, "oversight_due": due})
            events.append({"record_id": n + 1, "stage": GradeStage.SUBMITTED, "grade": grade, "at": AT})
            if n % 10 == 1:
                events.append({"record_id": n + 1, "stage": GradeStage.AFTER_REPLY, "grade": "good", "at": AT})
            actions += [{"record_id": n + 1, "text": "Update the plan", "owner_id": 1, "due_date": due, "created_at": AT,
                         "status": (ActionStatus.OPEN, ActionStatus.DONE, ActionStatus.SIGNED_OFF)[(n + j) % 3]}
                        for j in range(2)]
        s.execute(insert(Allocation), allocations)
        s.execute(insert(AuditRecord), records)
        s.execute(insert(AuditGradeEvent), events)
        s.execute(insert(AuditAction), actions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temporary folder)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--audits", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp)}/bench.db")
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        began = time.perf_counter()
        populate(sessions, args.cases, args.audits)
        print(f"{engine.url.get_backend_name()}: {args.cases} cases, {args.audits} audits inserted in "
              f"{time.perf_counter() - began:.1f} s")
        settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
        with sessions() as session:
            began = time.perf_counter()
            report = figures(session, FIRST, add_months(FIRST, 11), settings, as_of=dt.date(2027, 1, 15))
            row("figures over 12 months", time.perf_counter() - began)
            began = time.perf_counter()
            text, table = as_text(report), as_csv(report)
            row("text and CSV from them", time.perf_counter() - began)
            began = time.perf_counter()
            drawn = charts(report) + [c for s in report.services if s.service for c in charts(report, service=s.service)]
            row(f"{len(drawn)} charts (PNG), matplotlib's import included", time.perf_counter() - began)
        with sessions() as session, session.begin():
            calendar = WorkingCalendar.from_settings(settings)
            began = time.perf_counter()
            posted = post_month(session, add_months(FIRST, 11), settings, calendar, now=AT.replace(year=2027, month=1, day=15))
            row(f"the month's posts planned ({posted.planned} outbox rows)", time.perf_counter() - began)
        print(f"completion {report.overall.completion_text} of {report.overall.counts.owed}; "
              f"{len(report.teams)} teams; {len(table.splitlines())} CSV rows; {len(text.splitlines())} text lines")
        engine.dispose()


if __name__ == "__main__":
    main()
