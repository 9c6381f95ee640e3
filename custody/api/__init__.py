"""REST API for the custody record (API.md). Thin: scope, validate, call a service."""
