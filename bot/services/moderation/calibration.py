"""Calibration: per auditor, how many of their audits were challenged or moderated and which way
the grade moved; per moderator, how often they agreed. For the QA team only (the operator's
command line); never a channel.

An audit belongs to the period of its allocation's month. "Moved" compares the overall grade
just before its first moderation with the overall grade after its moderation and any Head of
Service step, in grades of the scheme's overall scale (a lower rank is a lower grade).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.services.audits.schemes import scheme_of
from bot.services.authz import Decision, Permission, check
from bot.settings import Settings
from store.models import Allocation, Person, Role
from store.records import AuditModeration, AuditRecord, GradeStage, ModerationState

AFTER = (GradeStage.AFTER_MODERATION, GradeStage.AFTER_HEAD_OF_SERVICE)


@dataclass
class AuditorLine:
    """One auditor's audits in the period."""

    name: str
    person_id: int = 0
    audits: int = 0
    challenged: int = 0
    moderated: int = 0
    #: grades moved (negative: lowered) -> how many audits
    moved: Counter[int] = field(default_factory=Counter)


@dataclass
class ModeratorLine:
    """One moderator's decided moderations in the period."""

    name: str
    decided: int = 0
    agreed: int = 0


def _movement(record: AuditRecord, settings: Settings) -> int | None:
    """Grades the overall grade moved through moderation (and a Head of Service), or None if unknown."""
    overall = [g for g in record.grades if g.section_key is None]
    first = next((n for n, g in enumerate(overall) if g.stage in AFTER), None)
    if first is None:
        return 0
    before = overall[first - 1].grade if first > 0 else record.overall_grade
    after = [g for g in overall if g.stage in AFTER][-1].grade
    scheme = scheme_of(record, settings)
    low, high = scheme.overall_grade(before), scheme.overall_grade(after)
    return None if low is None or high is None else high.rank - low.rank


def calibration(
    session: Session, start: dt.date, end: dt.date, settings: Settings
) -> tuple[list[AuditorLine], list[ModeratorLine]]:
    """Audits of allocations whose month is in [start, end): per auditor and per moderator, by name."""
    records = session.scalars(
        select(AuditRecord).join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .where(Allocation.month_start >= start, Allocation.month_start < end)
        .options(selectinload(AuditRecord.grades), selectinload(AuditRecord.challenges))
        .order_by(AuditRecord.id)
    ).all()
    ids = [r.id for r in records]
    moderations = session.scalars(
        select(AuditModeration).where(AuditModeration.record_id.in_(ids), AuditModeration.state == ModerationState.DECIDED)
    ).all() if ids else []
    moderated = {m.record_id for m in moderations}
    auditors: dict[int, AuditorLine] = {}
    for record in records:
        auditor = record.allocation.auditor
        line = auditors.setdefault(auditor.id, AuditorLine(auditor.display_name, auditor.id))
        line.audits += 1
        line.challenged += bool(record.challenges)
        if record.id in moderated:
            line.moderated += 1
            moved = _movement(record, settings)
            if moved is not None:
                line.moved[moved] += 1
    moderators: dict[int, ModeratorLine] = defaultdict(lambda: ModeratorLine(""))
    for m in moderations:
        if m.moderator is None:
            continue
        line_m = moderators[m.moderator_id or 0]
        line_m.name = m.moderator.display_name
        line_m.decided += 1
        line_m.agreed += bool(m.agrees)
    return (sorted(auditors.values(), key=lambda a: a.name), sorted(moderators.values(), key=lambda m: m.name))


def _grades(n: int) -> str:
    return f"{n} grade" if n == 1 else f"{n} grades"


def describe_auditor(line: AuditorLine) -> str:
    """e.g. "Sam Patel: 3 of 9 moderated; 2 lowered one grade; 1 unchanged; 1 challenged"."""
    parts = [f"{line.moderated} of {line.audits} moderated"]
    for moved in sorted(line.moved):
        n = line.moved[moved]
        if moved < 0:
            parts.append(f"{n} lowered {_grades(-moved).replace('1 grade', 'one grade')}")
        elif moved > 0:
            parts.append(f"{n} raised {_grades(moved).replace('1 grade', 'one grade')}")
        else:
            parts.append(f"{n} unchanged")
    parts.append(f"{line.challenged} of {line.audits} challenged")
    return f"{line.name}: " + "; ".join(parts)


def describe_moderator(line: ModeratorLine) -> str:
    """e.g. "Dee Deputy: agreed with the grade in 3 of 4 moderations"."""
    return f"{line.name}: agreed in {line.agreed} of {line.decided} moderation(s)"


def calibration_for(
    session: Session, person: Person | None, start: dt.date, end: dt.date, settings: Settings, *, now: dt.datetime,
    actor_ref: str,
) -> tuple[Decision, list[AuditorLine], list[ModeratorLine], bool]:
    """``/audit calibration``: the QA team sees every auditor and moderator (the last item True); an
    auditor sees only their own line; anyone else is refused (and the refusal logged)."""
    decision = check(session, person, Permission.VIEW_CALIBRATION, now=now, actor_ref=actor_ref, subject_type="calibration")
    if not decision.allowed or person is None:
        return decision, [], [], False
    auditors, moderators = calibration(session, start, end, settings)
    if person.has_role(Role.QA_COORDINATOR):
        return decision, auditors, moderators, True
    return decision, [a for a in auditors if a.person_id == person.id], [], False
