"""Exemptions and extensions: asked, routed to the approver or their delegate, decided, reallocated and chased."""

from store.models import RequestKind, RequestState

__all__ = ["RequestKind", "RequestState"]
