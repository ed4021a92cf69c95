"""Every template, action, block and callback id the bot uses, as enum members."""

from __future__ import annotations

from enum import StrEnum


class Template(StrEnum):
    """Message and view templates in ``messages/`` (file name without ``.json.j2``)."""

    ALLOCATION_AUDITOR = "allocation_auditor"
    ALLOCATION_WORKER = "allocation_worker"
    ALLOCATION_TEAM_MANAGER = "allocation_team_manager"
    NO_SLACK_ACCOUNT = "no_slack_account"
    HELP = "help"
    MY_AUDITS = "my_audits"
    ERROR = "error"
    REFUSAL = "refusal"
    ALLOCATION_PREVIEW = "allocation_preview"
    REMINDER_AUDITOR = "reminder_auditor"
    REMINDER_MANAGER = "reminder_manager"
    OVERDUE_AUDITOR = "overdue_auditor"
    OVERDUE_MANAGER = "overdue_manager"
    OVERDUE_QA = "overdue_qa"
    AUDIT_COMPLETED = "audit_completed"
    #: The auditor's summary of an audit they recorded, and the findings for the worker, TM and IRO.
    AUDIT_RECORDED = "audit_recorded"
    AUDIT_FINDINGS = "audit_findings"
    #: The audit is final: its grades as they stand, to the auditor, team manager and worker.
    AUDIT_FINALISED = "audit_finalised"
    #: An Inadequate follow-up's re-audit that nobody may do this month: to the QA team, once a month.
    REAUDIT_NO_AUDITOR = "reaudit_no_auditor"
    #: ``/audit calibration``: how grades moved in challenges and moderation (QA, or an auditor's own).
    CALIBRATION = "calibration"
    #: Right to reply: a comment, to the auditor; a reminder before the window closes.
    REPLY_COMMENTED = "reply_commented"
    REPLY_REMINDER = "reply_reminder"
    #: A challenge, to the auditor (Change / Keep); the answer, to the challenger (Accept / Moderation).
    CHALLENGE_AUDITOR = "challenge_auditor"
    CHALLENGE_ANSWERED = "challenge_answered"
    #: Someone has not answered a challenge in time: reminded, then the QA team told.
    CHALLENGE_CHASER = "challenge_chaser"
    VIEW_REPLY_COMMENT = "view_reply_comment"
    VIEW_CHALLENGE = "view_challenge"
    VIEW_CHALLENGE_ANSWER = "view_challenge_answer"
    #: The record form's three steps (one template, ``step`` picks the fields).
    VIEW_RECORD = "view_record"
    BREAK_DECISION = "break_decision"
    BREAKS_LIST = "breaks_list"
    BREAK_NOTICE = "break_notice"
    MY_BREAKS = "my_breaks"
    GUARDRAIL_ERROR = "guardrail_error"
    EXEMPTION_ASK = "exemption_ask"
    EXEMPTION_DECIDED = "exemption_decided"
    EXEMPTION_SUBMITTED = "exemption_submitted"
    EXEMPTION_OUTCOME = "exemption_outcome"
    EXEMPTION_QA = "exemption_qa"
    NO_APPROVER = "no_approver"
    DELEGATION_RESULT = "delegation_result"
    DELEGATION_NOTICE = "delegation_notice"
    VIEW_EXEMPTION_REQUEST = "view_exemption_request"
    VIEW_DECLINE = "view_decline"
    ALERT_RECIPIENT = "alert_recipient"
    ALERT_STATUS = "alert_status"
    ALERT_CHANNEL = "alert_channel"
    ALERT_MISSING = "alert_missing"
    #: A late click or modal submission: the work was already done, by whom and when.
    ALREADY_DONE = "already_done"
    VIEW_ALERT = "view_alert"
    VIEW_CORRECTIVE = "view_corrective"
    #: An unexpected or unreadable request, or the database out of reach: ``kind`` picks the words.
    FAILURE = "failure"
    VIEW_FAILURE = "view_failure"
    #: Load shedding: the bot could not take a request in time, nothing was changed (``bot/web.py``).
    BUSY = "busy"
    #: A modal's trigger expired before ``views.open`` could use it (``bot/delivery/followups.py``).
    FORM_EXPIRED = "form_expired"
    #: A click answered and never acted on (the bot stopped in between): nothing was changed (``bot/delivery/clicks.py``).
    CLICK_NOT_DONE = "click_not_done"
    #: Moderation (Hull 22, 4.32; Bradford §3): the QA team's choice of moderator, the moderator's
    #: request and form, each step's outcome, the Head of Service's step, chasers, the month's sample.
    MODERATION_QA = "moderation_qa"
    MODERATION_REQUEST = "moderation_request"
    VIEW_MODERATION = "view_moderation"
    MODERATION_OUTCOME = "moderation_outcome"
    MODERATION_CHASE = "moderation_chase"
    MODERATION_SAMPLE = "moderation_sample"
    #: A late click on a moderation message: decided already, by whom and when.
    MODERATION_LATE = "moderation_late"
    #: The QA check (Hull 19-20): the audit to each QA coordinator with Accept / Return, edited once decided.
    QA_CHECK = "qa_check"
    #: The QA check's outcome to the auditor: accepted, or returned (with Amend), reminded, amended.
    QA_OUTCOME = "qa_outcome"
    #: The QA team is told a returned audit was not amended by its due day.
    QA_AMEND_OVERDUE = "qa_amend_overdue"
    VIEW_QA_RETURN = "view_qa_return"
    #: The QA assurance sample (Hull App. E): the month's audits to each QA coordinator with
    #: Verified / Not evidenced…, edited as each is decided; not evidenced, to the Group Manager for QA.
    ASSURANCE_SAMPLE = "assurance_sample"
    ASSURANCE_NOT_EVIDENCED = "assurance_not_evidenced"
    VIEW_ASSURANCE_NOTE = "view_assurance_note"
    #: Management oversight (Hull App. D, 24): due, reminded, overdue (the TM's manager copied); edited once recorded.
    OVERSIGHT = "oversight"
    #: One message per person per day listing their actions, sign-offs and more-time requests.
    ACTIONS_DIGEST = "actions_digest"
    #: The IRO's read-only summary of a finalised audit's actions (Hull 4.3.4).
    ACTIONS_SUMMARY = "actions_summary"
    #: Oversight recorded and every action signed off: the audit is closed (Hull 23).
    AUDIT_CLOSED = "audit_closed"
    #: What a click on an action's button did (or, late, what had been done already).
    ACTION_ANSWER = "action_answer"
    #: Done… (a note), Not yet… (a reason), Ask for more time… (a date and a reason).
    VIEW_ACTION = "view_action"
    #: Inadequate follow-up (Hull 25-26): meet, review at four weeks (Meeting held, Review held,
    #: Head of Service meeting held), edited in place once recorded; the cycle's end.
    INADEQUATE_FOLLOW_UP = "inadequate_follow_up"
    INADEQUATE_CLOSED = "inadequate_closed"
    #: Reflection meetings (Hull A.8-A.13, Bradford §2): the times proposed to an invitee (edited once
    #: answered, booked or replaced), the booking to everyone (Move… / Cancel; edited when moved or
    #: cancelled), the calendar invite file, notices to the proposer, auditor or worker (none of the
    #: times work, unanswered, nudge, reminder, resolving), the group manager's escalation.
    MEETING_PROPOSAL = "meeting_proposal"
    MEETING_CONFIRMED = "meeting_confirmed"
    #: A calendar invite (.ics) for a reflection meeting, uploaded to the DM (files_upload_v2).
    MEETING_INVITE = "meeting_invite"
    MEETING_NOTICE = "meeting_notice"
    MEETING_ESCALATION = "meeting_escalation"
    #: Propose two or three times (or move a booked meeting to one); None of these work… (another time).
    VIEW_MEETING = "view_meeting"
    VIEW_MEETING_DECLINE = "view_meeting_decline"
    #: After the reflection meeting: the sheet's questions to the worker and the auditors (Answer the
    #: reflection questions), edited once answered; the answers, to the auditors; the sheet's modal.
    REFLECTION_SHEET = "reflection_sheet"
    REFLECTION_ANSWERED = "reflection_answered"
    VIEW_REFLECTION = "view_reflection"
    #: The monthly report: the summary (the programme's, or one service's for its Head of Service),
    #: then each chart (PNG, its alt text the comment) and the CSV, uploaded as files.
    REPORT_SUMMARY = "report_summary"
    REPORT_FILE = "report_file"
    #: The App Home tab (a ``home`` view): waiting for you (each item with its DM's buttons), your audits, your actions.
    VIEW_HOME = "view_home"
    #: The QA team's report of a month so far, in a modal (from the Home tab's "This month's report").
    VIEW_REPORT = "view_report"
    #: Next month's allocation preview, in a modal (from the Home tab's "Preview next month's allocation").
    VIEW_ALLOCATION_PREVIEW = "view_allocation_preview"

    @property
    def filename(self) -> str:
        """The template file in ``messages/``."""
        return f"{self.value}.json.j2"

    @property
    def is_view(self) -> bool:
        """True for modal and App Home views (different Block Kit limits)."""
        return self.value.startswith("view_")


