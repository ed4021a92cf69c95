"""The QA assurance sample (Hull App. E): each month QA checks that signed-off actions were really done."""
