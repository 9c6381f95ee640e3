"""REST API for the custody record (docs/api.md). Thin: scope, validate, call a service."""
