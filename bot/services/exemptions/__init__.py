"""Exemptions and extensions: asked, routed to the approver or their delegate, decided, reallocated and chased."""
