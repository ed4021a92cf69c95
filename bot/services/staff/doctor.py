"""Before a month starts: who the programme cannot reach or route (``auditbot doctor``).

Read-only. Lists auditors whose exemption requests would reach nobody, auditors with no active
line manager (their reminders and overdue notices copy nobody), and people Slack did not know
when the bot last tried to message them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from bot.services.exemptions.approvers import find_approver
from bot.settings import Settings
from store.models import Person, Role


@dataclass
class Findings:
    """What needs a person's attention, each as (name, email)."""

    no_approver: list[tuple[str, str]] = field(default_factory=list)
    no_line_manager: list[tuple[str, str]] = field(default_factory=list)
    no_slack_account: list[tuple[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing was found."""
        return not (self.no_approver or self.no_line_manager or self.no_slack_account)


def examine(session: Session, settings: Settings) -> Findings:
    """Look over every active member of staff."""
    people = session.scalars(
        select(Person)
        .options(joinedload(Person.team), joinedload(Person.line_manager))
        .where(Person.active.is_(True))
        .order_by(Person.display_name, Person.email)
    ).unique()
    found = Findings()
    for person in people:
        who = (person.display_name, person.email)
        auditor = person.has_role(Role.AUDITOR)
        if auditor and find_approver(session, person, settings) is None:
            found.no_approver.append(who)
        if auditor and (person.line_manager is None or not person.line_manager.active):
            found.no_line_manager.append(who)
        if person.slack_missing_since is not None:
            found.no_slack_account.append(who)
    return found
