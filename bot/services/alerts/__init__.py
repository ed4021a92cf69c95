"""Immediate safeguarding concerns: raising, acknowledging, corrective action, escalation and the alert report."""
