"""What an auditor fills in to record an audit, read from the modal's steps (or an import row)
and checked field by field. The words of every option live in the view templates; here are the
values (enums), the limits, and the rules.

The form has three steps, each a modal (``views.push``): the grades, the findings (flags, who
was seen, family views), and the SMART actions. Each step is checked on its own, and the whole
again when the audit is submitted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.services.audits.schemes import Scheme, check_grades


class Step(StrEnum):
    """The modal's steps, in order."""

    GRADES = "grades"
    FINDINGS = "findings"
    ACTIONS = "actions"


class RecordFlag(StrEnum):
    """What the auditor flags about the audit."""

    IMMEDIATE_FOLLOW_UP = "immediate_follow_up"
    GOOD_PRACTICE_EXAMPLE = "good_practice_example"
    ORGANISATIONAL_LEARNING = "organisational_learning"


class SeenRole(StrEnum):
    """Who the auditor saw or spoke to, by role only (never a name)."""

    CHILD = "child"
    PARENT = "parent"
    CARER = "carer"
    WORKER = "worker"
    TEAM_MANAGER = "team_manager"
    IRO = "iro"
    OTHER_PROFESSIONAL = "other_professional"


class FamilySought(StrEnum):
    """Were the family's views sought (Hull A.13, 5.1)?"""

    YES = "yes"
    NO = "no"
    NOT_APPROPRIATE = "not_appropriate"


class FamilyBy(StrEnum):
    """Whose views were given, by role."""

    CHILD = "child"
    PARENT = "parent"
    CARER = "carer"
    OTHER_FAMILY = "other_family"


class FamilyView(StrEnum):
    """What the family thought of the help they had."""

    POSITIVE = "positive"
    MIXED = "mixed"
    NEGATIVE = "negative"


class Field(StrEnum):
    """Block ids of the record form (field errors are keyed by these); a section's is ``section:<key>``."""

    OVERALL = "overall"
    RATIONALE = "rationale"
    GOOD_PRACTICE = "good_practice"
    ELEMENTS = "elements"
    REASON = "reason"
    FLAGS = "flags"
    SEEN = "seen"
    FAMILY_SOUGHT = "family_sought"
    FAMILY_BY = "family_by"
    FAMILY_VIEW = "family_view"
    CHILD_FEEDBACK = "child_feedback"
    NO_ACTIONS = "no_actions"
    #: Why the audit is recorded with no reflection meeting held (asked only then; Hull A.8).
    NO_MEETING = "no_meeting"


#: How many actions one record takes in chat (each a row of three fields in the last step).
ACTION_SLOTS = 5
#: The longest text each field takes (the modal enforces the same ``max_length``).
MAX_LENGTH = {Field.RATIONALE: 1000, Field.GOOD_PRACTICE: 1000, Field.ELEMENTS: 500, Field.REASON: 500,
              Field.NO_ACTIONS: 500, Field.NO_MEETING: 300, "action": 300}
YES_NO = ("yes", "no")


def section_field(key: str) -> str:
    """The block id of a section's grade."""
    return f"section:{key}"


def action_field(n: int, part: str) -> str:
    """The block id of action ``n``'s ``part`` (``what``, ``owner`` or ``due``), 1-based."""
    return f"action_{n}_{part}"


def step_fields(step: Step, scheme: Scheme, *, slots: int = ACTION_SLOTS) -> tuple[str, ...]:
    """The block ids a step's modal has (an import may give more than ``ACTION_SLOTS`` actions)."""
    if step == Step.GRADES:
        return (*(section_field(s.key) for s in scheme.sections), Field.OVERALL, Field.GOOD_PRACTICE, Field.ELEMENTS,
                Field.REASON, Field.RATIONALE, Field.NO_MEETING)
    if step == Step.FINDINGS:
        return (Field.FLAGS, Field.SEEN, Field.FAMILY_SOUGHT, Field.FAMILY_BY, Field.FAMILY_VIEW, Field.CHILD_FEEDBACK)
    return (*(action_field(n, p) for n in range(1, slots + 1) for p in ("what", "owner", "due")), Field.NO_ACTIONS)


