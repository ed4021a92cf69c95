"""Audit breaks: booking one (Hull A.2-3), listing and cancelling your own."""
