"""The calendar invite for a reflection meeting: an RFC 5545 file built with ``icalendar``.

One UID for the meeting's life; SEQUENCE goes up on every move and on cancelling, so a calendar
updates or removes the event it already has instead of adding another (RFC 5546 3.2.2, 3.2.5).
Times are written in Europe/London with the zone's definition included (VTIMEZONE), so the
event is right in BST and GMT whatever the reader's calendar assumes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//auditbot//Case file audit reflection meetings//EN"


@dataclass(frozen=True)
class Attendee:
    """Someone invited: their email, name, and whether they chose the booked time."""

    email: str
    name: str
    accepted: bool = False


@dataclass(frozen=True)
class InviteFacts:
    """What the invite says (the case reference only: never a child's details)."""

    uid: str
    sequence: int
    reference: str
    team: str
    audit_type: str
    starts_at: dt.datetime
    minutes: int
    place: str
    organiser: Attendee
    attendees: tuple[Attendee, ...]
    stamp: dt.datetime
    cancelled: bool = False


def _address(person: Attendee, *, role: str | None = None) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    if role is not None:
        address.params["ROLE"] = vText(role)
        address.params["PARTSTAT"] = vText("ACCEPTED" if person.accepted else "NEEDS-ACTION")
        address.params["RSVP"] = vText("FALSE")
    return address


def build_invite(facts: InviteFacts, tz: ZoneInfo) -> str:
    """The ``.ics`` text: METHOD:REQUEST for a booking or a move, METHOD:CANCEL for a cancellation."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if facts.cancelled else "REQUEST")
    event = Event()
    event.add("uid", facts.uid)
    event.add("sequence", facts.sequence)
    event.add("dtstamp", facts.stamp.astimezone(dt.UTC))
    start = facts.starts_at.astimezone(tz)
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=facts.minutes))
    event.add("summary", f"Case file audit reflection meeting: {facts.reference}")
    event.add("description", f"Reflection meeting for the audit of case {facts.reference} ({facts.team}, {facts.audit_type}).")
    event.add("location", facts.place)
    event.add("status", "CANCELLED" if facts.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(facts.organiser))
    for person in facts.attendees:
        event.add("attendee", _address(person, role="REQ-PARTICIPANT"), encode=False)
    calendar.add_component(event)
    # the zone's changes for a year either side of the meeting: enough, and a short file
    year = dt.timedelta(days=366)
    calendar.add_missing_timezones(first_date=start.date() - year, last_date=start.date() + year)
    ical: bytes = calendar.to_ical()
    return ical.decode("utf-8")
