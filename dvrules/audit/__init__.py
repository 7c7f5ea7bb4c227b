"""The co-ordinator's audit pack: kept assessments, the board report (HTML, PDF, Markdown), the
action plan in Camden's format, and year-on-year comparison. Assessment flows only."""
