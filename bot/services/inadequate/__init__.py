"""Inadequate follow-up (Hull 25-26): meet, review at four weeks, re-audit within two months, until
the case is no longer Inadequate."""
