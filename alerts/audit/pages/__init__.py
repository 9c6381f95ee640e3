"""Pages of the auditor workspace, under ``/audit/``; one module a subject."""
