"""The audit trail: events in the per-fonds audit log (service), the middleware and audit routes."""
