"""What is waiting for whom (``bot.services.home``): each kind of work reaches exactly the person
who must act on it, and the number of queries does not grow with the number of items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bot.services.home import home_summary, waiting_for
from store.models import Allocation, Delegation, ExemptionRequest, Person, RequestKind, RequestState
from store.records import (
    ActionStatus,
    AuditAction,
    AuditChallenge,
    AuditModeration,
    ChallengeState,
    ModerationKind,
    ModerationState,
    RecordState,
)
from tests.moderation_fixtures import stored_record
from tests.simulation import Simulation
from tests.test_scenario_exemptions import AMY, DEE, D, allocate_december

HANA = "hana.head@council.example"


def person(session: Session, email: str) -> Person:
    return session.scalars(select(Person).where(Person.email == email)).one()


def kinds(session: Session, who: Person, now: dt.datetime) -> list[tuple[str, int]]:
    return sorted((i.kind, i.id) for i in waiting_for(session, who, now=now, today=now.date()))


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.get_bind()

    def note(conn, cursor, statement, parameters, context, executemany) -> None:  # SQLAlchemy's hook
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_each_kind_of_work_waits_for_exactly_the_person_who_must_act(sim: Simulation) -> None:
    allocations = allocate_december(sim)
    now = sim.at(D(2026, 12, 10), 10)
    with sim.sessions() as session, session.begin():
        first, second = (session.get_one(Allocation, a.id) for a in allocations[:2])
        worker, tm = first.case.allocated_worker, first.case.team_manager
        assert worker is not None and tm is not None
        auditor, hana, amy, dee = first.auditor, person(session, HANA), person(session, AMY), person(session, DEE)

        record = stored_record(session, first, now=now)
        to_answer = AuditChallenge(record_id=record.id, challenger_id=worker.id, target="overall", reason="Too low.",
                                   state=ChallengeState.WITH_AUDITOR, raised_at=now, due_on=now.date())
        answered = AuditChallenge(record_id=record.id, challenger_id=worker.id, target="action", reason="Not needed.",
                                  state=ChallengeState.ANSWERED, raised_at=now, due_on=now.date(), auditor_decision="keep",
                                  auditor_reason="Needed.", auditor_at=now)
        settled = AuditChallenge(record_id=record.id, challenger_id=worker.id, target="overall", reason="Old.",
                                 state=ChallengeState.SETTLED, raised_at=now, due_on=now.date())
        session.add_all([to_answer, answered, settled])
        session.flush()
        moderation = AuditModeration(record_id=record.id, kind=ModerationKind.SAMPLE, state=ModerationState.WITH_MODERATOR,
                                     moderator_id=hana.id, created_at=now, chosen_at=now)
        session.add(moderation)

        final = stored_record(session, second, now=now)
        final.state, final.finalised_at, final.oversight_due = RecordState.FINALISED, now, D(2026, 12, 24)
        more_time = AuditAction(record_id=final.id, text="Update the plan.", owner_id=worker.id, due_date=D(2027, 1, 15),
                                status=ActionStatus.OPEN, created_at=now, requested_due=D(2027, 2, 1),
                                extension_reason="Leave.", extension_state="pending")
        session.add(more_time)

        session.add(Delegation(principal_id=amy.id, delegate_id=dee.id, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 31),
                               created_at=now))
        request = ExemptionRequest(allocation_id=first.id, auditor_id=first.auditor_id, kind=RequestKind.EXEMPTION, reason="Ill.",
                                   due_date=first.due_date, state=RequestState.PENDING, approver_id=amy.id, routed_to_id=amy.id,
                                   created_at=now)
        session.add(request)
        session.flush()
        ids = (to_answer.id, answered.id, moderation.id, final.id, more_time.id, request.id)
        second_tm = second.case.team_manager
        assert second_tm is not None
        people = {"auditor": auditor.id, "worker": worker.id, "hana": hana.id, "amy": amy.id, "dee": dee.id,
                  "second_tm": second_tm.id, "tm": tm.id}

    with sim.sessions() as session:
        get = {k: session.get_one(Person, v) for k, v in people.items()}
        assert ("challenge_answer", ids[0]) in kinds(session, get["auditor"], now)
        assert ("challenge_decide", ids[1]) in kinds(session, get["worker"], now)
        assert not [k for k in kinds(session, get["worker"], now) if k[0] == "challenge_answer"]
        assert ("moderation", ids[2]) in kinds(session, get["hana"], now)
        assert {("oversight", ids[3]), ("more_time", ids[4])} <= set(kinds(session, get["second_tm"], now))
        assert ("exemption_exemption", ids[5]) in kinds(session, get["amy"], now)
        assert ("exemption_exemption", ids[5]) in kinds(session, get["dee"], now), "the approver's delegate today"
        assert ("exemption_exemption", ids[5]) not in kinds(session, get["auditor"], now), "never their own request"
        assert [i["id"] for i in home_summary(session, get["worker"], now=now, today=now.date()).actions] == [ids[4]]
        assert ids[1] not in [i for k, i in kinds(session, get["hana"], now) if k.startswith("challenge")]


def test_the_number_of_queries_does_not_grow_with_the_items(sim: Simulation) -> None:
    allocations = allocate_december(sim)
    now = sim.at(D(2026, 12, 10), 10)

    def add(n: int) -> None:
        with sim.sessions() as session, session.begin():
            amy = person(session, AMY)
            for k in range(n):
                a = allocations[k % len(allocations)]
                session.add(ExemptionRequest(allocation_id=a.id, auditor_id=a.auditor_id, kind=RequestKind.EXTENSION, reason="x",
                                             due_date=a.due_date, new_due_date=D(2027, 1, 29), state=RequestState.PENDING,
                                             approver_id=amy.id, routed_to_id=amy.id, created_at=now))

    def queries() -> tuple[int, int]:
        with sim.sessions() as session:
            amy = person(session, AMY)
            with counted(session) as statements:
                summary = home_summary(session, amy, now=now, today=now.date())
            return len(summary.waiting), len(statements)

    add(1)
    one, few = queries()
    add(60)
    many, still = queries()
    assert (one, many) == (1, 61) and few == still
