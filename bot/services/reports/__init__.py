"""The programme's report (shared/domain.md step 12): figures by month, service and team, for the
QA team's text summary and CSV (and, later, charts and the scheduled posts)."""
