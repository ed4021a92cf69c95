"""The right to reply: the findings' Agree / Comment / Challenge, challenges with the auditor first, and finalising."""

from store.records import ReplyKind

__all__ = ["ReplyKind"]