class ActionId(StrEnum):
    """``action_id`` of interactive elements; the handler for each is registered by its area."""

    #: On messages sent before audits were recorded in chat (``/audit complete`` does the same).
    MARK_COMPLETE = "audit_mark_complete"
    RECORD_AUDIT = "audit_record"
    REPLY_AGREE = "reply_agree"
    REPLY_COMMENT = "reply_comment"
    REPLY_CHALLENGE = "reply_challenge"
    CHALLENGE_CHANGE = "challenge_change"
    CHALLENGE_KEEP = "challenge_keep"
    CHALLENGE_ACCEPT = "challenge_accept"
    CHALLENGE_MODERATE = "challenge_moderate"
    REQUEST_BREAK = "audit_request_break"
    CANCEL_BREAK = "break_cancel"
    REQUEST_EXEMPTION = "audit_request_exemption"
    APPROVE_EXEMPTION = "exemption_approve"
    DECLINE_EXEMPTION = "exemption_decline"
    CHOOSE_AUDITOR = "exemption_choose_auditor"
    RAISE_CONCERN = "alert_raise"
    ACKNOWLEDGE_ALERT = "alert_acknowledge"
    CORRECTIVE_ACTION = "alert_corrective_action"
    CHOOSE_MODERATOR = "moderation_choose"
    RECORD_MODERATION = "moderation_record"
    ACCEPT_MODERATION = "moderation_accept"
    TAKE_TO_HEAD_OF_SERVICE = "moderation_take_further"
    RECORD_HEAD_OF_SERVICE = "moderation_record_hos"
    SEND_SAMPLE = "moderation_send_sample"
    ACCEPT_AUDIT = "qa_check_accept"
    RETURN_AUDIT = "qa_check_return"
    AMEND_AUDIT = "qa_check_amend"
    ASSURANCE_VERIFIED = "assurance_verified"
    ASSURANCE_NOT_EVIDENCED = "assurance_not_evidenced"
    OVERSIGHT_RECORDED = "oversight_recorded"
    SUPERVISION_DISCUSSED = "oversight_supervision"
    ACTION_DONE = "action_done"
    ACTION_MORE_TIME = "action_more_time"
    ACTION_SIGN_OFF = "action_sign_off"
    ACTION_NOT_YET = "action_not_yet"
    AGREE_MORE_TIME = "action_agree_more_time"
    DECLINE_MORE_TIME = "action_decline_more_time"
    MEETING_HELD = "inadequate_meeting_held"
    REVIEW_HELD = "inadequate_review_held"
    HEAD_OF_SERVICE_MEETING_HELD = "inadequate_hos_meeting_held"
    #: Arrange the reflection meeting (the auditor) / Suggest a meeting time (the worker) / Propose other times.
    ARRANGE_MEETING = "meeting_arrange"
    #: An invitee chooses one of the proposed times (the value is the proposal).
    MEETING_TIME = "meeting_time"
    #: None of these work… (the value is the round's first proposal).
    MEETING_NONE = "meeting_none"
    #: The proposer books the time the worker (or auditor) suggested instead.
    BOOK_SUGGESTION = "meeting_book_suggestion"
    MOVE_MEETING = "meeting_move"
    CANCEL_MEETING = "meeting_cancel"
    #: Two unanswered attempts: the auditor escalates to the group manager, who says they will resolve it.
    ESCALATE_MEETING = "meeting_escalate"
    RESOLVE_MEETING = "meeting_resolve"
    #: Answer the reflection questions (the value: the allocation's id).
    ANSWER_REFLECTION = "reflection_answer"
    #: The QA team's Home: next month's allocation preview, and this month's report, each in a modal.
    PREVIEW_ALLOCATION = "reports_preview_allocation"
    MONTH_REPORT = "reports_month_report"


