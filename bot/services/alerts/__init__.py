"""Immediate safeguarding concerns: raising, acknowledging, corrective action, escalation and the alert report."""

from store.models import AlertUrgency

__all__ = ["AlertUrgency"]