def text_fields(slots: int = ACTION_SLOTS) -> tuple[str, ...]:
    """The text fields, each passed through the privacy guardrail before it is stored."""
    return (Field.RATIONALE, Field.GOOD_PRACTICE, Field.ELEMENTS, Field.REASON, Field.NO_ACTIONS, Field.NO_MEETING,
            *(action_field(n, "what") for n in range(1, slots + 1)))


#: The chat form's text fields.
TEXT_FIELDS = text_fields()


@dataclass(frozen=True)
class ActionLine:
    """One SMART action as given: what, whose (a person id), by when."""

    text: str
    owner_id: int
    due_date: dt.date


@dataclass
class RecordForm:
    """Everything the auditor gives, parsed (not yet checked)."""

    sections: dict[str, str | None]
    overall: str | None
    rationale: str = ""
    good_practice: str = ""
    elements: str = ""
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    family: dict[str, Any] = field(default_factory=dict)
    actions: list[ActionLine] = field(default_factory=list)
    no_actions_reason: str = ""
    #: Why no reflection meeting was held (only when the form asked).
    no_meeting_reason: str = ""


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    return value.strip() if isinstance(value, str) else ""


def _list(values: Mapping[str, Any], key: str) -> list[str]:
    value = values.get(key)
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value] if isinstance(value, list) else []


def _one(values: Mapping[str, Any], key: str, allowed: type[StrEnum] | tuple[str, ...]) -> str | None:
    value = _text(values, key)
    return value if value in {str(v) for v in allowed} else None


def check_step(
    step: Step, values: Mapping[str, Any], scheme: Scheme, *, today: dt.date, owners: set[int],
    guard: Callable[[str], str | None], slots: int = ACTION_SLOTS, ask_no_meeting: bool = False,
) -> tuple[dict[str, str], RecordForm]:
    """Check one step's values (block id → value, or list of values for checkboxes): field
    errors by block id, and the form as far as this step fills it. ``today``: the day it is
    submitted; ``slots``: how many actions it may have; ``ask_no_meeting``: no reflection meeting
    has been held, so the first step needs the reason (otherwise that field is ignored)."""
    errors: dict[str, str] = {}
    form = RecordForm(sections={s.key: _text(values, section_field(s.key)) or None for s in scheme.sections},
                      overall=_text(values, Field.OVERALL) or None)
    fields = step_fields(step, scheme, slots=slots)
    for key in text_fields(slots):
        if key not in fields:
            continue
        text = _text(values, key)
        limit = MAX_LENGTH.get(key, MAX_LENGTH["action"])
        if len(text) > limit:
            errors[key] = f"Keep this to {limit} characters (it has {len(text)})."
        elif text and (problem := guard(text)) is not None:
            errors[key] = problem
    if step == Step.GRADES:
        form.rationale, form.good_practice = _text(values, Field.RATIONALE), _text(values, Field.GOOD_PRACTICE)
        form.elements, form.reason = _text(values, Field.ELEMENTS), _text(values, Field.REASON)
        grades = check_grades(scheme, form.sections, form.overall, good_practice=form.good_practice,
                              elements=form.elements, reason=form.reason)
        errors = {**grades.errors, **errors}
        if not form.rationale:
            errors.setdefault(Field.RATIONALE, "Say briefly why you gave this grade.")
        if ask_no_meeting:
            form.no_meeting_reason = _text(values, Field.NO_MEETING)
            if not form.no_meeting_reason:
                errors.setdefault(Field.NO_MEETING, "Say why you are recording the audit without a reflection meeting.")
        else:
            errors.pop(Field.NO_MEETING, None)
    elif step == Step.FINDINGS:
        _check_findings(values, form, errors)
    else:
        _check_actions(values, form, errors, today=today, owners=owners, slots=slots)
    return errors, form