class FormBlock(StrEnum):
    """``block_id`` of modal inputs (field errors are keyed by these)."""

    KIND = "kind"
    NEW_DATE = "new_date"
    REASON = "reason"
    COMMENT = "comment"
    CASE = "case"
    URGENCY = "urgency"
    NOTE = "note"
    TARGET = "target"
    PROPOSED = "proposed"
    AGREES = "agrees"
    GRADE = "grade"
    #: Where a reflection meeting is: a room or a call link.
    PLACE = "place"


class CallbackId(StrEnum):
    """``callback_id`` of modals."""

    EXEMPTION_REQUEST = "exemption_request"
    DECLINE = "exemption_decline"
    ALERT = "alert_raise"
    CORRECTIVE = "alert_corrective_action"
    #: The record form; its step is in the view's ``private_metadata``.
    RECORD = "audit_record"
    REPLY_COMMENT = "reply_comment"
    CHALLENGE = "reply_challenge"
    CHALLENGE_ANSWER = "challenge_answer"
    #: The moderator's form, and the Head of Service's (Bradford §3).
    MODERATION = "moderation_record"
    HEAD_OF_SERVICE_DECISION = "moderation_hos"
    #: Returning an audit for amendment (the reason).
    QA_RETURN = "qa_return"
    #: The record form in amend mode; the QA check and the step are in ``private_metadata``.
    AMEND = "audit_amend"
    #: Not evidenced… (the note); the assurance check is in ``private_metadata``.
    ASSURANCE_NOTE = "assurance_note"
    #: Done…, Not yet… and Ask for more time… on an action; which one is in ``private_metadata``.
    ACTION = "audit_action"
    #: Propose times for a reflection meeting, or move a booked one (``mode`` in ``private_metadata``).
    MEETING = "meeting_propose"
    #: None of these work… on a meeting's proposed times (another time, a note).
    MEETING_DECLINE = "meeting_decline"
    #: The reflection sheet; the allocation is in ``private_metadata``.
    REFLECTION = "reflection_sheet"


