"""Moderation (shared/domain.md step 8; Hull 22, 4.32; Bradford §3): who may moderate, the QA
team's choice of moderator for a challenge, the moderator's decision, the Bradford Head of
Service step, the month's sample, chasers, and the calibration figures."""
