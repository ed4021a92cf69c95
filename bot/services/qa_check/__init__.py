"""The QA check of a finalised audit (shared/domain.md step 9; Hull 19-20): accepted, or returned for amendment."""
