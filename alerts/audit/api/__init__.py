"""The auditor workspace's API, under ``/api/v1/audit/``; one module a subject."""
