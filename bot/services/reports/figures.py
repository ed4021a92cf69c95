"""The report's figures (shared/domain.md step 12; Stockton 2.4-2.9, Surrey §1 and §4, Hull 27-28):
for the allocations of the months ``start`` to ``end``, by month, by service and team, and overall.

Every count is aggregated in SQL, grouped by (month, the case's team); the slices are sums of
those groups. Counts only: never a case reference, a child's or a member of staff's name.

- completion: completed ÷ (allocated − agreed exemptions − cancelled), rounded half up (Hull 30;
  Surrey 1298/1632 = 80%); a paused month is reported as paused, never 0%;
- grades: the original (first) and final (latest) overall grade of every recorded audit, each
  percentage rounded on its own (never forced to sum to 100); audits whose overall grade changed
  after reply, and after moderation (or a Head of Service's answer to it, Bradford §3);
- re-audits, open Inadequate cycles, actions, oversight overdue, moderation done vs target
  (``sample_size`` of the month's finalised audits plus one per Head of Service, as the sample is
  drawn), safeguarding concerns raised in the months and the median minutes to the lead's
  acknowledgement, exemption and extension requests, audit breaks, reflection answers by question
  (``month_summary``) and family views sought.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from bot.services.actions.common import LIVE
from bot.services.allocation.rules import add_months
from bot.services.audits.schemes import current_scheme
from bot.services.meetings.reflection import questions
from bot.services.meetings.summary import month_summary
from bot.services.moderation.sample import FINAL_STATES, SAMPLE_KINDS, heads_of_service, sample_target
from bot.services.reports.model import NO_SERVICE, Counts, Figures, GradeCount, Programme, Report, month_range
from bot.services.reports.rates import percent
from bot.settings import Settings
from store.followup import CycleState, InadequateCycle
from store.models import (
    Allocation,
    AllocationState,
    AuditBreak,
    AuditMonth,
    AuditType,
    BreakState,
    Case,
    ExemptionRequest,
    RequestKind,
    RequestState,
    SafeguardingAlert,
    Service,
    Team,
    UTCDateTime,
)
from store.records import (
    ActionStatus,
    AuditAction,
    AuditGradeEvent,
    AuditModeration,
    AuditRecord,
    GradeStage,
    ModerationState,
    RecordState,
)

_Key = tuple[dt.date, int]  # (month, the case's team id)


def _n(condition: ColumnElement[bool]) -> Any:
    return func.count().filter(condition)


def _local_midnight(day: dt.date, settings: Settings) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=settings.tz).astimezone(dt.UTC)


def _rows(session: Session, query: Any) -> list[Any]:
    return list(session.execute(query).all())


def figures(session: Session, start: dt.date, end: dt.date, settings: Settings, *, as_of: dt.date | None = None) -> Report:
    """The report for the allocations whose month is ``start`` to ``end`` (any day of each), as of ``as_of`` (today)."""
    start, end = start.replace(day=1), end.replace(day=1)
    if end < start:
        raise ValueError("the report's end month is before its start month")
    as_of = as_of or dt.datetime.now(settings.tz).date()
    months = month_range(start, end)
    in_range = Allocation.month_start.between(start, end)
    counts: dict[_Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(query: Any, names: Iterable[str]) -> None:
        for month, team_id, *values in _rows(session, query):
            for name, value in zip(names, values, strict=True):
                counts[(month, team_id)][name] += value or 0

    def grouped(*columns: Any) -> Any:
        return select(Allocation.month_start, Case.team_id, *columns)

    # Allocations: completion, on time and late, overdue, re-audits.
    due_dates = session.scalars(
        select(Allocation.due_date).where(in_range, Allocation.state == AllocationState.COMPLETED).distinct()
    ).all()
    completed = Allocation.state == AllocationState.COMPLETED
    if due_dates:  # late: completed on or after the local midnight that ends the due date
        ends = case(*((Allocation.due_date == d, literal(_local_midnight(d + dt.timedelta(days=1), settings), UTCDateTime()))
                      for d in due_dates))
        late: ColumnElement[bool] = and_(completed, Allocation.completed_at >= ends)
    else:
        late = literal(False)
    reaudit = Allocation.audit_type == AuditType.RE_AUDIT
    live = Allocation.state != AllocationState.CANCELLED
    exempted = Allocation.state == AllocationState.EXEMPTED
    add(grouped(
        _n(live), _n(~live), _n(exempted), _n(completed), _n(late),
        _n(and_(Allocation.state == AllocationState.ALLOCATED, Allocation.due_date < as_of, AuditMonth.paused.is_(False))),
        _n(and_(reaudit, live)), _n(and_(reaudit, exempted)), _n(and_(reaudit, completed)),
    ).join(Case, Case.id == Allocation.case_id).join(AuditMonth, AuditMonth.id == Allocation.month_id)
     .where(in_range).group_by(Allocation.month_start, Case.team_id),
        ("allocated", "cancelled", "exempted", "completed", "late", "overdue", "reaudits_allocated", "reaudits_exempted",
         "reaudits_completed"))

    # Recorded audits: grade changes, family views, oversight.
    def overall_event(*stages: GradeStage) -> Any:
        return exists().where(AuditGradeEvent.record_id == AuditRecord.id, AuditGradeEvent.section_key.is_(None),
                              AuditGradeEvent.stage.in_(stages))

    def records(query: Any) -> Any:
        return (query.join(Allocation, Allocation.id == AuditRecord.allocation_id).join(Case, Case.id == Allocation.case_id)
                .where(in_range))

    add(records(grouped(
        func.count(), _n(AuditRecord.state == RecordState.REPLY_WINDOW), _n(overall_event(GradeStage.AFTER_REPLY)),
        _n(overall_event(GradeStage.AFTER_MODERATION, GradeStage.AFTER_HEAD_OF_SERVICE)),
        _n(AuditRecord.family_views["sought"].as_string() == "yes"),
        _n(and_(AuditRecord.oversight_recorded_at.is_(None), AuditRecord.closed_at.is_(None), AuditRecord.oversight_due < as_of)),
        _n(and_(AuditRecord.state.in_(LIVE), AuditRecord.finalised_at.is_not(None), AuditRecord.closed_at.is_(None))),
    ).select_from(AuditRecord)).group_by(Allocation.month_start, Case.team_id),
        ("graded", "in_reply_window", "changed_after_reply", "changed_after_moderation", "family_views_sought",
         "oversight_overdue", "awaiting_confirmation"))

    # Original (first) and final (latest) overall grades, counted together.
    ends_of = (select(AuditGradeEvent.record_id, func.min(AuditGradeEvent.id).label("first"),
                      func.max(AuditGradeEvent.id).label("last"))
               .where(AuditGradeEvent.section_key.is_(None)).group_by(AuditGradeEvent.record_id).subquery())
    first, last = aliased(AuditGradeEvent), aliased(AuditGradeEvent)
    original: dict[_Key, Counter[str]] = defaultdict(Counter)
    final: dict[_Key, Counter[str]] = defaultdict(Counter)
    for month, team_id, was, now, n in _rows(session, records(
        grouped(first.grade, last.grade, func.count()).select_from(AuditRecord)
        .join(ends_of, ends_of.c.record_id == AuditRecord.id)
        .join(first, first.id == ends_of.c.first).join(last, last.id == ends_of.c.last)
    ).group_by(Allocation.month_start, Case.team_id, first.grade, last.grade)):
        original[(month, team_id)][was] += n
        final[(month, team_id)][now] += n

    # Actions, Inadequate cycles, moderations: each through its audit record.
    add(records(grouped(
        _n(AuditAction.status == ActionStatus.OPEN),
        _n(and_(AuditAction.status == ActionStatus.OPEN, AuditAction.due_date < as_of)),
        _n(AuditAction.status == ActionStatus.DONE), _n(AuditAction.status == ActionStatus.SIGNED_OFF),
    ).select_from(AuditAction).join(AuditRecord, AuditRecord.id == AuditAction.record_id))
        .group_by(Allocation.month_start, Case.team_id),
        ("actions_open", "actions_overdue", "actions_done", "actions_signed_off"))
    add(records(grouped(_n(InadequateCycle.state.not_in((CycleState.CLOSED, CycleState.CONTINUED))))
                .select_from(InadequateCycle).join(AuditRecord, AuditRecord.id == InadequateCycle.record_id))
        .group_by(Allocation.month_start, Case.team_id), ("open_inadequate_cycles",))
    decided = AuditModeration.state == ModerationState.DECIDED
    add(records(grouped(_n(decided), _n(and_(decided, AuditModeration.kind.in_(SAMPLE_KINDS))),
                        _n(and_(decided, AuditModeration.agrees.is_(True))))
                .select_from(AuditModeration).join(AuditRecord, AuditRecord.id == AuditModeration.record_id))
        .group_by(Allocation.month_start, Case.team_id), ("moderated", "moderated_sample", "moderation_agreed"))

    # Exemption and extension requests on the months' allocations.
    def asked(kind: RequestKind) -> list[Any]:
        of_kind = ExemptionRequest.kind == kind
        return [_n(of_kind), _n(and_(of_kind, ExemptionRequest.state == RequestState.APPROVED)),
                _n(and_(of_kind, ExemptionRequest.state == RequestState.DECLINED))]

    add(grouped(*asked(RequestKind.EXEMPTION), *asked(RequestKind.EXTENSION)).select_from(ExemptionRequest)
        .join(Allocation, Allocation.id == ExemptionRequest.allocation_id).join(Case, Case.id == Allocation.case_id)
        .where(in_range).group_by(Allocation.month_start, Case.team_id),
        ("exemptions_asked", "exemptions_agreed", "exemptions_declined", "extensions_asked", "extensions_agreed",
         "extensions_declined"))

    # Safeguarding concerns raised in the months (local time), by the case's team.
    minutes: dict[_Key, list[float]] = defaultdict(list)
    for raised_at, acknowledged_at, team_id in _rows(session, (
        select(SafeguardingAlert.raised_at, SafeguardingAlert.lead_acknowledged_at, Case.team_id)
        .join(Case, Case.id == SafeguardingAlert.case_id)
        .where(SafeguardingAlert.raised_at >= _local_midnight(start, settings),
               SafeguardingAlert.raised_at < _local_midnight(add_months(end, 1), settings))
    )):
        key = (raised_at.astimezone(settings.tz).date().replace(day=1), team_id)
        counts[key]["concerns_raised"] += 1
        if acknowledged_at is not None:
            counts[key]["concerns_acknowledged"] += 1
            minutes[key].append((acknowledged_at - raised_at).total_seconds() / 60)

    paused = set(session.scalars(
        select(AuditMonth.month).where(AuditMonth.month.between(start, end), AuditMonth.paused.is_(True))))
    programme = _programme(session, months, settings)
    teams = {team_id: (team, service or NO_SERVICE) for team_id, team, service in session.execute(
        select(Team.id, Team.name, Service.name).outerjoin(Service, Service.id == Team.service_id))}
    scheme = current_scheme(settings.grading_scheme)
    labels = [(g.value, g.label) for g in scheme.overall_scale]
    frozen = {key: Counts(**values) for key, values in counts.items()}
    keys = set(frozen) | set(final)

    def build(
        chosen: Iterable[_Key], *, month: dt.date | None = None, service: str | None = None, team: str | None = None,
        is_paused: bool, extra: Programme | None = None,
    ) -> Figures:
        chosen = sorted(chosen)
        total = sum((frozen.get(k, Counts()) for k in chosen), Counts())
        waits = [m for k in chosen for m in minutes.get(k, [])]
        return Figures(
            month=month, service=service, team=team, paused=is_paused, counts=total,
            final_grades=_grades(labels, sum((final[k] for k in chosen), Counter())),
            original_grades=_grades(labels, sum((original[k] for k in chosen), Counter())),
            minutes_to_acknowledge=statistics.median(waits) if waits else None, programme=extra,
        )

    all_paused = all(m in paused for m in months)
    by_month: dict[dt.date, list[_Key]] = defaultdict(list)
    by_service: dict[str, list[_Key]] = defaultdict(list)
    by_team: dict[int, list[_Key]] = defaultdict(list)
    for key in keys:
        by_month[key[0]].append(key)
        by_service[teams[key[1]][1]].append(key)
        by_team[key[1]].append(key)

    def place(key: _Key) -> tuple[str, str]:
        return teams[key[1]][1], teams[key[1]][0]

    return Report(
        start=start, end=end, as_of=as_of, scheme=scheme.id,
        overall=build(keys, is_paused=all_paused, extra=sum(programme.values(), Programme())),
        months=tuple(build(by_month[m], month=m, is_paused=m in paused, extra=programme[m]) for m in months),
        services=tuple(build(chosen, service=name, is_paused=all_paused) for name, chosen in sorted(by_service.items())),
        teams=tuple(build(by_team[t], service=teams[t][1], team=teams[t][0], is_paused=all_paused)
                    for t in sorted(by_team, key=lambda t: teams[t][::-1])),
        month_teams=tuple(build([k], month=k[0], service=place(k)[0], team=place(k)[1], is_paused=k[0] in paused)
                          for k in sorted(keys, key=lambda k: (k[0], *place(k)))) if len(months) > 1 else (),
    )


def _grades(labels: list[tuple[str, str]], counted: Counter[str]) -> tuple[GradeCount, ...]:
    """Each grade of the scale (then any grade not on it, by its value) with its own rounded percentage."""
    whole = sum(counted.values())
    values = [v for v, _ in labels] + sorted(v for v in counted if v not in dict(labels))
    names = dict(labels)
    return tuple(GradeCount(v, names.get(v, v), counted.get(v, 0), percent(counted.get(v, 0), whole)) for v in values)


def _programme(session: Session, months: list[dt.date], settings: Settings) -> dict[dt.date, Programme]:
    """Each month's moderation target, audit breaks and reflection sheets."""
    finalised = dict(_rows(session, (
        select(Allocation.month_start, func.count()).select_from(AuditRecord)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .where(Allocation.month_start.in_(months), AuditRecord.state.in_(FINAL_STATES)).group_by(Allocation.month_start)
    )))
    heads = len(heads_of_service(session))
    breaks: dict[dt.date, dict[str, int]] = defaultdict(dict)
    for month, asked, agreed, declined in _rows(session, (
        select(AuditBreak.month, func.count(), _n(AuditBreak.state == BreakState.APPROVED),
               _n(AuditBreak.state == BreakState.REFUSED)).where(AuditBreak.month.in_(months)).group_by(AuditBreak.month)
    )):
        breaks[month] = {"breaks_asked": asked, "breaks_agreed": agreed, "breaks_declined": declined}
    texts = {q.key: q.text for q in questions()}
    result = {}
    for month in months:
        done = finalised.get(month, 0)
        meetings = month_summary(session, month)
        result[month] = Programme(
            finalised=done, moderation_target=sample_target(done, settings.sample_moderation_percent, heads),
            **breaks.get(month, {}), reflection_meetings_held=meetings.held, reflection_sheets=meetings.sheets,
            reflection_answers=tuple((k, texts.get(k, k), n) for k, n in meetings.answered.items()),
        )
    return result
