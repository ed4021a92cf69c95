"""Reflection meetings: arranged in chat with calendar invites, chased, escalated, and the reflection sheet after."""
