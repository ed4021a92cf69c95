"""After the audit (shared/domain.md step 10; Hull 23-27, App. D, 4.3.4): management oversight,
the SMART actions' done / sign-off / more time, one digest per person per day, and closure."""
