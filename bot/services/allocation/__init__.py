"""Allocating a month's cases: the request, the plan and its rules, committing it, and the scheduled allocation."""
