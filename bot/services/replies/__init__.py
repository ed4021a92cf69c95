"""The right to reply: the findings' Agree / Comment / Challenge, challenges with the auditor first, and finalising."""
