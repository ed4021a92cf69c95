"""The audit itself, once allocated: completing it (and, next, the graded record)."""