class BlockId(StrEnum):
    """``block_id`` of blocks that carry interactive elements."""

    AUDIT_ACTIONS = "audit_actions"
    CASE_ACTIONS = "case_actions"
    ALERT_ACTIONS = "alert_actions"
    DECISION_ACTIONS = "decision_actions"
    CHOOSE_AUDITOR = "choose_auditor"
    REPLY_ACTIONS = "reply_actions"
    CHALLENGE_ACTIONS = "challenge_actions"
    CHOOSE_MODERATOR = "choose_moderator"
    MODERATION_ACTIONS = "moderation_actions"
    QA_CHECK_ACTIONS = "qa_check_actions"
    ASSURANCE_ACTIONS = "assurance_actions"
    OVERSIGHT_ACTIONS = "oversight_actions"
    #: an action's buttons in a digest (``action_<id>`` would not be an enum member: one id, ``block_id`` must be unique)
    ACTION_BUTTONS = "action_buttons"
    INADEQUATE_ACTIONS = "inadequate_actions"
    MEETING_ACTIONS = "meeting_actions"
    #: one proposed time's button (``meeting_time:<proposal id>``: a block per time, as action ids repeat)
    MEETING_TIME = "meeting_time"
    REFLECTION_ACTIONS = "reflection_actions"
    #: The App Home: one waiting item's buttons (``home_item:<kind>:<id>``), one of your actions' (``home_action:<id>``).
    HOME_ITEM = "home_item"
    HOME_ACTION = "home_action"
    #: The QA team's Home: the month at a glance's buttons (the preview, the report).
    HOME_GLANCE = "home_glance_actions"


class Command(StrEnum):
    """Slash commands (declared in app_manifest.yml)."""

    AUDIT = "/audit"
