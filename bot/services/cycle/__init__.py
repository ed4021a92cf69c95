"""The monthly cycle after allocation: the programme's months (theme, pause, figures) and chasing
reminders and overdue notices."""