def _check_findings(values: Mapping[str, Any], form: RecordForm, errors: dict[str, str]) -> None:
    form.flags = [f for f in _list(values, Field.FLAGS) if f in {v.value for v in RecordFlag}]
    form.seen = [r for r in _list(values, Field.SEEN) if r in {v.value for v in SeenRole}]
    sought = _one(values, Field.FAMILY_SOUGHT, FamilySought)
    by = [b for b in _list(values, Field.FAMILY_BY) if b in {v.value for v in FamilyBy}]
    view = _one(values, Field.FAMILY_VIEW, FamilyView)
    feedback = _one(values, Field.CHILD_FEEDBACK, YES_NO)
    if not form.seen:
        errors[Field.SEEN] = "Tick who you saw or spoke to (roles only)."
    if sought is None:
        errors[Field.FAMILY_SOUGHT] = "Say whether the family's views were sought."
    elif sought == FamilySought.YES:
        if not by:
            errors[Field.FAMILY_BY] = "Tick whose views were given."
        if view is None:
            errors[Field.FAMILY_VIEW] = "Say what the family's views were."
    if feedback is None:
        errors[Field.CHILD_FEEDBACK] = "Say whether the child will be given feedback on the findings."
    form.family = {"sought": sought, "by_role": by if sought == FamilySought.YES else [],
                   "view": view if sought == FamilySought.YES else None,
                   "child_feedback": feedback == "yes" if feedback else None}


def _check_actions(
    values: Mapping[str, Any], form: RecordForm, errors: dict[str, str], *, today: dt.date, owners: set[int], slots: int
) -> None:
    for n in range(1, slots + 1):
        what_key, owner_key, due_key = (action_field(n, p) for p in ("what", "owner", "due"))
        what, owner, due = _text(values, what_key), _text(values, owner_key), _text(values, due_key)
        if not (what or owner or due):
            continue
        owner_id = int(owner) if owner.isascii() and owner.isdigit() and len(owner) <= 10 else None
        due_date = _date(due)
        if not what:
            errors.setdefault(what_key, f"Action {n}: say what needs to be done.")
        if not owner:
            errors[owner_key] = f"Action {n}: choose who will do it."
        elif owner_id not in owners:
            errors[owner_key] = f"Action {n}: choose someone from the list."
        if due_date is None:
            errors[due_key] = f"Action {n}: choose the date it is due."
        elif due_date <= today:
            errors[due_key] = f"Action {n}: the due date must be after today."
        if what_key not in errors and owner_key not in errors and due_key not in errors:
            assert owner_id is not None and due_date is not None
            form.actions.append(ActionLine(what, owner_id, due_date))
    form.no_actions_reason = _text(values, Field.NO_ACTIONS)
    partly = any(k.startswith("action_") for k in errors)
    if not form.actions and not partly and not form.no_actions_reason:
        errors[action_field(1, "what")] = "Add at least one action, or say below why no action is needed."
        errors.setdefault(Field.NO_ACTIONS, "If no action is needed, say why.")
    elif (form.actions or partly) and form.no_actions_reason:
        errors.setdefault(Field.NO_ACTIONS, "You have listed actions: leave this empty, or remove the actions.")


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def check_record(
    values: Mapping[str, Any], scheme: Scheme, *, today: dt.date, owners: set[int], guard: Callable[[str], str | None],
    slots: int = ACTION_SLOTS, ask_no_meeting: bool = False,
) -> tuple[dict[str, str], RecordForm]:
    """Check every step's values together: all field errors, and the whole form (an import asks
    no reason for a missing meeting)."""
    errors: dict[str, str] = {}
    forms = []
    for step in Step:
        step_errors, form = check_step(step, values, scheme, today=today, owners=owners, guard=guard, slots=slots,
                                       ask_no_meeting=ask_no_meeting)
        errors.update(step_errors)
        forms.append(form)
    grades, findings, actions = forms
    grades.flags, grades.seen, grades.family = findings.flags, findings.seen, findings.family
    grades.actions, grades.no_actions_reason = actions.actions, actions.no_actions_reason
    return errors, grades


def step_of(key: str, scheme: Scheme) -> Step:
    """The step whose modal has the field ``key``."""
    return next((s for s in Step if key in step_fields(s, scheme)), Step.GRADES)
